// Errors at module boundaries: a code plus a message a user can act on.
//
//   Result<Image> r = decode_image(bytes);
//   if (!r) { std::cerr << r.error().message << "\n"; return 1; }
//   use(r.value());
//
// Inside a module, throw glimpse::Error; at the public boundary, return a Result.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace glimpse {

enum class ErrorCode {
  kInvalidArgument,  // a flag, an option or a request field is wrong
  kNotFound,         // a file or a name does not exist
  kTooLarge,         // over a configured limit
  kUnsupported,      // a valid input in a format or version we do not read
  kCorrupt,          // the input claims to be something but is broken (truncated, lying header)
  kIo,               // the operating system refused a read or a write
  kInternal,         // a bug: should not happen
};

const char* to_string(ErrorCode code);

// The exception used inside modules; carries the same code as the boundary Result.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

struct ErrorInfo {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

// Either a value or an ErrorInfo. Cheap to move; check with `ok()` or `operator bool`.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(ErrorInfo error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  static Result failure(ErrorCode code, std::string message) {
    return Result(ErrorInfo{code, std::move(message)});
  }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T& value() & {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  const ErrorInfo& error() const { return std::get<1>(v_); }

  // For callers inside a module that prefer exceptions.
  T take() && {
    check();
    return std::get<0>(std::move(v_));
  }

 private:
  void check() const {
    if (!ok())
      throw Error(std::get<1>(v_).code, std::get<1>(v_).message);
  }
  std::variant<T, ErrorInfo> v_;
};

// Result<void> equivalent.
class Status {
 public:
  Status() = default;
  Status(ErrorInfo error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  static Status failure(ErrorCode code, std::string message) {
    return Status(ErrorInfo{code, std::move(message)});
  }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const ErrorInfo& error() const { return error_; }
  void throw_if_error() const {
    if (!ok_)
      throw Error(error_.code, error_.message);
  }

 private:
  ErrorInfo error_;
  bool ok_ = true;
};

// Runs `f` and converts glimpse::Error, c10::Error, cv::Exception and std::exception into an
// ErrorInfo. Used at module boundaries so that no library exception escapes unexplained.
ErrorInfo error_from_current_exception();

template <class F>
auto catch_as_result(F&& f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (...) {
    return error_from_current_exception();
  }
}

template <class F>
Status catch_as_status(F&& f) {
  try {
    f();
    return {};
  } catch (...) {
    return error_from_current_exception();
  }
}

}  // namespace glimpse

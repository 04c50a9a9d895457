#include "glimpse/core/error.h"

#include <c10/util/Exception.h>

#include <new>

namespace glimpse {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kTooLarge:
      return "too large";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kIo:
      return "i/o error";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

namespace {
// c10::Error messages carry a C++ backtrace after the first line; users need only the first.
std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}
}  // namespace

ErrorInfo error_from_current_exception() {
  try {
    throw;
  } catch (const Error& e) {
    return {e.code(), e.what()};
  } catch (const c10::Error& e) {
    return {ErrorCode::kInternal,
            "tensor library error: " + first_line(e.what_without_backtrace())};
  } catch (const std::bad_alloc&) {
    return {ErrorCode::kTooLarge, "out of memory"};
  } catch (const std::exception& e) {
    return {ErrorCode::kInternal, first_line(e.what())};
  } catch (...) {
    return {ErrorCode::kInternal, "unknown error"};
  }
}

}  // namespace glimpse

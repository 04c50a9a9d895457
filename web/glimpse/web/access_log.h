// One line a request, appended to a file or written to stdout: when, who, what, the status, the
// bytes sent and how long it took. Everything the client chose passes core::printable, so a
// request cannot forge or split a line. Thread-safe.
//
//   2026-12-03T09:41:07Z 127.0.0.1 "POST /api/v1/caption HTTP/1.1" 200 18311 143.2ms
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

#include "glimpse/core/error.h"

namespace glimpse::web {

struct AccessEntry {
  std::string remote;  // the client's address
  std::string method;  // "-" when the request could not be read
  std::string target;
  unsigned version = 11;
  int status = 0;
  std::uint64_t bytes = 0;  // the response body
  double ms = 0;            // from the request's first byte to the response written
};

std::string format_access_line(const AccessEntry& e, std::time_t when);

class AccessLog {
 public:
  AccessLog() = default;
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  Status open(const std::string& where);  // "-": stdout; "": off; else a file, appended to
  bool enabled() const { return file_ != nullptr; }
  void write(const AccessEntry& e);

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  bool owned_ = false;
};

}  // namespace glimpse::web

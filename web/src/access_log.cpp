#include "glimpse/web/access_log.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "glimpse/core/utf8.h"

namespace glimpse::web {

std::string format_access_line(const AccessEntry& e, std::time_t when) {
  std::tm utc{};
  gmtime_r(&when, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return fmt::format("{} {} \"{} {} HTTP/{}.{}\" {} {} {:.1f}ms\n", stamp, e.remote,
                     core::printable(e.method, 20), core::printable(e.target, 300), e.version / 10,
                     e.version % 10, e.status, e.bytes, e.ms);
}

AccessLog::~AccessLog() {
  if (owned_)
    std::fclose(file_);
}

Status AccessLog::open(const std::string& where) {
  if (where.empty())
    return {};
  if (where == "-") {
    file_ = stdout;
    return {};
  }
  file_ = std::fopen(where.c_str(), "ae");
  if (file_ == nullptr)
    return Status::failure(ErrorCode::kIo,
                           "cannot open the access log '" + where + "': " + std::strerror(errno));
  owned_ = true;
  return {};
}

void AccessLog::write(const AccessEntry& e) {
  if (file_ == nullptr)
    return;
  const std::string line = format_access_line(e, std::time(nullptr));
  std::lock_guard<std::mutex> lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace glimpse::web

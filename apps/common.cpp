#include "common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace glimpse::app {

namespace {
std::string& command_line_storage() {
  static std::string k;
  return k;
}
}  // namespace

const std::string& command_line() {
  return command_line_storage();
}

void set_command_line(int argc, char** argv) {
  std::string s = "glimpse";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool plain = !a.empty() && a.find_first_of(" \t\"'$\\") == std::string::npos;
    s += " " + (plain ? a : "'" + a + "'");
  }
  command_line_storage() = s;
}

std::string shared_dir() {
  if (const char* env = std::getenv("GLIMPSE_SHARED_DIR"); env != nullptr && *env != '\0')
    return env;
  return GLIMPSE_SHARED_DIR;
}

void add_image_limit_flags(CLI::App& cmd, CommonOptions& common) {
  cmd.add_option("--max-image-bytes", common.image_limits.max_bytes,
                 "Refuse image files larger than this many bytes")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--max-pixels", common.image_limits.max_pixels,
                 "Refuse images with more pixels than this (read from the header before decoding)")
      ->check(CLI::PositiveNumber);
}

int report_error(const std::string& message) {
  std::string line = message;
  for (auto& c : line)
    if (c == '\n' || c == '\r')
      c = ' ';
  std::cerr << "glimpse: " << line << "\n";
  return 1;
}

QuietStderr::QuietStderr() {
  std::fflush(stderr);
  std::cerr.flush();
  saved_ = ::dup(2);
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved_ >= 0 && null >= 0)
    ::dup2(null, 2);
  if (null >= 0)
    ::close(null);
}

QuietStderr::~QuietStderr() {
  std::fflush(stderr);
  std::cerr.flush();
  if (saved_ >= 0) {
    ::dup2(saved_, 2);
    ::close(saved_);
  }
}

}  // namespace glimpse::app

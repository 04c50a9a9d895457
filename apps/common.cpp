#include "common.h"

#include <algorithm>
#include <filesystem>

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

std::string models_dir() {
  if (const char* env = std::getenv("GLIMPSE_MODELS_DIR"); env != nullptr && *env != '\0')
    return env;
  return GLIMPSE_MODELS_DIR;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(models_dir(), ec))
    if (e.path().extension() == ".safetensors")
      names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> resolve_model(const std::string& name_or_path) {
  if (name_or_path.empty())
    return ErrorInfo{ErrorCode::kInvalidArgument, "--model is empty: give a model name or a file"};
  const bool is_path =
      name_or_path.find('/') != std::string::npos || name_or_path.find('.') != std::string::npos;
  if (is_path)
    return name_or_path;  // CaptionModel::load says what is wrong with the file, if anything
  const std::string path = models_dir() + "/" + name_or_path + ".safetensors";
  if (std::filesystem::exists(path))
    return path;
  std::string known;
  for (const auto& n : model_names())
    known += (known.empty() ? "" : ", ") + n;
  return ErrorInfo{ErrorCode::kNotFound,
                   "no model named '" + name_or_path + "' in " + models_dir() +
                       (known.empty() ? " (it holds none)" : " (it holds: " + known + ")") +
                       "; give a name from there or the path of a .safetensors file"};
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

Result<cv::Mat> load_image_quietly(const std::string& path, const vision::ImageLimits& limits) {
  QuietStderr quiet;
  return vision::load_image(path, limits);
}

}  // namespace glimpse::app

// `glimpse serve` as a child process, for what an in-process server cannot show: a descriptor
// limit of its own (setrlimit in the child) and its own resident memory (/proc/PID/status).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_paths.h"
#include "test_util.h"

namespace glimpse::testing {

class ServeProcess {
 public:
  // Starts `glimpse serve --port 0 args...`, with at most `max_files` descriptors when > 0, and
  // waits (up to a minute) for the line that gives its port.
  explicit ServeProcess(const std::vector<std::string>& args, int max_files = 0) {
    int out[2];
    if (::pipe(out) != 0)
      throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      const int err = ::open(err_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(err, 2);
      ::close(out[0]);
      if (max_files > 0) {
        rlimit r{static_cast<rlim_t>(max_files), static_cast<rlim_t>(max_files)};
        ::setrlimit(RLIMIT_NOFILE, &r);
      }
      std::vector<std::string> all = {kGlimpseBinary, "--threads", "2", "serve", "--port", "0"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kGlimpseBinary, argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    read_port(out[0]);
  }
  ~ServeProcess() {
    ::kill(pid_, SIGTERM);
    bool ended = false;
    for (int i = 0; i < 1000 && !ended; ++i) {
      ended = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!ended)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!ended) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0)
      ::close(out_fd_);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  unsigned short port() const { return port_; }
  // A field of /proc/PID/status in MB: "VmRSS" (now) or "VmHWM" (the peak).
  double memory_mb(const std::string& field) const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind(field + ":", 0) == 0)
        return std::stod(line.substr(field.size() + 1)) / 1024.0;  // the kB figure
    return -1;
  }
  // Sets VmHWM back to the current resident size (Linux 4.0 and later).
  void reset_peak() const { std::ofstream("/proc/" + std::to_string(pid_) + "/clear_refs") << "5"; }
  int open_descriptors() const {
    int n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd"))
      ++n;
    return n;
  }
  std::string stderr_text() const { return read_bytes(err_path()); }

 private:
  std::string err_path() const { return dir_.file("stderr"); }

  void read_port(int fd) {
    std::string text;
    char buf[256];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (text.find("/ (") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      const auto n = ::read(fd, buf, sizeof buf);
      if (n <= 0)
        break;
      text.append(buf, static_cast<size_t>(n));
    }
    out_fd_ = fd;  // kept open: a write to a closed pipe would kill the server with SIGPIPE
    const auto at = text.find("127.0.0.1:");
    if (at == std::string::npos)
      throw std::runtime_error("glimpse serve did not start: " + text + stderr_text());
    port_ = static_cast<unsigned short>(std::stoi(text.substr(at + 10)));
  }

  TempDir dir_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  unsigned short port_ = 0;
};

}  // namespace glimpse::testing

// Helpers shared by the test suites.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_paths.h"

namespace glimpse::testing {

// A fresh folder under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "glimpse-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string test_data(const std::string& rel) {
  return std::string(kTestDataDir) + "/" + rel;
}
inline std::string shared_data(const std::string& rel) {
  const char* env = std::getenv("GLIMPSE_SHARED_DIR");
  return std::string(env != nullptr && *env != '\0' ? env : kSharedDir) + "/" + rel;
}

// Peak resident memory of this process so far, in MB.
inline double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace glimpse::testing

#include <sys/wait.h>

#include <sstream>
#include <vector>

namespace glimpse::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s)
    q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `program args...` through /bin/sh with stdin from /dev/null; captures both streams.
inline CommandResult run_command(const std::string& program, const std::vector<std::string>& args) {
  TempDir dir;
  std::string cmd = shell_quote(program);
  for (const auto& a : args)
    cmd += " " + shell_quote(a);
  cmd += " </dev/null >" + dir.file("out") + " 2>" + dir.file("err");
  int status = std::system(cmd.c_str());
  CommandResult r;
  // /bin/sh reports a child killed by signal N as exit status 128 + N.
  if (WIFEXITED(status) && WEXITSTATUS(status) < 128) {
    r.exit_code = WEXITSTATUS(status);
  } else {
    r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status) - 128;
  }
  r.out = read_bytes(dir.file("out"));
  r.err = read_bytes(dir.file("err"));
  return r;
}

// Runs the glimpse binary under test.
inline CommandResult run_glimpse(const std::vector<std::string>& args) {
  return run_command(kGlimpseBinary, args);
}

inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

}  // namespace glimpse::testing

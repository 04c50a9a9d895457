#include "glimpse/core/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "glimpse/core/error.h"

namespace glimpse::core {

namespace {
std::string errno_text() {
  return std::strerror(errno);
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  if (slash == 0)
    return "/";
  return path.substr(0, slash);
}
}  // namespace

std::string read_file(const std::string& path, std::uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot open '" + path + "': " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string msg = errno_text();
    ::close(fd);
    throw Error(ErrorCode::kIo, "cannot stat '" + path + "': " + msg);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "' is a folder, not a file");
  }
  if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    throw Error(ErrorCode::kTooLarge, "'" + path + "' is " + std::to_string(st.st_size) +
                                          " bytes, over the limit of " + std::to_string(max_bytes) +
                                          " bytes");
  }
  std::string out;
  if (S_ISREG(st.st_mode))
    out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      std::string msg = errno_text();
      ::close(fd);
      throw Error(ErrorCode::kIo, "cannot read '" + path + "': " + msg);
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {  // pipes and special files have no size up front
      ::close(fd);
      throw Error(ErrorCode::kTooLarge,
                  "'" + path + "' is over the limit of " + std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::random_device rd;
  std::string tmp = path + ".tmp" + std::to_string(rd() % 1000000);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error(ErrorCode::kIo, "cannot write '" + path + "': " + errno_text());
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      std::string msg = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(ErrorCode::kIo, "cannot write '" + path + "': " + msg);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string msg = errno_text();
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot write '" + path + "': " + msg);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string msg = errno_text();
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, "cannot write '" + path + "' (renaming its temporary file '" + tmp +
                                    "' failed): " + msg);
  }
  int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace glimpse::core

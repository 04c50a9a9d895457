#include "glimpse/data/feature_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace glimpse::data {

namespace {

using nlohmann::json;
constexpr char kMagic[8] = {'G', 'L', 'F', 'C', 'A', 'C', 'H', 'E'};
constexpr std::uint64_t kDataOffset = 64;

void write_all(int fd, const void* p, size_t n, const std::string& path) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, b, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      throw Error(ErrorCode::kIo, "cannot write '" + path + "': " + std::strerror(errno));
    }
    b += w;
    n -= static_cast<size_t>(w);
  }
}

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kCorrupt,
              "feature cache '" + path + "': " + what + "; make it again with the same command");
}

}  // namespace

FeatureCacheWriter::FeatureCacheWriter(std::string path, FeatureCacheInfo info)
    : path_(std::move(path)), temp_(path_ + ".partial"), info_(std::move(info)) {}

FeatureCacheWriter::~FeatureCacheWriter() {
  if (fd_ >= 0)
    ::close(fd_);
  if (!finished_) {
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
  }
}

Status FeatureCacheWriter::add(const std::string& key, const torch::Tensor& features) {
  return catch_as_status([&] {
    if (finished_)
      throw Error(ErrorCode::kInvalidArgument, "the feature cache is already finished");
    const int64_t cells = info_.grid_h * info_.grid_w;
    if (cells <= 0 || info_.channels <= 0)
      throw Error(ErrorCode::kInvalidArgument, "a feature cache needs a grid and channels");
    auto f = features.squeeze(0);
    if (f.dim() != 2 || f.size(0) != cells || f.size(1) != info_.channels)
      throw Error(ErrorCode::kInvalidArgument,
                  "features of '" + key + "' are " + c10::str(features.sizes()) + ", not [" +
                      std::to_string(cells) + ", " + std::to_string(info_.channels) + "]");
    if (!seen_.emplace(key, keys_.size()).second)
      throw Error(ErrorCode::kInvalidArgument, "'" + key + "' is added twice");
    if (fd_ < 0) {
      fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd_ < 0)
        throw Error(ErrorCode::kIo, "cannot create '" + temp_ + "': " + std::strerror(errno));
      const std::vector<char> zeros(kDataOffset, 0);
      write_all(fd_, zeros.data(), zeros.size(), temp_);
    }
    const auto half = f.to(torch::kCPU).to(torch::kHalf).contiguous();
    write_all(fd_, half.data_ptr(), static_cast<size_t>(half.numel()) * 2, temp_);
    keys_.push_back(key);
  });
}

Status FeatureCacheWriter::finish() {
  return catch_as_status([&] {
    if (keys_.empty())
      throw Error(ErrorCode::kInvalidArgument, "the feature cache has no images");
    const json trailer = {{"format", 1},
                          {"backbone", info_.backbone},
                          {"grid_h", info_.grid_h},
                          {"grid_w", info_.grid_w},
                          {"channels", info_.channels},
                          {"mirrored", info_.mirrored},
                          {"keys", keys_}};
    const std::string text = trailer.dump();
    const std::uint64_t offset =
        kDataOffset + static_cast<std::uint64_t>(keys_.size()) *
                          static_cast<std::uint64_t>(info_.grid_h * info_.grid_w * info_.channels) *
                          2;
    write_all(fd_, text.data(), text.size(), temp_);
    std::uint8_t pre[24];
    std::memcpy(pre, kMagic, 8);
    const std::uint64_t length = text.size();
    for (int i = 0; i < 8; ++i) {
      pre[8 + i] = static_cast<std::uint8_t>(offset >> (8 * i));
      pre[16 + i] = static_cast<std::uint8_t>(length >> (8 * i));
    }
    if (::pwrite(fd_, pre, sizeof pre, 0) != static_cast<ssize_t>(sizeof pre) || ::fsync(fd_) != 0)
      throw Error(ErrorCode::kIo, "cannot write '" + temp_ + "': " + std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    std::filesystem::rename(temp_, path_, ec);
    if (ec)
      throw Error(ErrorCode::kIo,
                  "cannot rename '" + temp_ + "' to '" + path_ + "': " + ec.message());
    finished_ = true;
  });
}

Result<std::shared_ptr<FeatureCache>> FeatureCache::open(const std::string& path) {
  return catch_as_result([&] {
    std::shared_ptr<FeatureCache> c(new FeatureCache);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw Error(ErrorCode::kNotFound,
                  "cannot open feature cache '" + path + "': " + std::strerror(errno));
    struct stat st {};
    ::fstat(fd, &st);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < kDataOffset) {
      ::close(fd);
      corrupt(path, "it is " + std::to_string(size) + " bytes, shorter than its preamble");
    }
    c->map_ = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (c->map_ == MAP_FAILED) {
      c->map_ = nullptr;
      throw Error(ErrorCode::kIo, "cannot map '" + path + "': " + std::strerror(errno));
    }
    c->map_bytes_ = size;
    const auto* b = static_cast<const std::uint8_t*>(c->map_);
    if (std::memcmp(b, kMagic, 8) != 0)
      corrupt(path, "it does not start with GLFCACHE: not a glimpse feature cache");
    std::uint64_t offset = 0, length = 0;
    for (int i = 7; i >= 0; --i) {
      offset = (offset << 8) | b[8 + i];
      length = (length << 8) | b[16 + i];
    }
    if (offset < kDataOffset || offset > size || length > size - offset)
      corrupt(path, "its trailer lies outside the file (truncated?)");
    json t;
    try {
      t = json::parse(reinterpret_cast<const char*>(b + offset),
                      reinterpret_cast<const char*>(b + offset + length));
      c->info_.backbone = t.at("backbone").get<std::string>();
      c->info_.grid_h = t.at("grid_h").get<int64_t>();
      c->info_.grid_w = t.at("grid_w").get<int64_t>();
      c->info_.channels = t.at("channels").get<int64_t>();
      c->info_.mirrored = t.value("mirrored", false);
      c->keys_ = t.at("keys").get<std::vector<std::string>>();
    } catch (const json::exception& e) {
      corrupt(path, std::string("its trailer is not valid (") + e.what() + ")");
    }
    const auto per =
        static_cast<std::uint64_t>(c->info_.grid_h * c->info_.grid_w * c->info_.channels) * 2;
    if (c->info_.grid_h <= 0 || c->info_.grid_w <= 0 || c->info_.channels <= 0 ||
        kDataOffset + per * c->keys_.size() != offset)
      corrupt(path, "its values do not fill the space between preamble and trailer");
    for (size_t i = 0; i < c->keys_.size(); ++i)
      if (!c->index_.emplace(c->keys_[i], i).second)
        corrupt(path, "'" + c->keys_[i] + "' appears twice");
    c->data_ = b + kDataOffset;
    return c;
  });
}

FeatureCache::~FeatureCache() {
  if (map_ != nullptr)
    ::munmap(map_, map_bytes_);
}

std::optional<size_t> FeatureCache::index_of(const std::string& key) const {
  auto it = index_.find(key);
  if (it == index_.end())
    return std::nullopt;
  return it->second;
}

torch::Tensor FeatureCache::get(size_t i) const {
  return gather({i})[0];
}

torch::Tensor FeatureCache::gather(const std::vector<size_t>& rows) const {
  const int64_t cells = info_.grid_h * info_.grid_w;
  const int64_t per = cells * info_.channels;
  auto out = torch::empty({static_cast<int64_t>(rows.size()), cells, info_.channels},
                          torch::kHalf);  // [B, N, C]
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r] >= keys_.size())
      throw Error(ErrorCode::kInvalidArgument, "feature cache row " + std::to_string(rows[r]) +
                                                   " is past its " + std::to_string(keys_.size()) +
                                                   " images");
    std::memcpy(static_cast<std::uint8_t*>(out.data_ptr()) + r * static_cast<size_t>(per) * 2,
                data_ + rows[r] * static_cast<size_t>(per) * 2, static_cast<size_t>(per) * 2);
  }
  return out.to(torch::kFloat);
}

std::vector<size_t> cache_rows(const FeatureCache& cache, const std::string& which,
                               const Dataset& ds, size_t n) {
  std::vector<size_t> rows(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string key = std::filesystem::path(ds.images[i].path).filename().string();
    const auto row = cache.index_of(key);
    if (!row)
      throw Error(ErrorCode::kNotFound, "the feature cache " + which + " has no features of '" +
                                            key +
                                            "': make it from the same split with glimpse features");
    rows[i] = *row;
  }
  return rows;
}

}  // namespace glimpse::data

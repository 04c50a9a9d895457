// Encoder features of a dataset's images, computed once by a frozen backbone and stored as one
// fp16 array so that decoder training reads them instead of rerunning the CNN every epoch.
//
//   FeatureCacheWriter w(path, {"mobilenet_v2@224", 7, 7, 1280});
//   w.add("dog.jpg", features);             // [49, 1280] float, one image at a time
//   w.finish();                              // atomic: the file appears whole or not at all
//   auto cache = FeatureCache::open(path).take();   // memory-mapped, read-only
//   torch::Tensor f = cache->get(cache->index_of("dog.jpg").value());   // [49, 1280] float
//
// File layout: a 64-byte preamble ("GLFCACHE", then the little-endian u64 offset and u64 length
// of a JSON trailer), count x grid_h*grid_w x channels fp16 values from byte 64, then the JSON
// trailer (backbone, grid, channels, the image keys in order). The writer streams the values and
// writes the trailer last, so a cache of any size is made in one pass.
// A FeatureCache is immutable and thread-safe.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/data/datasets.h"

namespace glimpse::data {

struct FeatureCacheInfo {
  std::string backbone;  // what made the features, e.g. "mobilenet_v2@224"; checked on use
  int64_t grid_h = 0, grid_w = 0, channels = 0;
  bool mirrored = false;  // features of the left-right mirrored images (flip augmentation)
};

class FeatureCacheWriter {
 public:
  FeatureCacheWriter(std::string path, FeatureCacheInfo info);
  ~FeatureCacheWriter();  // without finish(): the partial file is removed
  FeatureCacheWriter(const FeatureCacheWriter&) = delete;
  FeatureCacheWriter& operator=(const FeatureCacheWriter&) = delete;
  // features: [grid_h * grid_w, channels] (or [1, ...]); a key given twice is an error.
  Status add(const std::string& key, const torch::Tensor& features);
  Status finish();

 private:
  std::string path_, temp_;
  FeatureCacheInfo info_;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, size_t> seen_;
  int fd_ = -1;
  bool finished_ = false;
};

class FeatureCache {
 public:
  static Result<std::shared_ptr<FeatureCache>> open(const std::string& path);
  ~FeatureCache();
  FeatureCache(const FeatureCache&) = delete;
  FeatureCache& operator=(const FeatureCache&) = delete;

  const FeatureCacheInfo& info() const { return info_; }
  size_t size() const { return keys_.size(); }
  const std::vector<std::string>& keys() const { return keys_; }
  std::optional<size_t> index_of(const std::string& key) const;
  torch::Tensor get(size_t i) const;                         // [grid_h * grid_w, channels] float
  torch::Tensor gather(const std::vector<size_t>& i) const;  // [B, grid_h * grid_w, channels]

 private:
  FeatureCache() = default;
  FeatureCacheInfo info_;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, size_t> index_;
  const std::uint8_t* data_ = nullptr;  // the fp16 values
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
};

// The cache row of each of the first n images of `ds`, found by file name. Throws glimpse::Error
// (kNotFound) naming the first image it lacks; `which` names the cache in that message.
std::vector<size_t> cache_rows(const FeatureCache& cache, const std::string& which,
                               const Dataset& ds, size_t n);

}  // namespace glimpse::data

// The narrow, Torch-free interface a server uses to caption images and answer questions with
// one or more loaded models, keeping each image's encoder features in a cache keyed by the
// image's hash so that several questions about one image encode it once.
//
//   auto s = Service::open({{"shapes", "models/shapes.safetensors"}}, {}).take();
//   ServiceRequest r;
//   r.model = "shapes";
//   r.image = rgb;
//   r.image_key = sha256_of_the_upload;
//   auto out = s->run({r});  // one Result per request, in order
//
// run() is thread-safe (calls are serialised); models(), has_model() and cache_stats() too.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "glimpse/core/error.h"

namespace glimpse::fusion {

struct ServiceOptions {
  std::uint64_t cache_bytes = 256ull << 20;  // encoder features kept, least recently used first out
};

struct ServiceRequest {
  std::string model;
  cv::Mat image;                        // RGB, 8-bit
  std::string image_key;                // the same key for the same image (a hash of its bytes)
  std::optional<std::string> question;  // absent: caption
  int beam = 1;
  int max_len = 20;
};

struct ServiceResult {
  std::string text;
  std::vector<std::string> words;
  std::vector<float> log_probs;  // one per emitted word, then the <eos> when emitted
  bool finished = true;
  std::vector<std::string> unknown_words;  // question words the model does not know
  int layers = 0, heads = 0, grid_h = 0, grid_w = 0;
  // [words][layers][heads][grid_h * grid_w], row-major: where the model looked for each word.
  std::vector<float> attention;
  bool cache_hit = false;  // the image's features came from the cache
  double encode_ms = 0, decode_ms = 0;
};

struct ServiceModelInfo {
  std::string name;
  std::vector<std::string> tasks;  // "caption", "vqa"
  std::string encoder, decoder, attention;
  int layers = 0, heads = 0, grid_h = 0, grid_w = 0;
  int image_width = 0, image_height = 0;
  std::map<std::string, double> metrics;
};

struct CacheStats {
  std::uint64_t hits = 0, misses = 0, entries = 0, bytes = 0;
};

struct Prediction;  // caption_model.h

// A prediction in the Torch-free form above: words, log-probs and the emitted words' maps.
ServiceResult to_service_result(const Prediction& p);

class Service {
 public:
  // Loads each (name, path); a model that cannot be loaded is an error naming it.
  static Result<std::unique_ptr<Service>> open(
      const std::vector<std::pair<std::string, std::string>>& models, const ServiceOptions& o);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  std::vector<ServiceModelInfo> models() const;
  bool has_model(const std::string& name) const;
  // Requests with the same model, beam and length are decoded together in one batch; images
  // not in the cache are encoded together.
  std::vector<Result<ServiceResult>> run(const std::vector<ServiceRequest>& requests);
  CacheStats cache_stats() const;

 private:
  struct Impl;
  explicit Service(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace glimpse::fusion

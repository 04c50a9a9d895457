#include "glimpse/web/metrics.h"

#include <fmt/format.h>

namespace glimpse::web {

void Metrics::record(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  for (size_t b = 0; b < kBuckets.size(); ++b)
    if (seconds <= kBuckets[b])
      ++buckets_[b];
  ++count_;
  sum_ += seconds;
}

void Metrics::record_batch(std::size_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++batches_;
  batched_jobs_ += size;
}

std::uint64_t Metrics::requests(const std::string& route, int status) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = requests_.find({route, status});
  return it == requests_.end() ? 0 : it->second;
}

std::string Metrics::render(const Gauges& g) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  out += "# HELP glimpse_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE glimpse_http_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += fmt::format("glimpse_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, n);
  out += "# HELP glimpse_http_request_duration_seconds Time from a whole request to its answer.\n";
  out += "# TYPE glimpse_http_request_duration_seconds histogram\n";
  for (size_t b = 0; b < kBuckets.size(); ++b)
    out += fmt::format("glimpse_http_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                       kBuckets[b], buckets_[b]);
  out += fmt::format("glimpse_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", count_);
  out += fmt::format("glimpse_http_request_duration_seconds_sum {}\n", sum_);
  out += fmt::format("glimpse_http_request_duration_seconds_count {}\n", count_);
  out += "# HELP glimpse_queue_depth Inference jobs waiting.\n# TYPE glimpse_queue_depth gauge\n";
  out += fmt::format("glimpse_queue_depth {}\n", g.queue_depth);
  out += "# TYPE glimpse_queue_capacity gauge\n";
  out += fmt::format("glimpse_queue_capacity {}\n", g.queue_capacity);
  out += "# HELP glimpse_inference_batches_total Batches run through the model.\n";
  out += "# TYPE glimpse_inference_batches_total counter\n";
  out += fmt::format("glimpse_inference_batches_total {}\n", batches_);
  out += "# TYPE glimpse_inference_batched_jobs_total counter\n";
  out += fmt::format("glimpse_inference_batched_jobs_total {}\n", batched_jobs_);
  out += "# HELP glimpse_feature_cache_hits_total Images whose encoder features were cached.\n";
  out += "# TYPE glimpse_feature_cache_hits_total counter\n";
  out += fmt::format("glimpse_feature_cache_hits_total {}\n", g.cache_hits);
  out += "# TYPE glimpse_feature_cache_misses_total counter\n";
  out += fmt::format("glimpse_feature_cache_misses_total {}\n", g.cache_misses);
  out += "# TYPE glimpse_feature_cache_entries gauge\n";
  out += fmt::format("glimpse_feature_cache_entries {}\n", g.cache_entries);
  out += "# TYPE glimpse_feature_cache_bytes gauge\n";
  out += fmt::format("glimpse_feature_cache_bytes {}\n", g.cache_bytes);
  return out;
}

}  // namespace glimpse::web

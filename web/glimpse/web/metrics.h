// Counters for GET /metrics, in the Prometheus text format. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace glimpse::web {

struct Gauges {
  std::uint64_t queue_depth = 0, queue_capacity = 0;
  std::uint64_t cache_hits = 0, cache_misses = 0, cache_entries = 0, cache_bytes = 0;
};

class Metrics {
 public:
  // Latency histogram bucket bounds, seconds.
  static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1.0,  2.5,   10.0};
  void record(const std::string& route, int status, double seconds);
  void record_batch(std::size_t size);
  std::string render(const Gauges& gauges) const;
  std::uint64_t requests(const std::string& route, int status) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::array<std::uint64_t, kBuckets.size()> buckets_{};
  std::uint64_t count_ = 0;
  double sum_ = 0;
  std::uint64_t batches_ = 0, batched_jobs_ = 0;
};

}  // namespace glimpse::web

// Timing helpers for the benchmarks: warm-up, repeated runs, medians.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace glimpse::bench {

// Runs `f` `warmup` times untimed, then `reps` times; returns each run's seconds.
inline std::vector<double> time_runs(const std::function<void()>& f, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i)
    f();
  std::vector<double> s;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return s;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

}  // namespace glimpse::bench

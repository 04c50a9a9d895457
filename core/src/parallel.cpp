#include "glimpse/core/parallel.h"

#include <ATen/CPUGeneratorImpl.h>

#include <exception>
#include <thread>
#include <vector>

namespace glimpse::core {

namespace {
thread_local at::Generator* current_generator = nullptr;
}  // namespace

void run_parallel(int n, const std::function<void(int)>& task) {
  if (n <= 1) {
    if (n == 1)
      task(0);
    return;
  }
  const int threads = torch::get_num_threads();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k)
    workers.emplace_back([&, k] {
      try {
        // LibTorch keeps one thread count for the threads it starts afresh and one per
        // thread for OpenMP: both say 1 while the tasks run.
        torch::set_num_threads(1);
        task(k);
      } catch (...) {
        errors[static_cast<size_t>(k)] = std::current_exception();
      }
    });
  for (auto& w : workers)
    w.join();
  torch::set_num_threads(threads);
  for (const auto& e : errors)
    if (e)
      std::rethrow_exception(e);
}

ThreadGenerator::ThreadGenerator(uint64_t seed)
    : generator_(at::detail::createCPUGenerator(seed)), before_(current_generator) {
  current_generator = &generator_;
}

ThreadGenerator::~ThreadGenerator() {
  current_generator = before_;
}

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0)
    return x;
  if (p >= 1)
    return torch::zeros_like(x);
  if (current_generator == nullptr)
    return torch::dropout(x, p, true);
  const auto keep = torch::empty_like(x).bernoulli_(1 - p, *current_generator);
  return x * keep * (1.0 / (1.0 - p));
}

}  // namespace glimpse::core

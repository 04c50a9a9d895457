// Data parallelism on the CPU: a few tasks at once, each on a thread of its own with one
// LibTorch intra-op thread, and dropout whose masks come from a generator of the calling
// thread, so that what each task draws depends on its seed, not on which thread ran first.
//
//   core::run_parallel(2, [&](int k) {
//     core::ThreadGenerator rng(seed + k);
//     grads[k] = torch::autograd::grad({loss_of(k)}, params);
//   });
#pragma once

#include <cstdint>
#include <functional>

#include <torch/torch.h>

namespace glimpse::core {

// Runs task(0) .. task(n - 1) and returns when all have ended. With n > 1 each runs on a
// thread of its own with one LibTorch intra-op thread (the caller's count is restored after);
// with n == 1 the task runs on the calling thread as it is. An exception thrown by a task is
// rethrown here once all have ended (the lowest task's, when several throw).
void run_parallel(int n, const std::function<void(int)>& task);

// While it lives, dropout() on this thread draws its masks from a CPU generator seeded with
// `seed` (and LibTorch's default generator is left untouched).
class ThreadGenerator {
 public:
  explicit ThreadGenerator(uint64_t seed);
  ~ThreadGenerator();
  ThreadGenerator(const ThreadGenerator&) = delete;
  ThreadGenerator& operator=(const ThreadGenerator&) = delete;

 private:
  at::Generator generator_;
  at::Generator* before_;
};

// Inverted dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p)
// when training; the input itself otherwise. Masks come from this thread's ThreadGenerator,
// or from LibTorch's default generator where there is none.
torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

}  // namespace glimpse::core

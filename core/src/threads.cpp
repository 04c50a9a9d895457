#include "glimpse/core/threads.h"

#include <torch/torch.h>

#include <thread>

namespace glimpse::core {

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int set_threads(int n) {
  if (n <= 0)
    n = default_threads();
  torch::set_num_threads(n);
  return n;
}

}  // namespace glimpse::core

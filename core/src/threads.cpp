#include "glimpse/core/threads.h"

#include <torch/torch.h>

#include <dlfcn.h>

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
  set_blas_threads(1);
  return n;
}

int set_blas_threads(int n) {
  // Looked up at run time: the BLAS LibTorch loads is chosen by Debian's alternatives.
  using SetThreads = void (*)(int);
  auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set == nullptr)
    return -1;
  set(n);
  return n;
}

}  // namespace glimpse::core

#include "glimpse/core/threads.h"

#include <ATen/Context.h>
#include <torch/torch.h>

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace glimpse::core {

namespace {

// The OpenBLAS copies this process has loaded (Debian's libblas.so.3 alternative and
// libopenblas.so.0 are two copies of the same library, each with its own state).
std::vector<void*> loaded_openblas() {
  std::vector<std::string> paths;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        const char* name = info->dlpi_name;
        if (name != nullptr && (std::strstr(name, "openblas") || std::strstr(name, "libblas.so")))
          static_cast<std::vector<std::string>*>(data)->push_back(name);
        return 0;
      },
      &paths);
  std::vector<void*> handles;
  for (const auto& p : paths)
    if (void* h = dlopen(p.c_str(), RTLD_LAZY | RTLD_NOLOAD))
      handles.push_back(h);
  return handles;
}

// OpenBLAS's kernels for the core this CPU can run best, when the OpenBLAS loaded fell back to
// one without AVX2 on a CPU that has it: OpenBLAS 0.3.21 (Debian 12) names the Intel cores newer
// than it (Sapphire Rapids here) "Prescott" and runs its SSE3 kernels, a fifth of the speed
// (a 1024x1024 product: 21.8 GFLOP/s as Prescott, 105.4 as SkylakeX, on one core).
std::string better_blas_core(const std::string& detected) {
  static const std::set<std::string> kWithoutAvx2 = {
      "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge", "Atom", "Nano"};
  if (!kWithoutAvx2.count(detected))
    return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return "Haswell";
  return "";
}

}  // namespace

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

std::string tune_cpu() {
  static std::once_flag once;
  static std::string chosen;
  std::call_once(once, [] {
    // Denormal floats cost a hundred cycles an operation on these cores: a softmax that is
    // nearly one-hot leaves them in its gradient (the dot-product attention benchmark ran 6x
    // slower with them). Set before LibTorch starts its threads, which inherit the setting.
    at::globalContext().setFlushDenormal(true);
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr)
      return;  // the user's choice
    using Name = char* (*)();
    using Init = void (*)();
    for (void* h : loaded_openblas()) {
      auto corename = reinterpret_cast<Name>(dlsym(h, "openblas_get_corename"));
      auto quit = reinterpret_cast<Init>(dlsym(h, "gotoblas_dynamic_quit"));
      auto init = reinterpret_cast<Init>(dlsym(h, "gotoblas_dynamic_init"));
      if (corename == nullptr || quit == nullptr || init == nullptr)
        continue;  // not a DYNAMIC_ARCH OpenBLAS: its kernels are fixed
      const std::string better = better_blas_core(corename());
      if (better.empty())
        continue;
      // Re-runs OpenBLAS's own start-up, which reads OPENBLAS_CORETYPE; no BLAS call has run yet.
      setenv("OPENBLAS_CORETYPE", better.c_str(), 0);
      quit();
      init();
      chosen = corename();
    }
  });
  return chosen;
}

int set_threads(int n) {
  tune_cpu();
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

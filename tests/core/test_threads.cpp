#include "glimpse/core/threads.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <dlfcn.h>

#include <set>
#include <string>

namespace glimpse::core {
namespace {

TEST(TuneCpu, FlushesDenormalFloatsToZero) {
  tune_cpu();
  // 1e-38 * 0.01 is 1e-40, below the smallest normal float (1.18e-38): a denormal, flushed.
  const auto x = torch::full({16}, 1e-38f) * 0.01f;
  EXPECT_EQ(x.abs().max().item<float>(), 0.0f);
  EXPECT_GT((torch::full({16}, 1e-30f) * 0.01f).min().item<float>(), 0.0f);
}

TEST(TuneCpu, OpenBlasRunsKernelsWithTheVectorUnitsThisCpuHas) {
  const std::string switched = tune_cpu();
  using Name = char* (*)();
  auto corename = reinterpret_cast<Name>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr)
    GTEST_SKIP() << "the BLAS loaded is not OpenBLAS";
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2"))
    GTEST_SKIP() << "this CPU has no AVX2: OpenBLAS's own choice stands";
  const std::set<std::string> without_avx2 = {"Prescott", "Core2",       "Penryn", "Dunnington",
                                              "Nehalem",  "Sandybridge", "Atom",   "Nano"};
  EXPECT_EQ(without_avx2.count(corename()), 0u) << corename();
  if (!switched.empty()) {
    EXPECT_EQ(switched, corename());
  }
  // A product through the switched kernels is still right.
  const auto a = torch::randn({64, 48}), b = torch::randn({48, 32});
  const auto want = (a.unsqueeze(2) * b.unsqueeze(0)).sum(1);
  EXPECT_TRUE(torch::allclose(torch::mm(a, b), want, 1e-4, 1e-4));
}

}  // namespace
}  // namespace glimpse::core

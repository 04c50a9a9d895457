// MobileNetV2 encoder throughput at batch 1 and 16, and the GFLOP/s it achieves, beside a plain
// 1024x1024 matrix product's GFLOP/s measured in the same run on the same threads.
//   bench_encoder [--threads N] [--reps R] [--shared DIR]   (DIR defaults to ../shared)
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "bench_common.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/core/threads.h"
#include "glimpse/vision/mobilenet_v2.h"

using namespace glimpse;

int main(int argc, char** argv) {
  int threads = 2, reps = 7;
  std::string shared = "../shared";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps"))
      reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--shared"))
      shared = argv[i + 1];
  }
  core::set_threads(threads);
  torch::manual_seed(0);

  vision::MobileNetV2Options o;
  o.with_classifier = false;
  vision::MobileNetV2 net(o);
  const std::string weights = shared + "/models/mobilenet_v2_imagenet.safetensors";
  bool real = false;
  if (std::filesystem::exists(weights)) {
    auto f = core::SafetensorsFile::open(weights);
    real = f.ok() && net.load(f.value()).ok();
  }
  net.eval();
  torch::InferenceMode guard;
  const double flop_per_image = 2.0 * static_cast<double>(net.feature_macs(224, 224));

  std::printf("threads %d, median of %d runs, %s weights\n", torch::get_num_threads(), reps,
              real ? "ImageNet" : "random");
  std::printf("%-34s %12s %12s %10s\n", "case", "median ms", "images/s", "GFLOP/s");

  auto a = torch::randn({1024, 1024}), b = torch::randn({1024, 1024});
  auto mm = bench::median(bench::time_runs([&] { (void)torch::mm(a, b); }, 3, reps * 3));
  const double mm_gflops = 2.0 * 1024 * 1024 * 1024 / mm / 1e9;
  std::printf("%-34s %12.2f %12s %10.1f\n", "matmul 1024x1024 fp32", mm * 1e3, "-", mm_gflops);

  for (int batch : {1, 16}) {
    // chunk 0 runs the whole batch at once; the encoder's default splits it into chunks of 2.
    for (int64_t chunk : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{4}}) {
      if (batch == 1 && chunk != 0)
        continue;
      net.set_chunk(chunk);
      auto x = torch::randn({batch, 3, 224, 224});
      auto t = bench::median(bench::time_runs([&] { (void)net.encode(x); }, 2, reps));
      const double ips = batch / t;
      const double gflops = ips * flop_per_image / 1e9;
      const std::string name =
          "mobilenet_v2 224 batch " + std::to_string(batch) +
          (batch > 1 ? (chunk ? " chunk " + std::to_string(chunk) : " whole") : "");
      std::printf("%-34s %12.2f %12.1f %10.1f\n", name.c_str(), t * 1e3, ips, gflops);
    }
  }
  std::printf("mobilenet_v2 features: %.3f GFLOP per 224x224 image (2 x %.1f M MACs)\n",
              flop_per_image / 1e9, flop_per_image / 2e6);
  return 0;
}

// Forward + backward time of every attention variant at B=32, T=20, N=196 (a 14x14 grid),
// D=512, on the given threads. Self and causal attention run over the T=20 text sequence
// (keys = queries); local-m runs over a 196-long sequence (it aligns positions of sequences).
//   bench_attention [--threads N] [--reps R]
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "bench_common.h"
#include "glimpse/core/threads.h"
#include "glimpse/fusion/attention.h"

using namespace glimpse;

int main(int argc, char** argv) {
  int threads = 2, reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps"))
      reps = std::atoi(argv[i + 1]);
  }
  core::set_threads(threads);
  torch::manual_seed(0);
  const int64_t B = 32, T = 20, N = 196, D = 512;
  std::printf("threads %d, B=%ld T=%ld N=%ld D=%ld, median of %d runs (forward + backward)\n",
              torch::get_num_threads(), long(B), long(T), long(N), long(D), reps);
  std::printf("%-24s %10s %10s %12s\n", "variant", "fwd ms", "fwd+bwd ms", "params");
  for (const std::string name :
       {"additive", "additive+gate", "dot", "general", "concat", "scaled-dot", "multihead:8",
        "self:8", "causal:8", "cross:8", "additive+local:3", "general+local:3",
        "multihead:8+local:3", "dot+local-m:8"}) {
    auto spec = fusion::parse_attention_spec(name).take();
    fusion::Attention att(spec, {D, D, D, 512, D});  // attention (or multi-head model) dim 512
    const bool self = spec.use == fusion::Use::kSelf || spec.use == fusion::Use::kCausal;
    const bool seq = self || spec.scope == fusion::Scope::kLocalM;
    auto q = torch::randn({B, T, D}, torch::requires_grad());
    auto k = self ? q : torch::randn({B, N, D}, torch::requires_grad());
    fusion::AttentionContext ctx;
    if (!seq)
      ctx.grid_h = ctx.grid_w = 14;
    auto fwd = bench::median(bench::time_runs(
        [&] {
          torch::NoGradGuard g;
          (void)att.forward(q, k, k, ctx);
        },
        1, reps));
    auto both = bench::median(bench::time_runs(
        [&] {
          auto out = att.forward(q, k, k, ctx);
          (out.context.sum() + out.weights.sum()).backward();
        },
        1, reps));
    int64_t params = 0;
    for (const auto& p : att.parameters())
      params += p.numel();
    std::printf("%-24s %10.1f %10.1f %12ld\n", name.c_str(), fwd * 1e3, both * 1e3, long(params));
  }
  return 0;
}

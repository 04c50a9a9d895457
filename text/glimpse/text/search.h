// Greedy and beam search over a Decoder, batched over images. Each result carries the
// generated tokens, their log-probabilities and the attention map of every emitted token (per
// layer and head) for the hypothesis actually returned.
//
//   SearchOptions o;  o.beam = 3;
//   auto hyps = search(decoder, features, grid, {{kBos, kCaption}, {kBos, kCaption}}, o);
//   hyps[0].tokens;     // e.g. {12, 40, 7, kEos}
//   hyps[0].attention;  // [T, layers, H, N]
//
// A hypothesis that never emits <eos> stops at max_len (finished = false) instead of failing.
// Only words and <eos> are written: never <pad>, <bos>, <unk> or a task token (a caption with
// "<unk>" in it tells the reader nothing; the model's next guess does).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "glimpse/text/decoder.h"

namespace glimpse::text {

struct SearchOptions {
  int beam = 1;      // 1 = greedy
  int max_len = 20;  // generated tokens, <eos> included
  // Beam score = Σ log p / length^length_penalty. 0 (no normalisation) ranks beams by their
  // probability, as Show, Attend and Tell's PyTorch reimplementation does; on Flickr8k dev it
  // scored higher than 1 at beams 3 and 5 (BLEU-4 19.9 against 18.9 at beam 3).
  double length_penalty = 0.0;
};

struct Hypothesis {
  std::vector<int64_t> tokens;   // generated, ending with <eos> when finished
  std::vector<float> log_probs;  // one per token
  double score = 0.0;            // length-normalised as SearchOptions says
  bool finished = false;         // emitted <eos> before max_len
  torch::Tensor attention;       // [T, layers, H, N], CPU float
};

// `prefixes[b]` are the input tokens of item b (e.g. <bos> <caption>, or <bos> <question> …
// <answer>); items with prefixes of different lengths are searched in groups. features [B, N, C].
// Throws glimpse::Error for bad options (beam < 1, max_len < 1) or mismatched sizes.
std::vector<Hypothesis> search(Decoder& decoder, const torch::Tensor& features,
                               const AttentionContext& grid,
                               const std::vector<std::vector<int64_t>>& prefixes,
                               const SearchOptions& options);

// The greedy decoder on its own (search() uses it when beam == 1).
std::vector<Hypothesis> greedy_search(Decoder& decoder, const torch::Tensor& features,
                                      const AttentionContext& grid, const torch::Tensor& prefix,
                                      int max_len);
std::vector<Hypothesis> beam_search(Decoder& decoder, const torch::Tensor& features,
                                    const AttentionContext& grid, const torch::Tensor& prefix,
                                    const SearchOptions& options);

}  // namespace glimpse::text

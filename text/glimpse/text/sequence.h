// Training sequences with task prefixes, and a loss over the generated part only.
//   caption:  <bos> <caption> w1 … wn <eos>                  loss on w1 … wn <eos>
//   VQA:      <bos> <question> q1 … qm <answer> a1 … ak <eos>  loss on a1 … ak <eos>
// The decoder reads tokens[0 .. L-2] and predicts tokens[1 .. L-1]; `loss_mask` marks the
// predictions that belong to the generated part.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "glimpse/text/vocabulary.h"

namespace glimpse::text {

struct Sequence {
  std::vector<int64_t> tokens;  // the whole sequence, prefix included
  size_t prefix_len = 0;        // tokens before the first generated one
};

Sequence caption_sequence(const Vocabulary& vocab, const std::vector<std::string>& caption_words);
Sequence qa_sequence(const Vocabulary& vocab, const std::vector<std::string>& question_words,
                     const std::vector<std::string>& answer_words);

struct SequenceBatch {
  torch::Tensor input;   // [B, L-1] int64, padded with <pad>
  torch::Tensor target;  // [B, L-1] int64
  torch::Tensor
      loss_mask;  // [B, L-1] bool: true where the target is generated (not prefix, not padding)
};

SequenceBatch collate(const std::vector<Sequence>& sequences);

// Mean cross-entropy over the positions the mask allows. logits [B, L, V].
torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target,
                                   const torch::Tensor& mask);

}  // namespace glimpse::text

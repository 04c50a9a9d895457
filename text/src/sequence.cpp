#include "glimpse/text/sequence.h"

#include <algorithm>

#include "glimpse/core/error.h"

namespace glimpse::text {

Sequence caption_sequence(const Vocabulary& vocab, const std::vector<std::string>& words) {
  Sequence s;
  s.tokens = {kBos, kCaption};
  s.prefix_len = s.tokens.size();
  for (int64_t id : vocab.encode(words))
    s.tokens.push_back(id);
  s.tokens.push_back(kEos);
  return s;
}

Sequence qa_sequence(const Vocabulary& vocab, const std::vector<std::string>& question,
                     const std::vector<std::string>& answer) {
  Sequence s;
  s.tokens = {kBos, kQuestion};
  for (int64_t id : vocab.encode(question))
    s.tokens.push_back(id);
  s.tokens.push_back(kAnswer);
  s.prefix_len = s.tokens.size();
  for (int64_t id : vocab.encode(answer))
    s.tokens.push_back(id);
  s.tokens.push_back(kEos);
  return s;
}

SequenceBatch collate(const std::vector<Sequence>& seqs) {
  if (seqs.empty())
    throw Error(ErrorCode::kInvalidArgument, "collate needs at least one sequence");
  size_t len = 0;
  for (const auto& s : seqs) {
    if (s.tokens.size() < 2 || s.prefix_len < 1 || s.prefix_len >= s.tokens.size())
      throw Error(ErrorCode::kInvalidArgument,
                  "a training sequence needs a prefix and at least one generated token");
    len = std::max(len, s.tokens.size());
  }
  const int64_t b = static_cast<int64_t>(seqs.size()), l = static_cast<int64_t>(len) - 1;
  SequenceBatch out;
  out.input = torch::full({b, l}, kPad, torch::kLong);
  out.target = torch::full({b, l}, kPad, torch::kLong);
  out.loss_mask = torch::zeros({b, l}, torch::kBool);
  auto in = out.input.accessor<int64_t, 2>();
  auto tg = out.target.accessor<int64_t, 2>();
  auto mk = out.loss_mask.accessor<bool, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& t = seqs[static_cast<size_t>(i)].tokens;
    const int64_t first_generated = static_cast<int64_t>(seqs[static_cast<size_t>(i)].prefix_len);
    for (int64_t p = 0; p + 1 < static_cast<int64_t>(t.size()); ++p) {
      in[i][p] = t[static_cast<size_t>(p)];
      tg[i][p] = t[static_cast<size_t>(p) + 1];
      mk[i][p] = p + 1 >= first_generated;  // the target at p is token p + 1
    }
  }
  return out;
}

torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& target,
                                   const torch::Tensor& mask) {
  auto logp = torch::log_softmax(logits, -1);                    // [B, L, V]
  auto nll = -logp.gather(2, target.unsqueeze(-1)).squeeze(-1);  // [B, L]
  auto m = mask.to(nll.dtype());
  return (nll * m).sum() / m.sum().clamp_min(1.0);
}

}  // namespace glimpse::text

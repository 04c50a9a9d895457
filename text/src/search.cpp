#include "glimpse/text/search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "glimpse/core/error.h"
#include "glimpse/text/vocabulary.h"

namespace glimpse::text {

namespace {

double normalised(double sum, size_t length, double alpha) {
  return alpha == 0.0 ? sum
                      : sum / std::pow(static_cast<double>(std::max<size_t>(length, 1)), alpha);
}

// Feeds the prefix; returns the step output that predicts the first generated token.
StepOutput feed_prefix(Decoder& decoder, DecoderState& state, const torch::Tensor& prefix,
                       const AttentionContext& grid) {
  StepOutput out;
  for (int64_t l = 0; l < prefix.size(1); ++l)
    out = decoder.step(state, prefix.select(1, l), grid);
  return out;
}

torch::Tensor stack_layers(const std::vector<torch::Tensor>& per_layer) {  // each [B, H, N]
  return torch::stack(per_layer, 1).to(torch::kCPU, torch::kFloat32);      // [B, layers, H, N]
}

Hypothesis finish(std::vector<int64_t> tokens, std::vector<float> log_probs,
                  std::vector<torch::Tensor> maps, bool finished, double alpha) {
  Hypothesis h;
  double sum = 0;
  for (float lp : log_probs)
    sum += lp;
  h.score = normalised(sum, tokens.size(), alpha);
  h.finished = finished;
  h.attention = maps.empty() ? torch::Tensor() : torch::stack(maps, 0);  // [T, layers, H, N]
  h.tokens = std::move(tokens);
  h.log_probs = std::move(log_probs);
  return h;
}

// The search writes words and <eos>, never <pad>, <bos>, <unk> or a task token: their logits
// become -inf, so the log-probabilities are over what may be written.
torch::Tensor writable(torch::Tensor logits) {
  logits = logits.clone();
  for (int64_t id : {kPad, kBos, kUnk, kCaption, kQuestion, kAnswer})
    if (id < logits.size(-1))
      logits.select(-1, id).fill_(-std::numeric_limits<float>::infinity());
  return logits;
}

}  // namespace

std::vector<Hypothesis> greedy_search(Decoder& decoder, const torch::Tensor& features,
                                      const AttentionContext& grid, const torch::Tensor& prefix,
                                      int max_len) {
  const int64_t b = features.size(0);
  DecoderState state = decoder.start(features, grid);
  StepOutput out = feed_prefix(decoder, state, prefix, grid);
  std::vector<std::vector<int64_t>> tokens(b);
  std::vector<std::vector<float>> lps(b);
  std::vector<std::vector<torch::Tensor>> maps(b);
  std::vector<bool> done(b, false);
  for (int t = 0; t < max_len; ++t) {
    auto logp = torch::log_softmax(writable(out.logits), -1);  // [B, V]
    auto [best, idx] = logp.max(-1);                           // [B]
    auto att = stack_layers(out.attention);                    // [B, layers, H, N]
    auto best_c = best.to(torch::kCPU), idx_c = idx.to(torch::kCPU);
    bool all_done = true;
    for (int64_t i = 0; i < b; ++i) {
      if (done[i])
        continue;
      const int64_t tok = idx_c[i].item<int64_t>();
      tokens[i].push_back(tok);
      lps[i].push_back(best_c[i].item<float>());
      maps[i].push_back(att[i]);
      if (tok == kEos)
        done[i] = true;
      all_done = all_done && done[i];
    }
    if (all_done || t + 1 == max_len)
      break;
    out = decoder.step(state, idx, grid);
  }
  std::vector<Hypothesis> hyps;
  for (int64_t i = 0; i < b; ++i)
    hyps.push_back(finish(tokens[i], lps[i], maps[i], done[i], 1.0));
  return hyps;
}

std::vector<Hypothesis> beam_search(Decoder& decoder, const torch::Tensor& features,
                                    const AttentionContext& grid, const torch::Tensor& prefix,
                                    const SearchOptions& o) {
  const int64_t b = features.size(0), k = o.beam;
  const double alpha = o.length_penalty;
  DecoderState state = decoder.start(features, grid);
  StepOutput out = feed_prefix(decoder, state, prefix, grid);
  // Every item starts as k copies of one beam; only copy 0 may extend at the first step.
  auto expand = torch::arange(b, torch::kLong).repeat_interleave(k).to(features.device());
  state.select(expand);
  for (auto& a : out.attention)
    a = a.index_select(0, expand);
  out.logits = out.logits.index_select(0, expand);

  struct Beam {
    std::vector<int64_t> tokens;
    std::vector<float> lps;
    std::vector<torch::Tensor> maps;
    double sum = 0;
  };
  std::vector<std::vector<Beam>> beams(b, std::vector<Beam>(k));
  std::vector<std::vector<Hypothesis>> finished(b);
  std::vector<bool> done(b, false);
  const double neg_inf = -std::numeric_limits<double>::infinity();
  auto scores = torch::full({b, k}, neg_inf, torch::kFloat64);
  scores.select(1, 0).fill_(0.0);

  for (int t = 0; t < o.max_len; ++t) {
    auto logp = torch::log_softmax(writable(out.logits).to(torch::kFloat64), -1)
                    .to(torch::kCPU);  // [B*k, V]
    const int64_t v = logp.size(1);
    auto total = (scores.view({b * k, 1}) + logp).view({b, k * v});                 // [B, k*V]
    auto [cand_scores, cand_idx] = total.topk(std::min<int64_t>(2 * k, k * v), 1);  // [B, 2k]
    auto att = stack_layers(out.attention);  // [B*k, layers, H, N]
    std::vector<int64_t> src(b * k, 0), next_tok(b * k, kPad);
    auto new_scores = torch::full({b, k}, neg_inf, torch::kFloat64);
    std::vector<std::vector<Beam>> next(b, std::vector<Beam>(k));
    const bool last = t + 1 == o.max_len;
    for (int64_t i = 0; i < b; ++i) {
      if (done[i]) {
        for (int64_t j = 0; j < k; ++j)
          src[i * k + j] = i * k;
        continue;
      }
      int64_t live = 0;
      for (int64_t c = 0; c < cand_idx.size(1) && live < k; ++c) {
        const double s = cand_scores[i][c].item<double>();
        if (s == neg_inf)
          break;
        const int64_t flat = cand_idx[i][c].item<int64_t>(), from = flat / v, tok = flat % v;
        Beam nb = beams[i][from];
        nb.tokens.push_back(tok);
        nb.lps.push_back(logp[i * k + from][tok].item<float>());
        nb.maps.push_back(att[i * k + from]);
        nb.sum = s;
        if (tok == kEos) {
          if (c < k)
            finished[i].push_back(finish(nb.tokens, nb.lps, nb.maps, true, alpha));
          continue;
        }
        if (last) {  // the length limit: keep it as an unfinished hypothesis
          finished[i].push_back(finish(nb.tokens, nb.lps, nb.maps, false, alpha));
          ++live;
          continue;
        }
        src[i * k + live] = i * k + from;
        next_tok[i * k + live] = tok;
        new_scores[i][live] = s;
        next[i][live] = std::move(nb);
        ++live;
      }
      for (int64_t j = live; j < k; ++j)
        src[i * k + j] = i * k;  // dead slots keep -inf
      // Done when k hypotheses have finished and no live beam can beat the worst of them
      // at its current length (the usual heuristic).
      std::sort(finished[i].begin(), finished[i].end(),
                [](const auto& x, const auto& y) { return x.score > y.score; });
      if (finished[i].size() > static_cast<size_t>(k))
        finished[i].resize(k);
      const double best_live =
          live > 0 ? normalised(new_scores[i][0].item<double>(), t + 1, alpha) : neg_inf;
      if (last || live == 0 ||
          (finished[i].size() == static_cast<size_t>(k) && best_live <= finished[i].back().score))
        done[i] = true;
    }
    beams = std::move(next);
    scores = new_scores;
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; }))
      break;
    auto index = torch::tensor(src, torch::kLong).to(features.device());
    state.select(index);
    out = decoder.step(state, torch::tensor(next_tok, torch::kLong).to(features.device()), grid);
  }
  std::vector<Hypothesis> best;
  for (int64_t i = 0; i < b; ++i) {
    if (finished[i].empty())
      throw Error(ErrorCode::kInternal, "beam search ended without a hypothesis");
    best.push_back(finished[i].front());
  }
  return best;
}

std::vector<Hypothesis> search(Decoder& decoder, const torch::Tensor& features,
                               const AttentionContext& grid,
                               const std::vector<std::vector<int64_t>>& prefixes,
                               const SearchOptions& o) {
  if (o.beam < 1 || o.max_len < 1)
    throw Error(ErrorCode::kInvalidArgument, "search needs beam >= 1 and max_len >= 1, got beam " +
                                                 std::to_string(o.beam) + ", max_len " +
                                                 std::to_string(o.max_len));
  if (features.dim() != 3 || static_cast<size_t>(features.size(0)) != prefixes.size())
    throw Error(ErrorCode::kInvalidArgument, "search needs one prefix per image");
  std::map<size_t, std::vector<int64_t>> groups;  // prefix length -> items
  for (size_t i = 0; i < prefixes.size(); ++i) {
    if (prefixes[i].empty())
      throw Error(ErrorCode::kInvalidArgument, "a search prefix is empty; start it with <bos>");
    groups[prefixes[i].size()].push_back(static_cast<int64_t>(i));
  }
  std::vector<Hypothesis> out(prefixes.size());
  for (const auto& [len, items] : groups) {
    auto index = torch::tensor(items, torch::kLong).to(features.device());
    std::vector<int64_t> flat;
    for (int64_t i : items)
      flat.insert(flat.end(), prefixes[i].begin(), prefixes[i].end());
    auto prefix = torch::tensor(flat, torch::kLong)
                      .view({static_cast<int64_t>(items.size()), static_cast<int64_t>(len)})
                      .to(features.device());
    auto group_features = features.index_select(0, index);
    auto hyps = o.beam == 1 ? greedy_search(decoder, group_features, grid, prefix, o.max_len)
                            : beam_search(decoder, group_features, grid, prefix, o);
    for (size_t j = 0; j < items.size(); ++j)
      out[items[j]] = std::move(hyps[j]);
  }
  return out;
}

}  // namespace glimpse::text

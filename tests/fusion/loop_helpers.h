// What the loop-by-loop implementations of the fusion blocks' tests share: a block's weights in
// double, one element of a tensor, one linear layer applied to a vector, element by element, and
// the read-outs' question-FiLMed hidden layer and write into every cell.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace glimpse::testing {

using Params = std::map<std::string, torch::Tensor>;

template <class Block>
Params params_in_double(Block& block) {
  Params p;
  for (const auto& item : block->named_parameters())
    p[item.key()] = item.value().detach().to(torch::kDouble);
  return p;
}

inline double at(const torch::Tensor& t, std::initializer_list<int64_t> index) {
  auto v = t;
  for (auto k : index)
    v = v[k];
  return v.item<double>();
}

// y = W x + b for the linear layer `name` of `p` (weight [out, in], bias [out]).
inline std::vector<double> affine(const Params& p, const std::string& name,
                                  const std::vector<double>& x) {
  const auto& w = p.at(name + ".weight");
  const auto& b = p.at(name + ".bias");
  std::vector<double> y(static_cast<size_t>(w.size(0)));
  for (int64_t o = 0; o < w.size(0); ++o) {
    double s = at(b, {o});
    for (int64_t i = 0; i < w.size(1); ++i)
      s += at(w, {o, i}) * x[static_cast<size_t>(i)];
    y[static_cast<size_t>(o)] = s;
  }
  return y;
}

// Row b of q [B, D] as a vector.
inline std::vector<double> row(const torch::Tensor& q, int64_t b) {
  std::vector<double> v;
  for (int64_t k = 0; k < q.size(1); ++k)
    v.push_back(at(q, {b, k}));
  return v;
}

// The question-FiLMed hidden layer of the count and locate read-outs at cell (r, c) of item b of
// x [B, C, H, W]: ReLU((1 + Δγ) ⊙ hidden(x) + β), with gb = to_film(q) = [Δγ; β].
inline std::vector<double> film_hidden_by_loops(const Params& p, const torch::Tensor& x, int64_t b,
                                                int64_t r, int64_t c,
                                                const std::vector<double>& gb) {
  const int64_t C = x.size(1);
  std::vector<double> cell;
  for (int64_t e = 0; e < C; ++e)
    cell.push_back(at(x, {b, e, r, c}));
  auto h = affine(p, "hidden", cell);
  for (size_t e = 0; e < h.size(); ++e)
    h[e] = std::max(0.0, (1 + gb[e]) * h[e] + gb[static_cast<size_t>(C) + e]);
  return h;
}

// out[b] = x[b] + v in every cell (v one value per channel).
inline void add_to_every_cell(torch::Tensor& out, const torch::Tensor& x, int64_t b,
                              const std::vector<double>& v) {
  for (int64_t e = 0; e < x.size(1); ++e)
    for (int64_t r = 0; r < x.size(2); ++r)
      for (int64_t c = 0; c < x.size(3); ++c)
        out[b][e][r][c] = at(x, {b, e, r, c}) + v[static_cast<size_t>(e)];
}

// A read-out whose write layer (zero at the start: the identity) is drawn at random, as after
// training, so that what it writes shows.
template <class Block>
Block with_write_drawn(Block block) {
  torch::NoGradGuard no_grad;
  block->write->weight.normal_();
  block->write->bias.normal_();
  return block;
}

}  // namespace glimpse::testing

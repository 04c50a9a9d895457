// What the loop-by-loop implementations of the fusion blocks' tests share: a block's weights in
// double, one element of a tensor, and one linear layer applied to a vector, element by element.
#pragma once

#include <torch/torch.h>

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

}  // namespace glimpse::testing

#include "glimpse/fusion/relation.h"

#include <stdexcept>
#include <string>

#include "glimpse/fusion/film.h"

namespace glimpse::fusion {

RelationBlockImpl::RelationBlockImpl(const RelationBlockOptions& o) : options(o) {
  if (o.pool < 1 || o.pool > 4)
    throw std::invalid_argument("relation block: pool must be 1..4, not " + std::to_string(o.pool));
  if (o.channels < 1 || o.condition_dim < 1 || o.heads < 1 || o.channels % o.heads != 0)
    throw std::invalid_argument(
        "relation block: channels and condition_dim must be at least 1 and heads must divide "
        "channels (" +
        std::to_string(o.channels) + " channels, " + std::to_string(o.heads) + " heads)");
  const int64_t z = o.channels + 2;
  AttentionSpec spec;
  spec.score = Score::kMultiHead;
  spec.use = Use::kPlain;  // multihead:H from the cells to the patches (the cells' own at P = 1)
  spec.heads = static_cast<int>(o.heads);
  attention = register_module(
      "attention",
      std::make_shared<Attention>(spec, AttentionDims{z, z, z, o.channels, o.channels}));
  combine = register_module("combine", torch::nn::Linear(o.channels + z, o.channels));
  to_film = register_module("to_film", torch::nn::Linear(o.condition_dim, 2 * o.channels));
}

torch::Tensor RelationBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& q) {
  return forward(x, q, nullptr);
}

torch::Tensor RelationBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& q,
                                         torch::Tensor* weights) {
  const int64_t c = options.channels;
  if (x.dim() != 4 || x.size(1) != c || q.dim() != 2 || q.size(0) != x.size(0) ||
      q.size(1) != options.condition_dim)
    throw std::invalid_argument("relation block: x must be [B, " + std::to_string(c) +
                                ", H, W] and q [B, " + std::to_string(options.condition_dim) + "]");
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  const auto coords = coordinate_channels(h, w, x.options()).expand({b, 2, h, w});
  const auto grid = torch::cat({x, coords}, 1);    // [B, C+2, H, W]
  const auto z = grid.flatten(2).transpose(1, 2);  // [B, N, C+2]
  auto p = z;
  if (options.pool > 1)  // ceil mode: a patch past the edge averages the cells it has
    p = torch::avg_pool2d(grid, options.pool, options.pool, 0, true).flatten(2).transpose(1, 2);
  auto out = attention->forward(z, p, p);
  if (weights)
    *weights = out.weights;
  const auto u = combine->forward(torch::cat({out.context, z}, 2));  // [B, N, C]
  const auto [gamma, beta] = film_parameters(to_film->forward(q), c);
  return x + torch::relu(film(u.transpose(1, 2).reshape({b, c, h, w}), gamma, beta));
}

}  // namespace glimpse::fusion

#include "glimpse/fusion/count.h"

#include <stdexcept>
#include <string>

#include "glimpse/fusion/film.h"

namespace glimpse::fusion {

CountReadoutImpl::CountReadoutImpl(const CountReadoutOptions& o) : options(o) {
  if (o.channels < 1 || o.condition_dim < 1 || o.maps < 1 || o.maps > 16)
    throw std::invalid_argument(
        "count read-out: channels and condition_dim must be at least 1 and maps 1..16 (" +
        std::to_string(o.maps) + " maps)");
  hidden = register_module("hidden", torch::nn::Linear(o.channels, o.channels));
  to_film = register_module("to_film", torch::nn::Linear(o.condition_dim, 2 * o.channels));
  density = register_module("density", torch::nn::Linear(o.channels, o.maps));
  write = register_module("write", torch::nn::Linear(o.maps, o.channels));
  torch::NoGradGuard no_grad;
  density->bias.fill_(-4.0);  // maps near zero at the start: counts of a few, not of N cells
  write->weight.zero_();      // the identity at the start: the grid as the blocks before gave it,
  write->bias.zero_();        // the counts written in as training finds them useful
}

torch::Tensor CountReadoutImpl::forward(const torch::Tensor& x, const torch::Tensor& q) {
  return forward(x, q, nullptr);
}

torch::Tensor CountReadoutImpl::forward(const torch::Tensor& x, const torch::Tensor& q,
                                        torch::Tensor* maps) {
  const int64_t c = options.channels;
  if (x.dim() != 4 || x.size(1) != c || q.dim() != 2 || q.size(0) != x.size(0) ||
      q.size(1) != options.condition_dim)
    throw std::invalid_argument("count read-out: x must be [B, " + std::to_string(c) +
                                ", H, W] and q [B, " + std::to_string(options.condition_dim) + "]");
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  const auto cells = x.flatten(2).transpose(1, 2);  // [B, N, C]
  const auto [gamma, beta] = film_parameters(to_film->forward(q), c);
  const auto hid = torch::relu(gamma.unsqueeze(1) * hidden->forward(cells) + beta.unsqueeze(1));
  const auto d = torch::softplus(density->forward(hid));  // [B, N, K]
  if (maps)
    *maps = d.transpose(1, 2).reshape({b, options.maps, h, w});
  const auto counts = d.sum(1);  // [B, K]
  return x + write->forward(counts).view({b, c, 1, 1});
}

}  // namespace glimpse::fusion

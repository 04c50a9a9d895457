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
  const auto hid = film_hidden(x, q, hidden, to_film, "count read-out").select(1, 0);  // [B, N, C]
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  const auto d = torch::softplus(density->forward(hid));  // [B, N, K]
  if (maps)
    *maps = d.transpose(1, 2).reshape({b, options.maps, h, w});
  const auto counts = d.sum(1);  // [B, K]
  return x + write->forward(counts).view({b, c, 1, 1});
}

}  // namespace glimpse::fusion

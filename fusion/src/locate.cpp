#include "glimpse/fusion/locate.h"

#include <stdexcept>
#include <string>

#include "glimpse/fusion/film.h"

namespace glimpse::fusion {

LocateReadoutImpl::LocateReadoutImpl(const LocateReadoutOptions& o) : options(o) {
  if (o.channels < 1 || o.condition_dim < 1 || o.glimpses < 1 || o.glimpses > 8)
    throw std::invalid_argument(
        "locate read-out: channels and condition_dim must be at least 1 and glimpses 1..8 (" +
        std::to_string(o.glimpses) + " glimpses)");
  hidden = register_module("hidden", torch::nn::Linear(o.channels, o.channels));
  const int64_t modulations = o.per_glimpse ? o.glimpses : 1;
  to_film =
      register_module("to_film", torch::nn::Linear(o.condition_dim, 2 * o.channels * modulations));
  score = register_module("score", torch::nn::Linear(o.channels, o.glimpses));
  write = register_module("write", torch::nn::Linear(2 * o.glimpses, o.channels));
  torch::NoGradGuard no_grad;
  write->weight.zero_();  // the identity at the start: the grid as the blocks before gave it,
  write->bias.zero_();    // the places written in as training finds them useful
}

torch::Tensor LocateReadoutImpl::forward(const torch::Tensor& x, const torch::Tensor& q) {
  return forward(x, q, nullptr);
}

torch::Tensor LocateReadoutImpl::scores(const torch::Tensor& x, const torch::Tensor& q) {
  const auto hid = film_hidden(x, q, hidden, to_film, "locate read-out");  // [B, G, N, C]
  if (!options.per_glimpse)
    return score->forward(hid.select(1, 0)).transpose(1, 2);
  const int64_t k = options.glimpses, c = options.channels;  // glimpse k scores its own h_k
  return (hid * score->weight.view({1, k, 1, c})).sum(3) + score->bias.view({1, k, 1});
}

torch::Tensor LocateReadoutImpl::forward(const torch::Tensor& x, const torch::Tensor& q,
                                         torch::Tensor* maps, torch::Tensor* places) {
  const int64_t c = options.channels, k = options.glimpses;
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  const auto alpha = torch::softmax(scores(x, q), 2);                                // [B, K, N]
  const auto centres = coordinate_channels(h, w, x.options()).view({2, h * w}).t();  // [N, 2]
  const auto where = torch::matmul(alpha, centres);                                  // [B, K, 2]
  if (maps)
    *maps = alpha.reshape({b, k, h, w});
  if (places)
    *places = where;
  return x + write->forward(where.reshape({b, 2 * k})).view({b, c, 1, 1});
}

}  // namespace glimpse::fusion

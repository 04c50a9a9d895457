#include "glimpse/fusion/locate.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "glimpse/fusion/film.h"

namespace glimpse::fusion {

LocateReadoutImpl::LocateReadoutImpl(const LocateReadoutOptions& o) : options(o) {
  if (o.channels < 1 || o.condition_dim < 1 || o.glimpses < 1 || o.glimpses > 8)
    throw std::invalid_argument(
        "locate read-out: channels and condition_dim must be at least 1 and glimpses 1..8 (" +
        std::to_string(o.glimpses) + " glimpses)");
  if (o.words && o.per_glimpse)
    throw std::invalid_argument(
        "locate read-out: words already give each glimpse its own modulation; per_glimpse is "
        "for glimpses modulated by the question vector");
  hidden = register_module("hidden", torch::nn::Linear(o.channels, o.channels));
  const int64_t modulations = o.per_glimpse ? o.glimpses : 1;  // words: one generator for all
  to_film =
      register_module("to_film", torch::nn::Linear(o.condition_dim, 2 * o.channels * modulations));
  if (o.compare < 0 || o.compare > 256)
    throw std::invalid_argument(
        "locate read-out: compare must be 0 (none) ..256 hidden units, not " +
        std::to_string(o.compare));
  score = register_module("score", torch::nn::Linear(o.channels, o.glimpses));
  if (o.compare > 0) {
    compare_in = register_module("compare_in", torch::nn::Linear(2 * o.glimpses, o.compare));
    compare_film =
        register_module("compare_film", torch::nn::Linear(o.condition_dim, 2 * o.compare));
  }
  const int64_t found = o.contents ? o.glimpses * o.channels : 0;
  write =
      register_module("write", torch::nn::Linear(2 * o.glimpses + o.compare + found, o.channels));
  if (o.word_order && !o.words)
    throw std::invalid_argument("locate read-out: word_order biases word glimpses; set words too");
  if (o.word_order)
    word_slopes =
        register_parameter("word_slopes", o.glimpses == 1 ? torch::zeros({1})
                                                          : torch::linspace(-2.0, 2.0, o.glimpses));
  if (o.words)
    word_score = register_module(
        "word_score",
        torch::nn::Linear(torch::nn::LinearOptions(o.condition_dim, o.glimpses).bias(false)));
  torch::NoGradGuard no_grad;
  write->weight.zero_();  // the identity at the start: the grid as the blocks before gave it,
  write->bias.zero_();    // the places written in as training finds them useful
}

torch::Tensor LocateReadoutImpl::forward(const torch::Tensor& x, const torch::Tensor& q) {
  return forward(x, q, nullptr);
}

torch::Tensor LocateReadoutImpl::forward(const torch::Tensor& x, const torch::Tensor& q,
                                         torch::Tensor* maps, torch::Tensor* places) {
  return forward(x, QuestionReading{q, {}, {}}, maps, places);
}

torch::Tensor LocateReadoutImpl::word_weights(const QuestionReading& r) {
  if (!options.words)
    throw std::invalid_argument("locate read-out: only word glimpses weigh the question's words");
  const auto& s = r.states;
  if (!s.defined() || !r.words.defined() || s.dim() != 3 || s.size(2) != options.condition_dim ||
      r.words.sizes() != s.sizes().slice(0, 2) || r.words.scalar_type() != torch::kBool ||
      !r.words.any(1).all().item<bool>())
    throw std::invalid_argument(
        "locate read-out: word glimpses need the question's states [B, T, " +
        std::to_string(options.condition_dim) + "] and its words [B, T] (bool, one at least)");
  auto u = word_score->forward(s).transpose(1, 2);  // [B, K, T]
  if (options.word_order) {
    const auto order = r.words.to(s.dtype()).cumsum(1) - 1;  // 0 at the first word  [B, T]
    const auto last = (order.amax(1, true)).clamp_min(1.0);
    u = u + word_slopes.view({1, -1, 1}) * (2 * order / last - 1).unsqueeze(1);
  }
  return torch::softmax(u.masked_fill(r.words.logical_not().unsqueeze(1), -INFINITY), 2);
}

torch::Tensor LocateReadoutImpl::conditions(const QuestionReading& r) {
  if (!options.words)
    return r.vector;
  return torch::matmul(word_weights(r), r.states);  // [B, K, D]
}

torch::Tensor LocateReadoutImpl::scores(const torch::Tensor& x, const QuestionReading& r) {
  const auto hid =
      film_hidden(x, conditions(r), hidden, to_film, "locate read-out");  // [B, G, N, C]
  if (!options.per_glimpse && !options.words)
    return score->forward(hid.select(1, 0)).transpose(1, 2);
  const int64_t k = options.glimpses, c = options.channels;  // glimpse k scores its own h_k
  return (hid * score->weight.view({1, k, 1, c})).sum(3) + score->bias.view({1, k, 1});
}

torch::Tensor LocateReadoutImpl::written(const torch::Tensor& places, const torch::Tensor& found,
                                         const torch::Tensor& q) {
  const auto z = places.reshape({places.size(0), 2 * options.glimpses});
  std::vector<torch::Tensor> read = {z};
  if (options.compare > 0) {
    const auto [gamma, beta] = film_parameters(compare_film->forward(q), options.compare);
    read.push_back(torch::relu(gamma * compare_in->forward(z) + beta));
  }
  if (options.contents)
    read.push_back(found.flatten(1));
  return write->forward(read.size() == 1 ? z : torch::cat(read, 1));
}

torch::Tensor LocateReadoutImpl::forward(const torch::Tensor& x, const QuestionReading& r,
                                         torch::Tensor* maps, torch::Tensor* places) {
  const int64_t c = options.channels, k = options.glimpses;
  const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
  const auto alpha = torch::softmax(scores(x, r), 2);                                // [B, K, N]
  const auto centres = coordinate_channels(h, w, x.options()).view({2, h * w}).t();  // [N, 2]
  const auto where = torch::matmul(alpha, centres);                                  // [B, K, 2]
  if (maps)
    *maps = alpha.reshape({b, k, h, w});
  if (places)
    *places = where;
  const auto found = options.contents  // [B, K, C]
                         ? torch::matmul(alpha, x.reshape({b, c, h * w}).transpose(1, 2))
                         : torch::Tensor();
  return x + written(where, found, r.vector).view({b, c, 1, 1});
}

}  // namespace glimpse::fusion

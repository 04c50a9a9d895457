#include "glimpse/fusion/film.h"

#include <stdexcept>
#include <string>

namespace glimpse::fusion {

namespace {

std::string shape(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i)
    s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

torch::Tensor film(const torch::Tensor& x, const torch::Tensor& gamma, const torch::Tensor& beta) {
  if (x.dim() != 4 || gamma.dim() != 2 || beta.sizes() != gamma.sizes() ||
      gamma.size(0) != x.size(0) || gamma.size(1) != x.size(1))
    throw std::invalid_argument("film: x must be [B, C, H, W] and gamma, beta [B, C]; got x " +
                                shape(x) + ", gamma " + shape(gamma) + ", beta " + shape(beta));
  return gamma.unsqueeze(-1).unsqueeze(-1) * x + beta.unsqueeze(-1).unsqueeze(-1);
}

torch::Tensor coordinate_channels(int64_t height, int64_t width, const torch::TensorOptions& o) {
  auto centres = [&](int64_t n) {
    return (torch::arange(n, o) * 2 + 1) / static_cast<double>(n) - 1;  // -1 + (2i + 1) / n
  };
  const auto y = centres(height).view({height, 1}).expand({height, width});
  const auto x = centres(width).view({1, width}).expand({height, width});
  return torch::stack({x, y}).unsqueeze(0);
}

FilmBlockImpl::FilmBlockImpl(const FilmBlockOptions& o) : options(o) {
  if (o.channels < 1 || o.condition_dim < 1)
    throw std::invalid_argument("film block: channels and condition_dim must be at least 1");
  if (o.kernel != 1 && o.kernel != 3)
    throw std::invalid_argument("film block: kernel must be 1 or 3, not " +
                                std::to_string(o.kernel));
  const int64_t extra = o.coords ? 2 : 0;
  in = register_module(
      "in", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.channels + extra, o.channels, 1)));
  mid = register_module(
      "mid", torch::nn::Conv2d(
                 torch::nn::Conv2dOptions(o.channels, o.channels, o.kernel).padding(o.kernel / 2)));
  to_film = register_module("to_film", torch::nn::Linear(o.condition_dim, 2 * o.channels));
}

std::pair<torch::Tensor, torch::Tensor> film_parameters(const torch::Tensor& generated,
                                                        int64_t channels) {
  return {1 + generated.narrow(1, 0, channels), generated.narrow(1, channels, channels)};
}

torch::Tensor film_hidden(const torch::Tensor& x, const torch::Tensor& q, torch::nn::Linear& hidden,
                          torch::nn::Linear& to_film, const std::string& who) {
  const int64_t c = hidden->options.in_features(), d = to_film->options.in_features();
  const bool own = q.dim() == 3;  // one condition per group
  if (x.dim() != 4 || x.size(1) != c || (q.dim() != 2 && !own) || q.size(0) != x.size(0) ||
      q.size(-1) != d || (own && to_film->options.out_features() != 2 * c))
    throw std::invalid_argument(who + ": x must be [B, " + std::to_string(c) +
                                ", H, W] and q [B, " + (own ? "G, " : "") + std::to_string(d) +
                                "]; got x " + shape(x) + ", q " + shape(q));
  const int64_t b = x.size(0);
  const int64_t groups = own ? q.size(1) : to_film->options.out_features() / (2 * c);
  const auto cells = hidden->forward(x.flatten(2).transpose(1, 2)).unsqueeze(1);  // [B, 1, N, C]
  const auto generated = to_film->forward(q).reshape({b * groups, 2 * c});
  const auto [gamma, beta] = film_parameters(generated, c);  // each [B·G, C]
  return torch::relu(gamma.view({b, groups, 1, c}) * cells + beta.view({b, groups, 1, c}));
}

std::pair<torch::Tensor, torch::Tensor> FilmBlockImpl::modulation(const torch::Tensor& q) {
  return film_parameters(to_film->forward(q), options.channels);
}

torch::Tensor FilmBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& q) {
  if (x.dim() != 4 || x.size(1) != options.channels || q.dim() != 2 || q.size(0) != x.size(0) ||
      q.size(1) != options.condition_dim)
    throw std::invalid_argument("film block: x must be [B, " + std::to_string(options.channels) +
                                ", H, W] and q [B, " + std::to_string(options.condition_dim) +
                                "]; got x " + shape(x) + ", q " + shape(q));
  auto input = x;
  if (options.coords)
    input = torch::cat(
        {x, coordinate_channels(x.size(2), x.size(3), x.options()).expand({x.size(0), 2, -1, -1})},
        1);
  const auto h = torch::relu(in->forward(input));
  const auto [gamma, beta] = modulation(q);
  return x + torch::relu(film(mid->forward(h), gamma, beta));
}

}  // namespace glimpse::fusion

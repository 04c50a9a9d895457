// FiLM: the modulation and the FiLMed residual block against an independent loop-by-loop
// implementation, their gradients against finite differences, and the refusals.
#include "glimpse/fusion/film.h"

#include <gtest/gtest.h>

#include "block_checks.h"

#include <cmath>
#include <vector>

namespace glimpse::fusion {
namespace {

TEST(Film, ScalesAndShiftsEachChannelOfEachItem) {
  torch::manual_seed(3);
  const auto x = torch::randn({2, 3, 2, 4});
  const auto gamma = torch::randn({2, 3});
  const auto beta = torch::randn({2, 3});
  const auto out = film(x, gamma, beta);
  ASSERT_EQ(out.sizes(), x.sizes());
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 4; ++j)
          EXPECT_NEAR(
              out[b][c][i][j].item<float>(),
              gamma[b][c].item<float>() * x[b][c][i][j].item<float>() + beta[b][c].item<float>(),
              1e-6);
}

TEST(Film, CoordinatesAreTheCellCentresFromMinusOneToOne) {
  const auto c = coordinate_channels(2, 4, torch::kFloat);
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{1, 2, 2, 4}));
  const std::vector<float> xs = {-0.75f, -0.25f, 0.25f, 0.75f};
  for (int64_t j = 0; j < 4; ++j) {
    EXPECT_FLOAT_EQ(c[0][0][1][j].item<float>(), xs[static_cast<size_t>(j)]);
    EXPECT_FLOAT_EQ(c[0][1][0][j].item<float>(), -0.5f);
    EXPECT_FLOAT_EQ(c[0][1][1][j].item<float>(), 0.5f);
  }
}

// The block written out element by element, in double, from its own weights.
torch::Tensor block_by_loops(FilmBlock& block, const torch::Tensor& x, const torch::Tensor& q) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), D = q.size(1);
  const int64_t pad = block->options.kernel / 2;
  const auto xd = x.to(torch::kDouble), qd = q.to(torch::kDouble);
  const auto w_in = block->in->weight.to(torch::kDouble), b_in = block->in->bias.to(torch::kDouble);
  const auto w_mid = block->mid->weight.to(torch::kDouble);
  const auto b_mid = block->mid->bias.to(torch::kDouble);
  const auto w_f = block->to_film->weight.to(torch::kDouble);
  const auto b_f = block->to_film->bias.to(torch::kDouble);
  auto at = [](const torch::Tensor& t, std::vector<int64_t> i) {
    auto v = t;
    for (auto k : i)
      v = v[k];
    return v.item<double>();
  };
  auto input = [&](int64_t b, int64_t c, int64_t y, int64_t xx) {
    if (c < C)
      return at(xd, {b, c, y, xx});
    return c == C ? -1 + (2.0 * xx + 1) / W : -1 + (2.0 * y + 1) / H;  // x, then y
  };
  std::vector<double> h(static_cast<size_t>(B * C * H * W));
  auto hi = [&](int64_t b, int64_t c, int64_t y, int64_t xx) -> double& {
    return h[static_cast<size_t>(((b * C + c) * H + y) * W + xx)];
  };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t o = 0; o < C; ++o)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < W; ++xx) {
          double s = at(b_in, {o});
          for (int64_t i = 0; i < C + 2; ++i)
            s += at(w_in, {o, i, 0, 0}) * input(b, i, y, xx);
          hi(b, o, y, xx) = std::max(0.0, s);
        }
  auto out = torch::zeros({B, C, H, W}, torch::kDouble);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t o = 0; o < C; ++o) {
      double dg = at(b_f, {o}), beta = at(b_f, {C + o});
      for (int64_t d = 0; d < D; ++d) {
        dg += at(w_f, {o, d}) * at(qd, {b, d});
        beta += at(w_f, {C + o, d}) * at(qd, {b, d});
      }
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < W; ++xx) {
          double m = at(b_mid, {o});
          for (int64_t i = 0; i < C; ++i)
            for (int64_t dy = -pad; dy <= pad; ++dy)
              for (int64_t dx = -pad; dx <= pad; ++dx)
                if (y + dy >= 0 && y + dy < H && xx + dx >= 0 && xx + dx < W)
                  m += at(w_mid, {o, i, dy + pad, dx + pad}) * hi(b, i, y + dy, xx + dx);
          out[b][o][y][xx] = at(xd, {b, o, y, xx}) + std::max(0.0, (1 + dg) * m + beta);
        }
    }
  return out;
}

// A random block of this kernel size on random input, against the loops.
void expect_block_matches_loops(int64_t kernel, uint64_t seed) {
  torch::manual_seed(seed);
  FilmBlock block(FilmBlockOptions{3, 4, true, kernel});
  EXPECT_EQ(block->mid->weight.sizes(), (std::vector<int64_t>{3, 3, kernel, kernel}));
  const auto x = torch::randn({2, 3, 3, 4});
  const auto q = torch::randn({2, 4});
  const auto out = block->forward(x, q);
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), block_by_loops(block, x, q), 1e-5, 1e-5));
}

TEST(FilmBlock, MatchesTheLoopByLoopBlock) {
  expect_block_matches_loops(3, 5);
}

TEST(FilmBlock, AOneByOneKernelMatchesTheLoopByLoopBlock) {
  expect_block_matches_loops(1, 15);
}

TEST(FilmBlock, OneItemDoesNotDependOnTheOthers) {
  torch::manual_seed(6);
  FilmBlock block(FilmBlockOptions{4, 3, true});
  testing::expect_items_independent_and_question_matters(block, torch::randn({3, 4, 5, 5}),
                                                         torch::randn({3, 3}));
}

TEST(FilmBlock, GradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(7);
  FilmBlock block(FilmBlockOptions{2, 3, true});
  testing::expect_block_gradients_match_finite_differences(block, {"mid.weight", "to_film.weight"});
}

TEST(FilmBlock, RefusesWrongShapesNamingThem) {
  FilmBlock block(FilmBlockOptions{3, 4, false});
  EXPECT_EQ(testing::invalid_argument_of([&] {
              block->forward(torch::zeros({2, 5, 3, 3}), torch::zeros({2, 4}));
            }),
            "film block: x must be [B, 3, H, W] and q [B, 4]; got x [2, 5, 3, 3], q [2, 4]");
  EXPECT_THROW(film(torch::zeros({2, 3, 1, 1}), torch::zeros({2, 3}), torch::zeros({3, 2})),
               std::invalid_argument);
}

}  // namespace
}  // namespace glimpse::fusion

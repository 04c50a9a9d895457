// The count read-out against an independent loop-by-loop implementation (each cell's density
// written out, summed, written into every cell), its gradients against finite differences, what
// it is for (the same object twice counts twice, where attention's mean would not change), and
// the refusals.
#include "glimpse/fusion/count.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "block_checks.h"
#include "loop_helpers.h"

namespace glimpse::fusion {
namespace {

using testing::add_to_every_cell;
using testing::affine;
using testing::at;
using testing::film_hidden_by_loops;
using testing::Params;
using testing::params_in_double;
using testing::row;
using testing::with_write_drawn;

// The read-out element by element, in double, from its own weights: the output and the maps.
std::pair<torch::Tensor, torch::Tensor> readout_by_loops(CountReadout& block,
                                                         const torch::Tensor& x,
                                                         const torch::Tensor& q) {
  const auto p = params_in_double(block);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = block->options.maps;
  auto out = torch::zeros({B, C, H, W}, torch::kDouble);
  auto maps = torch::zeros({B, K, H, W}, torch::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    const auto gb = affine(p, "to_film", row(q, b));
    std::vector<double> counts(static_cast<size_t>(K), 0.0);
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c) {
        const auto h = film_hidden_by_loops(p, x, b, r, c, gb);
        const auto logits = affine(p, "density", h);
        for (int64_t k = 0; k < K; ++k) {
          const double d = std::log1p(std::exp(logits[k]));  // softplus
          maps[b][k][r][c] = d;
          counts[k] += d;
        }
      }
    add_to_every_cell(out, x, b, affine(p, "write", counts));
  }
  return {out, maps};
}

CountReadout writing(const CountReadoutOptions& o) {
  return with_write_drawn(CountReadout(o));
}

TEST(CountReadout, MatchesTheLoopByLoopReadout) {
  torch::manual_seed(31);
  auto block = writing(CountReadoutOptions{4, 3, 2});
  const auto x = torch::randn({2, 4, 2, 3});
  const auto q = torch::randn({2, 3});
  torch::Tensor maps;
  const auto out = block->forward(x, q, &maps);
  ASSERT_EQ(out.sizes(), x.sizes());
  ASSERT_EQ(maps.sizes(), (std::vector<int64_t>{2, 2, 2, 3}));
  const auto [want, want_maps] = readout_by_loops(block, x, q);
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), want, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(maps.to(torch::kDouble), want_maps, 1e-6, 1e-6));
  EXPECT_GE(maps.min().item<float>(), 0.0f);
}

// The maps start near zero (density bias -4): 6 cells count about 6 · softplus(-4) ≈ 0.109,
// a little above or below, whatever the cells hold; and the read-out starts as the identity.
TEST(CountReadout, StartsAsTheIdentityWithSmallCounts) {
  torch::manual_seed(32);
  CountReadout block(CountReadoutOptions{4, 3, 2});
  EXPECT_TRUE(torch::allclose(block->density->bias, torch::full({2}, -4.0)));
  const auto x = torch::randn({2, 4, 2, 3});
  EXPECT_TRUE(torch::equal(block->forward(x, torch::randn({2, 3})), x));
  torch::Tensor maps;
  block->forward(torch::zeros({1, 4, 2, 3}), torch::zeros({1, 3}), &maps);
  const double count = maps.sum({2, 3})[0][0].item<double>();
  const double softplus = std::log1p(std::exp(-4.0));
  EXPECT_GT(count, 6 * softplus * 0.2);
  EXPECT_LT(count, 6 * softplus * 5);
}

TEST(CountReadout, OneItemDoesNotDependOnTheOthersAndTheQuestionMatters) {
  torch::manual_seed(33);
  auto block = writing(CountReadoutOptions{4, 3, 2});
  testing::expect_items_independent_and_question_matters(block, torch::randn({3, 4, 3, 3}),
                                                         torch::randn({3, 3}));
}

// What it is for: one object or two of the same give a weighted mean of the same cells (what
// attention reads), but not the same counts. Here the density is 1 on a cell whose channel 0 is
// on and 0 elsewhere (softplus saturates), so the count is the number of such cells, and every
// cell receives it.
TEST(CountReadout, TheSameObjectTwiceCountsTwice) {
  CountReadout block(CountReadoutOptions{2, 1, 1});
  {
    torch::NoGradGuard no_grad;
    for (auto& t : block->parameters())
      t.zero_();
    block->hidden->weight[0][0] = 1.0;  // h_0 = x_0
    block->density->weight[0][0] = 40.0;
    block->density->bias.fill_(-20.0);      // d = softplus(40 x_0 - 20): 0 at x_0 = 0, 20 at 1
    block->write->weight[1][0] = 1.0 / 20;  // channel 1 gets count / 20
  }
  auto one = torch::zeros({1, 2, 4, 4});
  one[0][0][1][1] = 1.0;
  auto two = one.clone();
  two[0][0][2][3] = 1.0;
  const auto q = torch::zeros({1, 1});
  const auto a = block->forward(one, q), b = block->forward(two, q);
  EXPECT_NEAR(a[0][1][0][0].item<double>(), 1.0, 1e-4);
  EXPECT_NEAR(b[0][1][0][0].item<double>(), 2.0, 1e-4);
  EXPECT_NEAR(b[0][1][3][3].item<double>(), 2.0, 1e-4) << "every cell is told the count";
}

TEST(CountReadout, GradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(34);
  auto block = writing(CountReadoutOptions{4, 3, 2});
  testing::expect_block_gradients_match_finite_differences(
      block, {"hidden.weight", "to_film.weight", "density.weight", "density.bias", "write.weight"});
}

TEST(CountReadout, RefusesWrongShapesAndMapCounts) {
  CountReadout block(CountReadoutOptions{4, 3, 2});
  EXPECT_EQ(testing::invalid_argument_of([&] {
              block->forward(torch::zeros({2, 4, 3, 3}), torch::zeros({2, 5}));
            }),
            "count read-out: x must be [B, 4, H, W] and q [B, 3]; got x [2, 4, 3, 3], q [2, 5]");
  EXPECT_EQ(testing::invalid_argument_of([&] {
              CountReadout(CountReadoutOptions{4, 3, 17});
            }),
            "count read-out: channels and condition_dim must be at least 1 and maps 1..16 "
            "(17 maps)");
}

}  // namespace
}  // namespace glimpse::fusion

// The locate read-out against an independent loop-by-loop implementation (each cell's score, the
// softmax over the cells, the mean place, written into every cell), its gradients against finite
// differences, what it is for (two objects' places, and which is left of which, from any cell),
// and the refusals.
#include "glimpse/fusion/locate.h"

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
using testing::params_in_double;
using testing::row;
using testing::with_write_drawn;

// The read-out element by element, in double, from its own weights: the output and the places.
// With per_glimpse, glimpse k reads the k-th [Δγ; β] of to_film's outputs.
std::pair<torch::Tensor, torch::Tensor> readout_by_loops(LocateReadout& block,
                                                         const torch::Tensor& x,
                                                         const torch::Tensor& q) {
  const auto p = params_in_double(block);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = block->options.glimpses;
  const bool own = block->options.per_glimpse;
  auto out = torch::zeros({B, C, H, W}, torch::kDouble);
  auto places = torch::zeros({B, K, 2}, torch::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    const auto gb = affine(p, "to_film", row(q, b));
    std::vector<std::vector<double>> scores;  // [cell][k], cells row by row
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c) {
        std::vector<double> s(static_cast<size_t>(K));
        for (int64_t k = 0; k < K; ++k) {
          const auto from = gb.begin() + (own ? 2 * C * k : 0);
          const std::vector<double> gk(from, from + 2 * C);
          s[static_cast<size_t>(k)] =
              affine(p, "score", film_hidden_by_loops(p, x, b, r, c, gk))[static_cast<size_t>(k)];
        }
        scores.push_back(s);
      }
    std::vector<double> where;  // cx_1, cy_1, cx_2, …
    for (int64_t k = 0; k < K; ++k) {
      double total = 0, cx = 0, cy = 0;
      for (const auto& s : scores)
        total += std::exp(s[k]);
      for (int64_t r = 0; r < H; ++r)
        for (int64_t c = 0; c < W; ++c) {
          const double a = std::exp(scores[r * W + c][k]) / total;
          cx += a * (-1.0 + (2.0 * c + 1) / W);
          cy += a * (-1.0 + (2.0 * r + 1) / H);
        }
      places[b][k][0] = cx;
      places[b][k][1] = cy;
      where.push_back(cx);
      where.push_back(cy);
    }
    add_to_every_cell(out, x, b, affine(p, "write", where));
  }
  return {out, places};
}

LocateReadout writing(const LocateReadoutOptions& o) {
  return with_write_drawn(LocateReadout(o));
}

class LocateForms : public ::testing::TestWithParam<bool> {};  // per_glimpse or one modulation

TEST_P(LocateForms, MatchesTheLoopByLoopReadout) {
  torch::manual_seed(41);
  auto block = writing(LocateReadoutOptions{4, 3, 2, GetParam()});
  EXPECT_EQ(block->to_film->options.out_features(), GetParam() ? 16 : 8);
  const auto x = torch::randn({2, 4, 2, 3});
  const auto q = torch::randn({2, 3});
  torch::Tensor maps, places;
  const auto out = block->forward(x, q, &maps, &places);
  ASSERT_EQ(out.sizes(), x.sizes());
  ASSERT_EQ(maps.sizes(), (std::vector<int64_t>{2, 2, 2, 3}));
  ASSERT_EQ(places.sizes(), (std::vector<int64_t>{2, 2, 2}));
  const auto [want, want_places] = readout_by_loops(block, x, q);
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), want, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(places.to(torch::kDouble), want_places, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(maps.sum({2, 3}), torch::ones({2, 2}), 1e-5, 1e-5))
      << "each glimpse's map sums to 1";
}

TEST(LocateReadout, StartsAsTheIdentity) {
  torch::manual_seed(42);
  LocateReadout block(LocateReadoutOptions{4, 3, 2, false});
  const auto x = torch::randn({2, 4, 2, 3});
  EXPECT_TRUE(torch::equal(block->forward(x, torch::randn({2, 3})), x));
}

TEST(LocateReadout, OneItemDoesNotDependOnTheOthersAndTheQuestionMatters) {
  torch::manual_seed(43);
  auto block = writing(LocateReadoutOptions{4, 3, 2, false});
  testing::expect_items_independent_and_question_matters(block, torch::randn({3, 4, 3, 3}),
                                                         torch::randn({3, 3}));
}

// What it is for: glimpse 1 finds the cell whose channel 0 is on, glimpse 2 the one whose
// channel 1 is on (scores of 40 against 0: the softmax is one-hot), and every cell is told their
// places; channel 2 receives cx_1 − cx_2, which is negative exactly when the first object is left
// of the second.
TEST(LocateReadout, TellsEveryCellWhereTheTwoObjectsAre) {
  LocateReadout block(LocateReadoutOptions{3, 1, 2, false});
  {
    torch::NoGradGuard no_grad;
    for (auto& t : block->parameters())
      t.zero_();
    block->hidden->weight[0][0] = 1.0;  // h_0 = x_0, h_1 = x_1
    block->hidden->weight[1][1] = 1.0;
    block->score->weight[0][0] = 40.0;
    block->score->weight[1][1] = 40.0;
    block->write->weight[2][0] = 1.0;   // + cx_1
    block->write->weight[2][2] = -1.0;  // − cx_2
  }
  auto x = torch::zeros({2, 3, 4, 4});
  x[0][0][1][0] = 1.0;  // scene 0: object 1 in column 0, object 2 in column 3
  x[0][1][2][3] = 1.0;
  x[1][0][0][2] = 1.0;  // scene 1: object 1 in column 2, object 2 in column 1
  x[1][1][3][1] = 1.0;
  torch::Tensor places;
  const auto y = block->forward(x, torch::zeros({2, 1}), nullptr, &places);
  EXPECT_NEAR(places[0][0][0].item<double>(), -0.75, 1e-4);  // column 0 of 4: cx = -1 + 1/4
  EXPECT_NEAR(places[0][0][1].item<double>(), -0.25, 1e-4);  // row 1
  EXPECT_NEAR(places[0][1][0].item<double>(), 0.75, 1e-4);
  EXPECT_NEAR(y[0][2][3][3].item<double>(), -1.5, 1e-4) << "left of: negative, in every cell";
  EXPECT_NEAR(y[0][2][0][0].item<double>(), -1.5, 1e-4);
  EXPECT_NEAR(y[1][2][3][3].item<double>(), 0.5, 1e-4) << "right of: positive";
}

TEST_P(LocateForms, GradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(44);
  auto block = writing(LocateReadoutOptions{4, 3, 2, GetParam()});
  testing::expect_block_gradients_match_finite_differences(
      block, {"hidden.weight", "to_film.weight", "score.weight", "score.bias", "write.weight"});
}

INSTANTIATE_TEST_SUITE_P(LocateReadout, LocateForms, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "PerGlimpse" : "Shared"; });

// What per_glimpse is for: both glimpses score with the same weights, and the question alone
// decides which object each finds. Object A (channel 0) is in cell (0, 0), B (channel 1) in
// cell (3, 3); question [1, 0] turns glimpse 1's γ off on channel 1 and glimpse 2's on channel 0
// (glimpse 1 finds A, glimpse 2 finds B), question [0, 1] the other way round.
TEST(LocateReadout, PerGlimpseTheQuestionSendsEachGlimpseToItsOwnObject) {
  LocateReadout block(LocateReadoutOptions{2, 2, 2, true});
  {
    torch::NoGradGuard no_grad;
    for (auto& t : block->parameters())
      t.zero_();
    block->hidden->weight[0][0] = block->hidden->weight[1][1] = 1.0;
    block->score->weight.fill_(40.0);  // [Δγ_1; β_1; Δγ_2; β_2], each of 2
    block->to_film->weight[1][0] = block->to_film->weight[4][0] = -1.0;
    block->to_film->weight[0][1] = block->to_film->weight[5][1] = -1.0;
  }
  auto x = torch::zeros({2, 2, 4, 4});
  for (int64_t b = 0; b < 2; ++b)
    x[b][0][0][0] = x[b][1][3][3] = 1.0;
  torch::Tensor places;
  block->forward(x, torch::tensor({{1.0F, 0.0F}, {0.0F, 1.0F}}), nullptr, &places);
  EXPECT_NEAR(places[0][0][0].item<double>(), -0.75, 1e-4) << "question 1, glimpse 1: A";
  EXPECT_NEAR(places[0][1][0].item<double>(), 0.75, 1e-4) << "question 1, glimpse 2: B";
  EXPECT_NEAR(places[1][0][1].item<double>(), 0.75, 1e-4) << "question 2, glimpse 1: B";
  EXPECT_NEAR(places[1][1][1].item<double>(), -0.75, 1e-4) << "question 2, glimpse 2: A";
}

TEST(LocateReadout, RefusesWrongShapesAndGlimpseCounts) {
  LocateReadout block(LocateReadoutOptions{4, 3, 2, false});
  EXPECT_EQ(testing::invalid_argument_of([&] {
              block->forward(torch::zeros({2, 4, 3, 3}), torch::zeros({2, 5}));
            }),
            "locate read-out: x must be [B, 4, H, W] and q [B, 3]; got x [2, 4, 3, 3], q [2, 5]");
  EXPECT_EQ(testing::invalid_argument_of([&] {
              LocateReadout(LocateReadoutOptions{4, 3, 9, false});
            }),
            "locate read-out: channels and condition_dim must be at least 1 and glimpses 1..8 "
            "(9 glimpses)");
}

}  // namespace
}  // namespace glimpse::fusion

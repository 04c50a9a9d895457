// The relational block against an independent loop-by-loop implementation (every cell's
// attention over every other cell, written out), its gradients against finite differences,
// what it is for (a cell learns where another is), and the refusals.
#include "glimpse/fusion/relation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "block_checks.h"
#include "loop_helpers.h"

namespace glimpse::fusion {
namespace {

using testing::affine;
using testing::at;
using testing::Params;
using testing::params_in_double;

// The block element by element, in double, from its own weights.
torch::Tensor block_by_loops(RelationBlock& block, const torch::Tensor& x, const torch::Tensor& q) {
  const auto p = params_in_double(block);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), N = H * W;
  const int64_t heads = block->options.heads, d = C / heads;
  auto out = torch::zeros({B, C, H, W}, torch::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<std::vector<double>> z(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) {
      const int64_t row = n / W, col = n % W;
      for (int64_t c = 0; c < C; ++c)
        z[static_cast<size_t>(n)].push_back(at(x, {b, c, row, col}));
      z[static_cast<size_t>(n)].push_back(-1 + (2.0 * col + 1) / W);
      z[static_cast<size_t>(n)].push_back(-1 + (2.0 * row + 1) / H);
    }
    // The patches: each the mean of the cells of its P×P square that lie on the grid.
    const int64_t P = block->options.pool, PH = (H + P - 1) / P, PW = (W + P - 1) / P;
    std::vector<std::vector<double>> patches;
    for (int64_t pr = 0; pr < PH; ++pr)
      for (int64_t pc = 0; pc < PW; ++pc) {
        std::vector<double> mean(static_cast<size_t>(C + 2), 0.0);
        int cells = 0;
        for (int64_t r = pr * P; r < std::min(H, (pr + 1) * P); ++r)
          for (int64_t c = pc * P; c < std::min(W, (pc + 1) * P); ++c, ++cells)
            for (int64_t e = 0; e < C + 2; ++e)
              mean[e] += z[static_cast<size_t>(r * W + c)][e];
        for (auto& m : mean)
          m /= cells;
        patches.push_back(mean);
      }
    const int64_t M = PH * PW;
    std::vector<std::vector<double>> qs, ks, vs;
    for (const auto& zn : z)
      qs.push_back(affine(p, "attention.w_q", zn));
    for (const auto& pm : patches) {
      ks.push_back(affine(p, "attention.w_k", pm));
      vs.push_back(affine(p, "attention.w_v", pm));
    }
    std::vector<double> question;
    for (int64_t k = 0; k < q.size(1); ++k)
      question.push_back(at(q, {b, k}));
    const auto gb = affine(p, "to_film", question);
    for (int64_t i = 0; i < N; ++i) {
      std::vector<double> heads_out(static_cast<size_t>(C), 0.0);
      for (int64_t h = 0; h < heads; ++h) {
        std::vector<double> s(static_cast<size_t>(M));
        double most = -1e300, total = 0;
        for (int64_t j = 0; j < M; ++j) {
          double dot = 0;
          for (int64_t e = h * d; e < (h + 1) * d; ++e)
            dot += qs[i][e] * ks[j][e];
          s[j] = dot / std::sqrt(double(d));
          most = std::max(most, s[j]);
        }
        for (int64_t j = 0; j < M; ++j)
          total += s[j] = std::exp(s[j] - most);
        for (int64_t j = 0; j < M; ++j)
          for (int64_t e = h * d; e < (h + 1) * d; ++e)
            heads_out[e] += s[j] / total * vs[j][e];
      }
      auto both = affine(p, "attention.w_o", heads_out);
      both.insert(both.end(), z[i].begin(), z[i].end());
      const auto u = affine(p, "combine", both);
      for (int64_t c = 0; c < C; ++c) {
        const double y = std::max(0.0, (1 + gb[c]) * u[c] + gb[C + c]);
        out[b][c][i / W][i % W] = at(x, {b, c, i / W, i % W}) + y;
      }
    }
  }
  return out;
}

TEST(RelationBlock, MatchesTheLoopByLoopBlock) {
  torch::manual_seed(21);
  RelationBlock block(RelationBlockOptions{4, 3, 2});
  const auto x = torch::randn({2, 4, 2, 3});
  const auto q = torch::randn({2, 3});
  torch::Tensor weights;
  const auto out = block->forward(x, q, &weights);
  ASSERT_EQ(out.sizes(), x.sizes());
  ASSERT_EQ(weights.sizes(), (std::vector<int64_t>{2, 2, 6, 6}));
  EXPECT_TRUE(torch::allclose(weights.sum(-1), torch::ones({2, 2, 6}), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), block_by_loops(block, x, q), 1e-5, 1e-5));
}

TEST(RelationBlock, WithPatchesMatchesTheLoopByLoopBlock) {
  torch::manual_seed(25);
  RelationBlock block(RelationBlockOptions{4, 3, 2, 2});  // a 3x5 grid: 2x3 patches, 4 partial
  const auto x = torch::randn({2, 4, 3, 5});
  const auto q = torch::randn({2, 3});
  torch::Tensor weights;
  const auto out = block->forward(x, q, &weights);
  ASSERT_EQ(weights.sizes(), (std::vector<int64_t>{2, 2, 15, 6}));
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), block_by_loops(block, x, q), 1e-5, 1e-5));
}

TEST(RelationBlock, OneItemDoesNotDependOnTheOthersAndTheQuestionMatters) {
  torch::manual_seed(22);
  RelationBlock block(RelationBlockOptions{4, 3, 2});
  testing::expect_items_independent_and_question_matters(block, torch::randn({3, 4, 3, 3}),
                                                         torch::randn({3, 3}));
}

// What the block is for: a cell's output depends on a far cell (beyond any convolution's reach
// in one block), and on where that cell is.
TEST(RelationBlock, ACellSeesAFarCell) {
  torch::manual_seed(23);
  RelationBlock block(RelationBlockOptions{4, 3, 2, 2});
  auto x = torch::zeros({1, 4, 8, 8});
  const auto q = torch::randn({1, 3});
  const auto base = block->forward(x, q);
  x[0][0][7][7] = 5.0;  // an object in the far corner
  const auto moved = block->forward(x, q);
  EXPECT_GT((moved - base)[0].select(1, 0).select(1, 0).abs().max().item<float>(), 1e-4f)
      << "cell (0, 0) must change when cell (7, 7) does";
}

TEST(RelationBlock, GradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(24);
  RelationBlock block(RelationBlockOptions{4, 3, 2, 2});
  testing::expect_block_gradients_match_finite_differences(
      block, {"attention.w_q.weight", "attention.w_v.weight", "combine.weight", "to_film.weight"});
}

TEST(RelationBlock, RefusesWrongShapesAndHeadsThatDoNotDivide) {
  RelationBlock block(RelationBlockOptions{4, 3, 2});
  EXPECT_EQ(testing::invalid_argument_of([&] {
              block->forward(torch::zeros({2, 5, 3, 3}), torch::zeros({2, 3}));
            }),
            "relation block: x must be [B, 4, H, W] and q [B, 3]");
  EXPECT_EQ(testing::invalid_argument_of([&] {
              RelationBlock(RelationBlockOptions{6, 3, 4});
            }),
            "relation block: channels and condition_dim must be at least 1 and heads must "
            "divide channels (6 channels, 4 heads)");
  EXPECT_EQ(testing::invalid_argument_of([&] {
              RelationBlock(RelationBlockOptions{4, 3, 2, 5});
            }),
            "relation block: pool must be 1..4, not 5");
}

}  // namespace
}  // namespace glimpse::fusion

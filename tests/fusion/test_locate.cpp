// The locate read-out against an independent loop-by-loop implementation (each cell's score, the
// softmax over the cells, the mean place, written into every cell), its gradients against finite
// differences, what it is for (two objects' places, and which is left of which, from any cell),
// and the refusals.
#include "glimpse/fusion/locate.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// Per item and glimpse, the [Δγ; β] the glimpse's hidden layer is modulated by.
using Modulations = std::vector<std::vector<std::vector<double>>>;

// From the question vector: glimpse k reads the k-th [Δγ; β] of to_film's outputs with
// per_glimpse, the only one without.
Modulations modulations_from_vector(LocateReadout& block, const torch::Tensor& q) {
  const auto p = params_in_double(block);
  const int64_t C = block->options.channels, K = block->options.glimpses;
  Modulations out;
  for (int64_t b = 0; b < q.size(0); ++b) {
    const auto gb = affine(p, "to_film", row(q, b));
    out.emplace_back();
    for (int64_t k = 0; k < K; ++k) {
      const auto from = gb.begin() + (block->options.per_glimpse ? 2 * C * k : 0);
      out.back().emplace_back(from, from + 2 * C);
    }
  }
  return out;
}

// Glimpse k's weights over positions 0..T-1 of item b: a softmax of u_k · s_t over the words,
// plus a_k τ_t with word_order (τ from -1 at the item's first word to 1 at its last).
std::vector<double> word_weights_by_loops(const testing::Params& p, const QuestionReading& r,
                                          int64_t b, int64_t k) {
  const int64_t T = r.states.size(1), D = r.states.size(2);
  std::vector<double> e(static_cast<size_t>(T), 0.0);
  std::vector<int64_t> word_at;
  for (int64_t t = 0; t < T; ++t)
    if (r.words[b][t].item<bool>())
      word_at.push_back(t);
  double total = 0;
  for (size_t n = 0; n < word_at.size(); ++n) {
    const int64_t t = word_at[n];
    double u = 0;
    for (int64_t d = 0; d < D; ++d)
      u += at(p.at("word_score.weight"), {k, d}) * at(r.states, {b, t, d});
    if (p.count("word_slopes"))
      u += at(p.at("word_slopes"), {k}) *
           (word_at.size() == 1 ? -1.0 : 2.0 * n / static_cast<double>(word_at.size() - 1) - 1.0);
    e[static_cast<size_t>(t)] = std::exp(u);
    total += std::exp(u);
  }
  for (auto& v : e)
    v /= total;
  return e;
}

// From the words: glimpse k's [Δγ; β] = to_film(Σ_t ω_kt s_t).
Modulations modulations_from_words(LocateReadout& block, const QuestionReading& r) {
  const auto p = params_in_double(block);
  const int64_t T = r.states.size(1), D = r.states.size(2);
  Modulations out;
  for (int64_t b = 0; b < r.states.size(0); ++b) {
    out.emplace_back();
    for (int64_t k = 0; k < block->options.glimpses; ++k) {
      const auto w = word_weights_by_loops(p, r, b, k);
      std::vector<double> c(static_cast<size_t>(D), 0.0);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t d = 0; d < D; ++d)
          c[static_cast<size_t>(d)] += w[static_cast<size_t>(t)] * at(r.states, {b, t, d});
      out.back().push_back(affine(p, "to_film", c));
    }
  }
  return out;
}

// What is written into every cell from item b's places: W_p p + b_p, or with compare,
// W_p [p; u] + b_p with u_j = ReLU((1 + Δγ_j) · (W_c p + b_c)_j + β_j), [Δγ; β] = W_cq q_b + b_cq;
// with contents, the glimpses' mean features (found: v_1, …, v_K, empty without) after them.
std::vector<double> written_by_loops(const testing::Params& p, int64_t compare,
                                     const std::vector<double>& where,
                                     const std::vector<double>& found, const torch::Tensor& q,
                                     int64_t b) {
  auto read = where;  // [p; u; v]
  if (compare > 0) {
    const auto pre = affine(p, "compare_in", where);
    const auto gb = affine(p, "compare_film", row(q, b));
    for (size_t j = 0; j < static_cast<size_t>(compare); ++j)
      read.push_back(std::max(0.0, (1.0 + gb[j]) * pre[j] + gb[j + static_cast<size_t>(compare)]));
  }
  read.insert(read.end(), found.begin(), found.end());
  return affine(p, "write", read);
}

// The read-out element by element, in double, from its own weights and each glimpse's
// modulation (and, with compare, the question vectors q): the output and the places.
std::pair<torch::Tensor, torch::Tensor> readout_by_loops(LocateReadout& block,
                                                         const torch::Tensor& x,
                                                         const Modulations& film,
                                                         const torch::Tensor& q = {}) {
  const auto p = params_in_double(block);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = block->options.glimpses;
  auto out = torch::zeros({B, C, H, W}, torch::kDouble);
  auto places = torch::zeros({B, K, 2}, torch::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<std::vector<double>> scores;  // [cell][k], cells row by row
    for (int64_t r = 0; r < H; ++r)
      for (int64_t c = 0; c < W; ++c) {
        std::vector<double> s(static_cast<size_t>(K));
        for (int64_t k = 0; k < K; ++k)
          s[static_cast<size_t>(k)] = affine(
              p, "score", film_hidden_by_loops(p, x, b, r, c, film[b][k]))[static_cast<size_t>(k)];
        scores.push_back(s);
      }
    std::vector<double> where;  // cx_1, cy_1, cx_2, …
    std::vector<double> found;  // with contents: v_1 (C channels), v_2, …
    for (int64_t k = 0; k < K; ++k) {
      double total = 0, cx = 0, cy = 0;
      std::vector<double> v(static_cast<size_t>(C), 0.0);
      for (const auto& s : scores)
        total += std::exp(s[k]);
      for (int64_t r = 0; r < H; ++r)
        for (int64_t c = 0; c < W; ++c) {
          const double a = std::exp(scores[r * W + c][k]) / total;
          cx += a * (-1.0 + (2.0 * c + 1) / W);
          cy += a * (-1.0 + (2.0 * r + 1) / H);
          for (int64_t ch = 0; ch < C; ++ch)
            v[static_cast<size_t>(ch)] += a * at(x, {b, ch, r, c});
        }
      places[b][k][0] = cx;
      places[b][k][1] = cy;
      where.push_back(cx);
      where.push_back(cy);
      if (block->options.contents)
        found.insert(found.end(), v.begin(), v.end());
    }
    add_to_every_cell(out, x, b, written_by_loops(p, block->options.compare, where, found, q, b));
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
  const auto [want, want_places] = readout_by_loops(block, x, modulations_from_vector(block, q));
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

// A reading of B questions of T = 4 positions with D-dimensional states: item b's words are
// positions 1..3 of item 0 and 2..3 of the others.
QuestionReading reading_drawn(int64_t B, int64_t D) {
  auto words = torch::ones({B, 4}, torch::kBool);
  words.select(1, 0).fill_(false);
  words.narrow(0, 1, B - 1).select(1, 1).fill_(false);
  return {torch::randn({B, D}), torch::randn({B, 4, D}), words};
}

LocateReadoutOptions word_glimpses(int64_t channels, int64_t condition_dim, int64_t glimpses) {
  LocateReadoutOptions o{channels, condition_dim, glimpses, false};
  o.words = true;
  return o;
}

TEST(LocateReadout, WordGlimpsesMatchTheLoopByLoopReadout) {
  torch::manual_seed(45);
  auto block = writing(word_glimpses(4, 3, 2));
  EXPECT_EQ(block->to_film->options.out_features(), 8) << "one generator for every glimpse";
  const auto r = reading_drawn(2, 3);
  const auto x = torch::randn({2, 4, 2, 3});
  torch::Tensor maps, places;
  const auto out = block->forward(x, r, &maps, &places);
  const auto [want, want_places] = readout_by_loops(block, x, modulations_from_words(block, r));
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), want, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(places.to(torch::kDouble), want_places, 1e-6, 1e-6));
  const auto weights = block->word_weights(r);  // [B, K, T]
  ASSERT_EQ(weights.sizes(), (std::vector<int64_t>{2, 2, 4}));
  const auto p = params_in_double(block);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t k = 0; k < 2; ++k) {
      const auto w = word_weights_by_loops(p, r, b, k);
      for (int64_t t = 0; t < 4; ++t)
        EXPECT_NEAR(weights[b][k][t].item<double>(), w[static_cast<size_t>(t)], 1e-6);
    }
  EXPECT_EQ(weights[1][0][1].item<float>(), 0.0F) << "not a word of item 1";
}

// A word-glimpse block of 3 channels (condition 2) in double: its gradients with respect to the
// grid, the question's word states and the named parameters match finite differences.
void expect_word_block_gradients_match_finite_differences(LocateReadout& block,
                                                          const std::vector<std::string>& names) {
  block->to(torch::kDouble);
  auto r = reading_drawn(2, 2);
  auto states = r.states.to(torch::kDouble).requires_grad_(true);
  auto x = torch::randn({2, 3, 3, 3}, torch::kDouble).requires_grad_(true);
  const auto project = torch::randn({2, 3, 3, 3}, torch::kDouble);
  auto params = block->named_parameters();
  std::vector<torch::Tensor*> tensors = {&x, &states};
  for (const auto& name : names)
    tensors.push_back(&params[name]);
  testing::expect_gradients_match_finite_differences(
      [&] {
        const QuestionReading now{r.vector.to(torch::kDouble), states, r.words};
        return (block->forward(x, now) * project).sum();
      },
      tensors, 3);
}

TEST(LocateReadout, WordGlimpsesGradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(46);
  auto block = writing(word_glimpses(3, 2, 2));
  expect_word_block_gradients_match_finite_differences(
      block, {"hidden.weight", "to_film.weight", "to_film.bias", "score.weight", "write.weight",
              "word_score.weight"});
}

// What words are for: the same weights, and the order the objects are named in decides which
// glimpse finds which. A word state [1, 0] names object A (channel 0, cell (0, 0)), [0, 1]
// object B (channel 1, cell (3, 3)); glimpse 1 reads the first name (u_1 picks position 1),
// glimpse 2 the second (position 3), and the generator turns off γ on the other object's channel.
TEST(LocateReadout, WordGlimpsesFindTheObjectsInTheOrderTheyAreNamed) {
  auto o = word_glimpses(2, 2, 2);
  // states [B, 4, 2 + 1]: the generator reads the first two channels, u_k the third as well.
  o.condition_dim = 3;
  LocateReadout wide(o);
  {
    torch::NoGradGuard no_grad;
    for (auto& t : wide->parameters())
      t.zero_();
    wide->hidden->weight[0][0] = wide->hidden->weight[1][1] = 1.0;
    wide->score->weight.fill_(40.0);
    wide->to_film->weight[1][0] = wide->to_film->weight[0][1] = -1.0;
    wide->word_score->weight[0][2] = -40.0;  // glimpse 1: the name not marked second
    wide->word_score->weight[1][2] = 40.0;   // glimpse 2: the name marked second
  }
  auto states = torch::zeros({2, 4, 3});
  states[0][1][0] = 1.0;  // question 1: "A … B"
  states[0][3][1] = states[0][3][2] = 1.0;
  states[1][1][1] = 1.0;  // question 2: "B … A"
  states[1][3][0] = states[1][3][2] = 1.0;
  auto words = torch::zeros({2, 4}, torch::kBool);
  words.select(1, 1).fill_(true);
  words.select(1, 3).fill_(true);
  auto x = torch::zeros({2, 2, 4, 4});
  for (int64_t b = 0; b < 2; ++b)
    x[b][0][0][0] = x[b][1][3][3] = 1.0;
  torch::Tensor places;
  wide->forward(x, QuestionReading{torch::zeros({2, 3}), states, words}, nullptr, &places);
  EXPECT_NEAR(places[0][0][0].item<double>(), -0.75, 1e-4) << "question 1, glimpse 1: A";
  EXPECT_NEAR(places[0][1][0].item<double>(), 0.75, 1e-4) << "question 1, glimpse 2: B";
  EXPECT_NEAR(places[1][0][0].item<double>(), 0.75, 1e-4) << "question 2, glimpse 1: B";
  EXPECT_NEAR(places[1][1][0].item<double>(), -0.75, 1e-4) << "question 2, glimpse 2: A";
}

TEST(LocateReadout, WordGlimpsesRefuseAQuestionWithoutWordsAndPerGlimpse) {
  LocateReadout block(word_glimpses(4, 3, 2));
  EXPECT_EQ(testing::invalid_argument_of([&] {
              block->forward(torch::zeros({2, 4, 3, 3}), torch::zeros({2, 3}));
            }),
            "locate read-out: word glimpses need the question's states [B, T, 3] and its words "
            "[B, T] (bool, one at least)");
  const QuestionReading none{torch::zeros({2, 3}), torch::zeros({2, 4, 3}),
                             torch::zeros({2, 4}, torch::kBool)};
  EXPECT_EQ(testing::invalid_argument_of([&] {
              block->forward(torch::zeros({2, 4, 3, 3}), none);
            }),
            "locate read-out: word glimpses need the question's states [B, T, 3] and its words "
            "[B, T] (bool, one at least)");
  auto both = word_glimpses(4, 3, 2);
  both.per_glimpse = true;
  EXPECT_EQ(testing::invalid_argument_of([&] { LocateReadout{both}; }),
            "locate read-out: words already give each glimpse its own modulation; per_glimpse is "
            "for glimpses modulated by the question vector");
}

LocateReadoutOptions in_order(int64_t channels, int64_t condition_dim, int64_t glimpses) {
  auto o = word_glimpses(channels, condition_dim, glimpses);
  o.word_order = true;
  return o;
}

TEST(LocateReadout, WordOrderMatchesTheLoopByLoopReadout) {
  torch::manual_seed(47);
  auto block = writing(in_order(4, 3, 3));
  {
    torch::NoGradGuard no_grad;
    block->word_slopes.copy_(torch::tensor({1.5, -0.5, 3.0}));
  }
  const auto r = reading_drawn(2, 3);
  const auto x = torch::randn({2, 4, 2, 3});
  torch::Tensor places;
  const auto out = block->forward(x, r, nullptr, &places);
  const auto [want, want_places] = readout_by_loops(block, x, modulations_from_words(block, r));
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), want, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(places.to(torch::kDouble), want_places, 1e-6, 1e-6));
  const auto weights = block->word_weights(r);
  const auto p = params_in_double(block);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t k = 0; k < 3; ++k) {
      const auto w = word_weights_by_loops(p, r, b, k);
      for (int64_t t = 0; t < 4; ++t)
        EXPECT_NEAR(weights[b][k][t].item<double>(), w[static_cast<size_t>(t)], 1e-6) << b << k;
    }
}

TEST(LocateReadout, WordOrderGradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(48);
  auto block = writing(in_order(3, 2, 2));
  expect_word_block_gradients_match_finite_differences(
      block, {"to_film.weight", "score.weight", "word_score.weight", "word_slopes"});
}

// What the order is for: glimpses whose word scores start alike (here all zero) still read
// different words, the first glimpse the first words, the last the last, so that they do not all
// find the object the last words name.
TEST(LocateReadout, WordOrderStartsEachGlimpseOnItsOwnPartOfTheQuestion) {
  LocateReadout block(in_order(2, 3, 4));
  EXPECT_TRUE(torch::allclose(block->word_slopes, torch::tensor({-2.0, -2.0 / 3, 2.0 / 3, 2.0})));
  torch::NoGradGuard no_grad;
  block->word_score->weight.zero_();
  auto words = torch::ones({1, 6}, torch::kBool);
  words[0][0] = false;  // positions 1..5: five words, τ = -1, -0.5, 0, 0.5, 1
  const auto w = block->word_weights({torch::zeros({1, 3}), torch::randn({1, 6, 3}), words});
  const double first = 1.0 / (1 + std::exp(-1.0) + std::exp(-2.0) + std::exp(-3.0) +
                              std::exp(-4.0));  // a_1 = -2: e^{-2τ} normalised, at τ = -1
  EXPECT_NEAR(w[0][0][1].item<double>(), first, 1e-6) << "glimpse 1 reads the first word most";
  EXPECT_NEAR(w[0][3][5].item<double>(), first, 1e-6) << "glimpse 4 the last, as much";
  EXPECT_EQ(w[0][0][0].item<float>(), 0.0F) << "not a word";
  EXPECT_GT(w[0][1][1].item<double>(), w[0][1][5].item<double>());
  EXPECT_EQ(testing::invalid_argument_of([&] {
              LocateReadout{[] {
                LocateReadoutOptions o{2, 3, 2, false};
                o.word_order = true;
                return o;
              }()};
            }),
            "locate read-out: word_order biases word glimpses; set words too");
}

LocateReadoutOptions comparing(int64_t channels, int64_t condition_dim, int64_t glimpses,
                               int64_t compare) {
  LocateReadoutOptions o{channels, condition_dim, glimpses, true};
  o.compare = compare;
  return o;
}

TEST(LocateReadout, ComparingMatchesTheLoopByLoopReadout) {
  torch::manual_seed(47);
  auto block = writing(comparing(4, 3, 2, 5));
  EXPECT_EQ(block->write->options.in_features(), 4 + 5) << "the places and their comparison";
  EXPECT_EQ(block->compare_film->options.out_features(), 10);
  const auto x = torch::randn({2, 4, 2, 3});
  const auto q = torch::randn({2, 3});
  torch::Tensor places;
  const auto out = block->forward(x, q, nullptr, &places);
  const auto [want, want_places] = readout_by_loops(block, x, modulations_from_vector(block, q), q);
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), want, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(places.to(torch::kDouble), want_places, 1e-6, 1e-6));
  EXPECT_TRUE(torch::equal(LocateReadout(comparing(4, 3, 2, 5))->forward(x, q), x))
      << "the write starts at zero: the identity";
}

TEST(LocateReadout, ComparingGradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(48);
  auto block = writing(comparing(4, 3, 2, 3));
  testing::expect_block_gradients_match_finite_differences(
      block, {"to_film.weight", "score.weight", "compare_in.weight", "compare_in.bias",
              "compare_film.weight", "compare_film.bias", "write.weight"});
}

// What compare is for: glimpse 1 finds object 1 (channel 0), glimpse 2 object 2 (channel 1);
// unit 0 of the comparison is cx_2 − cx_1 (object 1 left of 2), unit 1 cx_1 − cx_2 (right of),
// and the question turns one of them off: "left of" [1, 0] sets γ_1 = 0, "right of" [0, 1]
// γ_0 = 0. Channel 2 of every cell then holds how clearly the asked relation holds, and 0 when
// it does not: the answer depends on the question and the places together, which a linear write
// of the places cannot give.
TEST(LocateReadout, ComparingTellsEveryCellWhetherTheAskedRelationHolds) {
  LocateReadout block(comparing(3, 2, 2, 2));
  {
    torch::NoGradGuard no_grad;
    for (auto& t : block->parameters())
      t.zero_();
    block->hidden->weight[0][0] = block->hidden->weight[1][1] = 1.0;
    block->score->weight[0][0] = block->score->weight[1][1] = 40.0;
    block->to_film->weight.zero_();  // both glimpses modulated alike (not at all)
    block->compare_in->weight[0][2] = block->compare_in->weight[1][0] = 1.0;   // cx_2 − cx_1,
    block->compare_in->weight[0][0] = block->compare_in->weight[1][2] = -1.0;  // cx_1 − cx_2
    block->compare_film->weight[1][0] = block->compare_film->weight[0][1] = -1.0;
    block->write->weight[2][4] = block->write->weight[2][5] = 1.0;  // u after the 4 places
  }
  auto x = torch::zeros({4, 3, 4, 4});
  for (int64_t b = 0; b < 4; ++b) {
    x[b][0][1][b < 2 ? 0 : 2] = 1.0;  // scenes 0, 1: object 1 in column 0, object 2 in column 3
    x[b][1][2][b < 2 ? 3 : 1] = 1.0;  // scenes 2, 3: object 1 in column 2, object 2 in column 1
  }
  const auto left = torch::tensor({1.0F, 0.0F}), right = torch::tensor({0.0F, 1.0F});
  const auto y = block->forward(x, torch::stack({left, right, left, right}));
  EXPECT_NEAR(y[0][2][3][3].item<double>(), 1.5, 1e-4) << "left of? yes, in every cell";
  EXPECT_NEAR(y[0][2][0][0].item<double>(), 1.5, 1e-4);
  EXPECT_NEAR(y[1][2][0][0].item<double>(), 0.0, 1e-4) << "right of? no";
  EXPECT_NEAR(y[2][2][0][0].item<double>(), 0.0, 1e-4) << "left of? no";
  EXPECT_NEAR(y[3][2][0][0].item<double>(), 0.5, 1e-4) << "right of? yes";
}

LocateReadoutOptions with_contents(int64_t channels, int64_t condition_dim, int64_t glimpses,
                                   int64_t compare) {
  auto o = comparing(channels, condition_dim, glimpses, compare);
  o.contents = true;
  return o;
}

TEST(LocateReadout, ContentsMatchTheLoopByLoopReadout) {
  torch::manual_seed(49);
  for (int64_t compare : {0, 5}) {
    auto block = writing(with_contents(4, 3, 2, compare));
    EXPECT_EQ(block->write->options.in_features(), 4 + compare + 2 * 4)
        << "the places, their comparison and what each glimpse found";
    const auto x = torch::randn({2, 4, 2, 3});
    const auto q = torch::randn({2, 3});
    const auto out = block->forward(x, q);
    const auto want = readout_by_loops(block, x, modulations_from_vector(block, q), q).first;
    EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), want, 1e-5, 1e-5)) << compare;
    EXPECT_TRUE(torch::equal(LocateReadout(with_contents(4, 3, 2, compare))->forward(x, q), x))
        << "the write starts at zero: the identity";
  }
}

TEST(LocateReadout, ContentsGradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(50);
  auto block = writing(with_contents(4, 3, 2, 3));
  testing::expect_block_gradients_match_finite_differences(
      block, {"hidden.weight", "to_film.weight", "score.weight", "score.bias", "compare_in.weight",
              "write.weight"});
}

// What contents are for: the glimpse finds the object marked in channel 0 and every cell is told
// what it found, its channel 1 (its colour, say) written into channel 2 of every cell, wherever
// the object is: the question "what colour is it?" can be answered from any cell, and trains the
// glimpse to find what the question names.
TEST(LocateReadout, ContentsTellEveryCellWhatTheGlimpseFound) {
  LocateReadout block(with_contents(3, 1, 1, 0));
  {
    torch::NoGradGuard no_grad;
    for (auto& t : block->parameters())
      t.zero_();
    block->hidden->weight[0][0] = 1.0;
    block->score->weight[0][0] = 40.0;
    block->write->weight[2][2 + 1] = 1.0;  // v_1's channel 1, after the place (cx_1, cy_1)
  }
  auto x = torch::zeros({2, 3, 4, 4});
  x[0][0][1][0] = 1.0;  // scene 0: the object in cell (1, 0), of colour 0.25
  x[0][1][1][0] = 0.25;
  x[0][1][3][3] = 0.9;  // another object, not marked
  x[1][0][2][3] = 1.0;  // scene 1: the object in cell (2, 3), of colour 0.75
  x[1][1][2][3] = 0.75;
  const auto y = block->forward(x, torch::zeros({2, 1}));
  EXPECT_NEAR(y[0][2][3][3].item<double>(), 0.25, 1e-4) << "in every cell";
  EXPECT_NEAR(y[0][2][0][2].item<double>(), 0.25, 1e-4);
  EXPECT_NEAR(y[1][2][0][0].item<double>(), 0.75, 1e-4);
  EXPECT_NEAR(y[1][1][2][3].item<double>(), 0.75, 1e-6) << "the other channels as they were";
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
  EXPECT_EQ(testing::invalid_argument_of([&] { LocateReadout{comparing(4, 3, 2, 257)}; }),
            "locate read-out: compare must be 0 (none) ..256 hidden units, not 257");
}

}  // namespace
}  // namespace glimpse::fusion

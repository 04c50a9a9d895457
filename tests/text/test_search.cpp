#include "glimpse/text/search.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "glimpse/core/error.h"
#include "glimpse/text/vocabulary.h"
#include "text/tiny_decoders.h"

namespace glimpse::text {
namespace {

constexpr int64_t kVocab = 15, kFeat = 8, kGrid = 2;

AttentionContext grid() {
  return glimpse::testing::square_grid(kGrid);
}

std::shared_ptr<Decoder> make(const std::string& kind, uint64_t seed) {
  torch::manual_seed(seed);
  auto d = kind == "lstm" ? glimpse::testing::tiny_lstm(kVocab, kFeat, 8, "additive+gate")
                          : glimpse::testing::tiny_transformer(kVocab, kFeat, 8, 32, "cross:2");
  d->eval();
  return d;
}

std::vector<std::vector<int64_t>> caption_prefixes(int64_t n) {
  return std::vector<std::vector<int64_t>>(n, {kBos, kCaption});
}

class BothDecoders : public ::testing::TestWithParam<std::string> {};

TEST_P(BothDecoders, BeamOfOneEqualsGreedy) {
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    auto dec = make(GetParam(), seed);
    torch::NoGradGuard g;
    auto features = torch::randn({3, kGrid * kGrid, kFeat});
    SearchOptions greedy;
    greedy.max_len = 12;
    auto a = search(*dec, features, grid(), caption_prefixes(3), greedy);
    auto b =
        beam_search(*dec, features, grid(), torch::tensor({kBos, kCaption}).repeat({3, 1}), greedy);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(a[i].tokens, b[i].tokens) << "seed " << seed << " item " << i;
      ASSERT_EQ(a[i].log_probs.size(), b[i].log_probs.size());
      for (size_t t = 0; t < a[i].log_probs.size(); ++t)
        EXPECT_NEAR(a[i].log_probs[t], b[i].log_probs[t], 1e-5);
      EXPECT_EQ(a[i].finished, b[i].finished);
    }
  }
}

TEST_P(BothDecoders, ReturnedLogProbsAndMapsAreThoseOfTheReturnedTokens) {
  auto dec = make(GetParam(), 7);
  torch::NoGradGuard g;
  auto features = torch::randn({2, kGrid * kGrid, kFeat});
  SearchOptions o;
  o.beam = 3;
  o.max_len = 10;
  auto hyps = search(*dec, features, grid(), caption_prefixes(2), o);
  for (int i = 0; i < 2; ++i) {
    const auto& h = hyps[i];
    ASSERT_FALSE(h.tokens.empty());
    // Teacher-force the prefix and the returned tokens: position p predicts token p + 1.
    std::vector<int64_t> seq = {kBos, kCaption};
    seq.insert(seq.end(), h.tokens.begin(), h.tokens.end());
    auto input = torch::tensor(std::vector<int64_t>(seq.begin(), seq.end() - 1)).unsqueeze(0);
    auto full = dec->forward(features.narrow(0, i, 1), grid(), input);
    // Over what the search may write: words and <eos>.
    auto logits = full.logits[0].clone();
    for (int64_t id : {kPad, kBos, kUnk, kCaption, kQuestion, kAnswer})
      logits.select(-1, id).fill_(-std::numeric_limits<float>::infinity());
    auto logp = torch::log_softmax(logits, -1);  // [L, V]
    ASSERT_EQ(h.attention.size(0), static_cast<int64_t>(h.tokens.size()));
    for (size_t t = 0; t < h.tokens.size(); ++t) {
      EXPECT_NEAR(h.log_probs[t], logp[1 + t][h.tokens[t]].item<float>(), 1e-4)
          << "item " << i << " token " << t;
      for (size_t layer = 0; layer < full.attention.size(); ++layer)
        EXPECT_TRUE(torch::allclose(h.attention[t][layer],
                                    full.attention[layer][0].select(1, 1 + t), 1e-5, 1e-5))
            << "item " << i << " token " << t << " layer " << layer;
    }
    double sum = 0;
    for (float lp : h.log_probs)
      sum += lp;
    EXPECT_NEAR(h.score, sum, 1e-6);  // the default ranks by summed log-probability
    if (h.finished) {
      EXPECT_EQ(h.tokens.back(), kEos);
    }
  }
}

TEST_P(BothDecoders, AHypothesisThatNeverEndsStopsAtTheLengthLimit) {
  auto dec = make(GetParam(), 9);
  torch::NoGradGuard g;
  for (auto& p : dec->named_parameters())  // make <eos> impossible
    if (p.key() == "fc.bias" || p.key() == "out.bias")
      p.value()[kEos] = -1e4;
  auto features = torch::randn({2, kGrid * kGrid, kFeat});
  for (int beam : {1, 3}) {
    SearchOptions o;
    o.beam = beam;
    o.max_len = 7;
    auto hyps = search(*dec, features, grid(), caption_prefixes(2), o);
    for (const auto& h : hyps) {
      EXPECT_EQ(h.tokens.size(), 7u) << "beam " << beam;
      EXPECT_FALSE(h.finished);
      EXPECT_EQ(std::count(h.tokens.begin(), h.tokens.end(), kEos), 0);
      EXPECT_EQ(h.attention.size(0), 7);
    }
  }
}

TEST_P(BothDecoders, NeverWritesUnknownPaddingOrTaskTokensEvenWhenMostLikely) {
  auto dec = make(GetParam(), 10);
  torch::NoGradGuard g;
  for (auto& p : dec->named_parameters())
    if (p.key() == "fc.bias" || p.key() == "out.bias")
      for (int64_t id : {kPad, kBos, kUnk, kCaption, kQuestion, kAnswer})
        p.value()[id] = 1e3;
  auto features = torch::randn({2, kGrid * kGrid, kFeat});
  for (int beam : {1, 3}) {
    SearchOptions o;
    o.beam = beam;
    o.max_len = 6;
    for (const auto& h : search(*dec, features, grid(), caption_prefixes(2), o)) {
      ASSERT_FALSE(h.tokens.empty());
      for (int64_t tok : h.tokens)
        EXPECT_TRUE(tok == kEos || tok > kAnswer) << "beam " << beam << " wrote token " << tok;
      for (float lp : h.log_probs)
        EXPECT_TRUE(std::isfinite(lp));
    }
  }
}

TEST_P(BothDecoders, MixedPrefixLengthsMatchSeparateRuns) {
  auto dec = make(GetParam(), 11);
  torch::NoGradGuard g;
  auto features = torch::randn({3, kGrid * kGrid, kFeat});
  const std::vector<std::vector<int64_t>> prefixes = {
      {kBos, kCaption}, {kBos, kQuestion, 9, 10, kAnswer}, {kBos, kCaption}};
  SearchOptions o;
  o.beam = 2;
  o.max_len = 6;
  auto together = search(*dec, features, grid(), prefixes, o);
  for (int i = 0; i < 3; ++i) {
    auto alone = search(*dec, features.narrow(0, i, 1), grid(), {prefixes[i]}, o);
    EXPECT_EQ(together[i].tokens, alone[0].tokens) << "item " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Search, BothDecoders, ::testing::Values("lstm", "transformer"));

TEST(Search, RefusesBadOptions) {
  auto dec = make("lstm", 1);
  auto features = torch::randn({1, kGrid * kGrid, kFeat});
  SearchOptions o;
  o.beam = 0;
  try {
    search(*dec, features, grid(), caption_prefixes(1), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "search needs beam >= 1 and max_len >= 1, got beam 0, max_len 20");
  }
  EXPECT_THROW(search(*dec, features, grid(), caption_prefixes(2), SearchOptions{}), Error);
  EXPECT_THROW(search(*dec, features, grid(), {{}}, SearchOptions{}), Error);
}

}  // namespace
}  // namespace glimpse::text

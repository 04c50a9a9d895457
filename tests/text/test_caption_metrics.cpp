// Expected values worked out by hand (the single-image cases) and by an independent
// transcription of pycocoevalcap's scorers (the three-image corpus).
#include "glimpse/text/caption_metrics.h"

#include <gtest/gtest.h>

#include "glimpse/core/error.h"

namespace glimpse::text {
namespace {

const std::vector<std::string> kCands = {"a dog runs on grass", "two people ride bikes on a road",
                                         "a man in a red shirt"};
const std::vector<std::vector<std::string>> kRefs = {
    {"a dog runs on the grass", "dog running", "a brown dog runs across a field of grass"},
    {"two people are riding bicycles down the road", "people ride bikes", "two cyclists on a road"},
    {"a man wearing a red shirt", "the man in red stands", "a man in a red shirt smiles"}};

TEST(Bleu, ByHandOnOneImage) {
  // closest reference length 6; unigram 5/5, bigram 3/4, trigram 2/3, 4-gram 1/2;
  // brevity penalty exp(1 - 6/5)
  auto b = bleu({"a dog runs on grass"}, {{"a dog runs on the grass", "dog running"}});
  const double bp = std::exp(1.0 - 6.0 / 5.0);
  EXPECT_NEAR(b[0], bp, 1e-9);
  EXPECT_NEAR(b[1], std::sqrt(0.75) * bp, 1e-9);
  EXPECT_NEAR(b[2], std::cbrt(0.75 * 2.0 / 3.0) * bp, 1e-9);
  EXPECT_NEAR(b[3], std::pow(0.75 * 2.0 / 3.0 * 0.5, 0.25) * bp, 1e-9);
}

TEST(Bleu, TiesInReferenceLengthGoToTheShorter) {
  // lengths 3 and 5 are both 1 away from 4: coco-caption picks 3, so no brevity penalty
  auto b = bleu({"a b c d"}, {{"a b c", "a b c d e"}});
  EXPECT_NEAR(b[0], 1.0, 1e-9);
  EXPECT_NEAR(b[3], 1.0, 1e-9);
}

TEST(Bleu, RepeatedNgramsAreClipped) {
  auto b = bleu({"the the the the"}, {{"the cat"}});
  EXPECT_NEAR(b[0], 0.25, 1e-9);                    // "the" counts once: 1/4
  EXPECT_NEAR(b[1], 9.128709289090234e-09, 1e-15);  // no bigram matches: only the smoothing
}

TEST(Bleu, EmptyCandidateScoresZero) {
  auto b = bleu({""}, {{"a cat"}});
  for (double x : b)
    EXPECT_EQ(x, 0.0);
}

TEST(Bleu, CorpusMatchesPycocoevalcap) {
  auto b = bleu(kCands, kRefs);
  EXPECT_NEAR(b[0], 0.8948393167, 1e-9);
  EXPECT_NEAR(b[1], 0.8330500679, 1e-9);
  EXPECT_NEAR(b[2], 0.7453015119, 1e-9);
  EXPECT_NEAR(b[3], 0.6370002995, 1e-9);
}

TEST(RougeL, ByHandAndOnTheCorpus) {
  // LCS 5 with the first reference: P = 1, R = 5/6; F = 2.44 * 5/6 / (5/6 + 1.44)
  EXPECT_NEAR(rouge_l({"a dog runs on grass"}, {{"a dog runs on the grass", "dog running"}}),
              2.44 * (5.0 / 6.0) / (5.0 / 6.0 + 1.44), 1e-12);
  EXPECT_NEAR(rouge_l(kCands, kRefs), 0.8565887319, 1e-9);
  EXPECT_EQ(rouge_l({""}, {{"a cat"}}), 0.0);
}

TEST(CiderD, MatchesPycocoevalcapPerImage) {
  auto s = cider_d(kCands, kRefs);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_NEAR(s[0], 3.0219947858, 1e-9);
  EXPECT_NEAR(s[1], 2.6765808874, 1e-9);
  EXPECT_NEAR(s[2], 5.0655992489, 1e-9);
  EXPECT_NEAR(score_captions(kCands, kRefs).cider_d, 3.5880583074, 1e-9);
}

TEST(CiderD, ASingleImageHasNoInformativeNgrams) {
  // idf = log(images) - log(df) = log 1 - log 1 = 0 for every n-gram
  EXPECT_EQ(cider_d({"a dog"}, {{"a dog"}})[0], 0.0);
}

TEST(CiderD, EmptyCandidatesScoreZeroNotNaN) {
  auto s = cider_d({"", ""}, {{"a cat"}, {"a dog"}});
  EXPECT_EQ(s[0], 0.0);
  EXPECT_EQ(s[1], 0.0);
}

TEST(CaptionMetrics, RefuseMismatchedLists) {
  EXPECT_THROW(score_captions({"a"}, {}), Error);
  EXPECT_THROW(score_captions({"a"}, {{}}), Error);
}

}  // namespace
}  // namespace glimpse::text

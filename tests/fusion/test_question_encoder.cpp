// The question vector: read before <answer> (or at the task token), so that nothing conditioned on
// it sees what the decoder is to write.
#include "glimpse/fusion/question_encoder.h"

#include <gtest/gtest.h>

#include "block_checks.h"

#include "glimpse/text/vocabulary.h"

namespace glimpse::fusion {
namespace {

using text::kAnswer;
using text::kBos;
using text::kCaption;
using text::kEos;
using text::kPad;
using text::kQuestion;

torch::Tensor rows(std::vector<std::vector<int64_t>> r) {
  const auto t = static_cast<int64_t>(r[0].size());
  auto out = torch::empty({static_cast<int64_t>(r.size()), t}, torch::kInt64);
  for (size_t b = 0; b < r.size(); ++b)
    for (int64_t i = 0; i < t; ++i)
      out[static_cast<int64_t>(b)][i] = r[b][static_cast<size_t>(i)];
  return out;
}

TEST(QuestionEncoder, ReadsTheLastQuestionWordOrTheTaskToken) {
  const auto tokens = rows({{kBos, kQuestion, 9, 10, 11, kAnswer, 12, kEos},
                            {kBos, kCaption, 9, 10, 11, 12, kEos, kPad},
                            {kBos, kQuestion, 9, kAnswer, 12, kEos, kPad, kPad}});
  const auto at = question_read_position(tokens);
  EXPECT_EQ(at[0].item<int64_t>(), 4);
  EXPECT_EQ(at[1].item<int64_t>(), 1);
  EXPECT_EQ(at[2].item<int64_t>(), 2);
}

TEST(QuestionEncoder, SeesTheQuestionAndNeverTheAnswerOrTheCaption) {
  torch::manual_seed(2);
  QuestionEncoder enc(QuestionEncoderOptions{20, 6, 5, {}});
  const auto a = enc->forward(
      rows({{kBos, kQuestion, 9, 10, kAnswer, 12, kEos}, {kBos, kCaption, 9, 10, 11, 12, kEos}}));
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{2, 5}));
  // Other answer words and other caption words: the same vectors.
  const auto b = enc->forward(
      rows({{kBos, kQuestion, 9, 10, kAnswer, 15, kEos}, {kBos, kCaption, 16, 17, 18, 19, kEos}}));
  EXPECT_TRUE(torch::equal(a, b));
  // Another question word: another vector.
  const auto c = enc->forward(
      rows({{kBos, kQuestion, 9, 11, kAnswer, 12, kEos}, {kBos, kCaption, 9, 10, 11, 12, kEos}}));
  EXPECT_GT((c[0] - a[0]).abs().max().item<float>(), 1e-4f);
  EXPECT_TRUE(torch::equal(c[1], a[1]));
}

// The reading a word-picking module gets: every position's state, the vector among them, and the
// question's words q1 … qm (the task token alone for a caption, never <answer> or the answer).
TEST(QuestionEncoder, ReadsEveryStateAndMarksTheQuestionsWords) {
  torch::manual_seed(4);
  QuestionEncoder enc(QuestionEncoderOptions{20, 6, 5, {}});
  const auto tokens = rows({{kBos, kQuestion, 9, 10, 11, kAnswer, 12, kEos},
                            {kBos, kCaption, 9, 10, 11, 12, kEos, kPad}});
  const auto r = enc->read(tokens);
  ASSERT_EQ(r.states.sizes(), (std::vector<int64_t>{2, 8, 5}));
  EXPECT_TRUE(torch::equal(r.vector[0], r.states[0][4]));
  EXPECT_TRUE(torch::equal(r.vector[1], r.states[1][1]));
  EXPECT_TRUE(torch::equal(r.vector, enc->forward(tokens)));
  const auto want =
      torch::tensor({{0, 0, 1, 1, 1, 0, 0, 0}, {0, 1, 0, 0, 0, 0, 0, 0}}).to(torch::kBool);
  EXPECT_TRUE(torch::equal(r.words, want));
}

// With plural tying, word 10 (a plural of word 9) reads as E[10] + E[9]: the same vector as an
// untied encoder whose row 10 holds that sum. Other words read as before.
TEST(QuestionEncoder, APluralAlsoReadsItsSingular) {
  torch::manual_seed(3);
  std::vector<int64_t> singular(20);
  for (int64_t i = 0; i < 20; ++i)
    singular[static_cast<size_t>(i)] = i;
  singular[10] = 9;
  QuestionEncoder tied(QuestionEncoderOptions{20, 6, 5, singular});
  QuestionEncoder plain(QuestionEncoderOptions{20, 6, 5, {}});
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : tied->named_parameters())
      plain->named_parameters()[p.key()].copy_(p.value());
    plain->embed->weight[10] += tied->embed->weight[9];
  }
  const auto tokens = rows(
      {{kBos, kQuestion, 10, 11, kAnswer, 12, kEos}, {kBos, kQuestion, 9, 11, kAnswer, 12, kEos}});
  EXPECT_TRUE(torch::allclose(tied->forward(tokens), plain->forward(tokens), 1e-6, 1e-6));
  EXPECT_GT((tied->forward(tokens)[0] - tied->forward(tokens)[1]).abs().max().item<float>(), 1e-4f)
      << "the plural is still a word of its own";
  EXPECT_EQ(testing::invalid_argument_of([&] {
              QuestionEncoder(QuestionEncoderOptions{20, 6, 5, {0, 1}});
            }),
            "question encoder: singular must have one id per word (2 for 20 words)");
  singular[3] = 20;
  EXPECT_EQ(testing::invalid_argument_of([&] {
              QuestionEncoder(QuestionEncoderOptions{20, 6, 5, singular});
            }),
            "question encoder: singular id 20 is not a word id");
}

TEST(QuestionEncoder, RefusesASequenceWithoutATaskToken) {
  QuestionEncoder enc(QuestionEncoderOptions{20, 6, 5, {}});
  EXPECT_THROW(enc->forward(torch::zeros({2, 1}, torch::kInt64)), std::invalid_argument);
}

}  // namespace
}  // namespace glimpse::fusion

#include "glimpse/text/sequence.h"

#include <gtest/gtest.h>

#include "glimpse/core/error.h"

namespace glimpse::text {
namespace {

Vocabulary vocab() {
  return Vocabulary::build({{"a", "red", "circle", "what", "colour", "is", "it"}}, 1);
}

std::vector<bool> row(const torch::Tensor& mask, int64_t i) {
  std::vector<bool> out;
  for (int64_t p = 0; p < mask.size(1); ++p)
    out.push_back(mask[i][p].item<bool>());
  return out;
}

TEST(Sequence, CaptionLossCoversTheCaptionAndEos) {
  auto v = vocab();
  auto s = caption_sequence(v, {"a", "red", "circle"});
  EXPECT_EQ(s.tokens,
            (std::vector<int64_t>{kBos, kCaption, v.id("a"), v.id("red"), v.id("circle"), kEos}));
  EXPECT_EQ(s.prefix_len, 2u);
  auto b = collate({s});
  // inputs  <bos> <caption> a   red    circle
  // targets <caption> a    red circle <eos>      (the first target is the prefix: no loss)
  EXPECT_EQ(b.input.sizes(), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(b.target[0][0].item<int64_t>(), kCaption);
  EXPECT_EQ(b.target[0][4].item<int64_t>(), kEos);
  EXPECT_EQ(row(b.loss_mask, 0), (std::vector<bool>{false, true, true, true, true}));
}

TEST(Sequence, VqaLossCoversOnlyTheAnswerAndEos) {
  auto v = vocab();
  auto s = qa_sequence(v, {"what", "colour", "is", "it"}, {"red"});
  EXPECT_EQ(s.tokens, (std::vector<int64_t>{kBos, kQuestion, v.id("what"), v.id("colour"),
                                            v.id("is"), v.id("it"), kAnswer, v.id("red"), kEos}));
  EXPECT_EQ(s.prefix_len, 7u);
  auto c = caption_sequence(v, {"a"});
  auto b = collate({s, c});
  EXPECT_EQ(b.input.sizes(), (std::vector<int64_t>{2, 8}));
  // targets: <question> what colour is it <answer> red <eos>: loss on "red" and <eos> only
  EXPECT_EQ(row(b.loss_mask, 0),
            (std::vector<bool>{false, false, false, false, false, false, true, true}));
  // the short caption is padded: no loss on padding
  EXPECT_EQ(row(b.loss_mask, 1),
            (std::vector<bool>{false, true, true, false, false, false, false, false}));
  EXPECT_EQ(b.input[1][5].item<int64_t>(), kPad);
}

TEST(Sequence, MaskedCrossEntropyIgnoresThePrefix) {
  // logits favour the right token everywhere except at a masked position, whose loss must not count
  auto target = torch::tensor({{1, 2, 3}}, torch::kLong);
  auto logits = torch::zeros({1, 3, 4});
  logits[0][0][0] = 10.0;  // wrong at position 0 (masked out)
  logits[0][1][2] = 10.0;
  logits[0][2][3] = 10.0;
  auto mask = torch::tensor({{false, true, true}});
  const double per_pos = -std::log(std::exp(10.0) / (std::exp(10.0) + 3.0));
  EXPECT_NEAR(masked_cross_entropy(logits, target, mask).item<double>(), per_pos, 1e-5);
  EXPECT_GT(masked_cross_entropy(logits, target, torch::ones({1, 3}, torch::kBool)).item<double>(),
            3.0);
}

TEST(Sequence, CollateRefusesSequencesWithoutAGeneratedPart) {
  Sequence s;
  s.tokens = {kBos, kCaption};
  s.prefix_len = 2;
  EXPECT_THROW(collate({s}), Error);
  EXPECT_THROW(collate({}), Error);
}

}  // namespace
}  // namespace glimpse::text

#include "glimpse/text/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "glimpse/text/vocabulary.h"

namespace glimpse::text {
namespace {

using Tokens = std::vector<std::string>;

TEST(Tokenize, LowerCasesAndDropsCocoPunctuation) {
  EXPECT_EQ(tokenize("A Dog, running; on the GRASS!"),
            (Tokens{"a", "dog", "running", "on", "the", "grass"}));
  EXPECT_EQ(tokenize("What colour is it?"), (Tokens{"what", "colour", "is", "it"}));
  EXPECT_EQ(tokenize("Wait... a -- b : c"), (Tokens{"wait", "a", "b", "c"}));
}

TEST(Tokenize, SplitsCliticsAsPtbDoes) {
  EXPECT_EQ(tokenize("The dog's ball"), (Tokens{"the", "dog", "'s", "ball"}));
  EXPECT_EQ(tokenize("They don't know"), (Tokens{"they", "do", "n't", "know"}));
  EXPECT_EQ(tokenize("we're, they've, I'll, he'd, I'm"),
            (Tokens{"we", "'re", "they", "'ve", "i", "'ll", "he", "'d", "i", "'m"}));
}

TEST(Tokenize, KeepsWordInnerJoiners) {
  EXPECT_EQ(tokenize("a black-and-white dog"), (Tokens{"a", "black-and-white", "dog"}));
  EXPECT_EQ(tokenize("3.5 meters, 1,000 people"), (Tokens{"3.5", "meters", "1,000", "people"}));
  EXPECT_EQ(tokenize("in the U.S. today."), (Tokens{"in", "the", "u.s.", "today"}));
  EXPECT_EQ(tokenize("and/or"), (Tokens{"and/or"}));
}

TEST(Tokenize, BracketsAndQuotesBecomeDroppedPtbTokens) {
  EXPECT_EQ(tokenize("a (red) \"ball\" {x} `y'"), (Tokens{"a", "red", "ball", "x", "y"}));
}

TEST(Tokenize, EmptyAndBlankGiveNothing) {
  EXPECT_TRUE(tokenize("").empty());
  EXPECT_TRUE(tokenize("  .  , ").empty());
  EXPECT_EQ(normalize_caption("  A  man.  "), "a man");
}

TEST(Vocabulary, SpecialTokensComeFirstThenByFrequency) {
  auto v = Vocabulary::build({{"a", "dog"}, {"a", "cat"}, {"a", "dog"}, {"zebra"}}, 2);
  ASSERT_EQ(v.size(), 9);
  EXPECT_EQ(v.word(0), "<pad>");
  EXPECT_EQ(v.word(kAnswer), "<answer>");
  EXPECT_EQ(v.word(7), "a");    // 3 times
  EXPECT_EQ(v.word(8), "dog");  // 2 times; cat and zebra are under min_count
  EXPECT_EQ(v.id("cat"), kUnk);
  EXPECT_EQ(v.encode({"a", "cat", "dog"}), (std::vector<int64_t>{7, kUnk, 8}));
  EXPECT_EQ(v.decode({kBos, kCaption, 7, 8, kEos, 7}), (Tokens{"a", "dog"}));
}

TEST(Vocabulary, SingularIdsTieRegularPluralsToTheirSingulars) {
  const std::vector<std::string> words = {
      "<pad>",    "<bos>", "<eos>", "<unk>", "<caption>", "<question>", "<answer>", "diamond",
      "diamonds", "box",   "boxes", "berry", "berries",   "glass",      "glasses",  "is",
      "a",        "as",    "it",    "its",   "circles",   "shape",      "shapes",   "dogs"};
  const auto s = singular_ids(words);
  ASSERT_EQ(s.size(), words.size());
  auto of = [&](const std::string& w) {
    const auto at = std::find(words.begin(), words.end(), w) - words.begin();
    return words[static_cast<size_t>(s[static_cast<size_t>(at)])];
  };
  EXPECT_EQ(of("diamonds"), "diamond");
  EXPECT_EQ(of("boxes"), "box");
  EXPECT_EQ(of("berries"), "berry");
  EXPECT_EQ(of("glasses"), "glass");
  EXPECT_EQ(of("shapes"), "shape");
  EXPECT_EQ(of("circles"), "circles") << "no 'circle' in the list";
  EXPECT_EQ(of("dogs"), "dogs");
  EXPECT_EQ(of("glass"), "glass") << "'ss' is not a plural";
  EXPECT_EQ(of("as"), "as") << "a singular has 3 letters or more";
  EXPECT_EQ(of("its"), "its");
  EXPECT_EQ(of("<answer>"), "<answer>");
  EXPECT_EQ(of("diamond"), "diamond");
}

TEST(Vocabulary, FromWordsValidates) {
  auto v = Vocabulary::build({{"x", "y"}}, 1);
  auto back = Vocabulary::from_words(v.words());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value().words(), v.words());
  EXPECT_NE(Vocabulary::from_words({"a"}).error().message.find("fewer than the 7 special tokens"),
            std::string::npos);
  auto swapped = v.words();
  std::swap(swapped[0], swapped[1]);
  EXPECT_EQ(Vocabulary::from_words(swapped).error().message,
            "vocabulary entry 0 is '<bos>', expected '<pad>'");
  auto dup = v.words();
  dup.push_back("x");
  EXPECT_NE(Vocabulary::from_words(dup).error().message.find("repeated"), std::string::npos);
}

}  // namespace
}  // namespace glimpse::text

#include "glimpse/text/vqa_accuracy.h"

#include <gtest/gtest.h>

namespace glimpse::text {
namespace {

std::vector<std::string> ten(const std::string& a) {
  return std::vector<std::string>(10, a);
}

TEST(VqaNormalize, NumberWordsBecomeDigits) {
  EXPECT_EQ(vqa_normalize_answer("Two"), "2");
  EXPECT_EQ(vqa_normalize_answer("none"), "0");
  // normalised on the prediction's side only when the humans disagree (see below)
  std::vector<std::string> gts = ten("3");
  gts[9] = "4";
  EXPECT_NEAR(vqa_accuracy("three", gts), 1.0, 1e-12);
}

TEST(VqaNormalize, ArticlesAreDropped) {
  EXPECT_EQ(vqa_normalize_answer("a dog"), "dog");
  EXPECT_EQ(vqa_normalize_answer("The Red Ball"), "red ball");
  std::vector<std::string> gts = ten("apple");
  gts[9] = "pear";
  EXPECT_EQ(vqa_accuracy("an apple", gts), 1.0);
}

TEST(VqaNormalize, ContractionsGetTheirApostrophesBack) {
  EXPECT_EQ(vqa_normalize_answer("dont"), "don’t");  // the official table's typographic apostrophe
  EXPECT_EQ(vqa_normalize_answer("cant"), "can't");  // and its ASCII one, as the table has them
  EXPECT_EQ(vqa_normalize_answer("wheres"), "where's");
}

TEST(VqaNormalize, PunctuationIsDeletedOrSpacedAsTheOfficialCodeDoes) {
  EXPECT_EQ(vqa_process_punctuation("yes!"), "yes ");   // no space next to it: becomes a space
  EXPECT_EQ(vqa_process_punctuation("yes !"), "yes ");  // next to a space: deleted
  EXPECT_EQ(vqa_process_punctuation("1,000"), "1000");  // digit,digit anywhere: all deleted
  EXPECT_EQ(vqa_process_punctuation("red,blue"), "red blue");
  EXPECT_EQ(vqa_process_punctuation("3.5 ok."), "3.5 ok");  // periods before a digit stay
  EXPECT_EQ(vqa_process_punctuation("black/white"), "black white");
  EXPECT_EQ(vqa_normalize_answer("Yes!"), "yes");
  EXPECT_EQ(vqa_normalize_answer(" left\tside\n"), "left side");
}

TEST(VqaNormalize, AtMost32PeriodsAreRemoved) {
  const std::string dots(40, '.');
  EXPECT_EQ(vqa_process_punctuation(dots), std::string(8, '.'));
}

TEST(VqaAccuracy, AverageOfTheTenLeaveOneOutSubsets) {
  std::vector<std::string> gts(3, "red");
  gts.insert(gts.end(), 7, "blue");
  // 3 subsets drop a "red" and see 2 matches (2/3); 7 keep all 3 (1)
  EXPECT_NEAR(vqa_accuracy("red", gts), (3 * 2.0 / 3 + 7 * 1.0) / 10, 1e-12);
  gts = std::vector<std::string>(2, "red");
  gts.insert(gts.end(), 8, "blue");
  EXPECT_NEAR(vqa_accuracy("red", gts), (2 * 1.0 / 3 + 8 * 2.0 / 3) / 10, 1e-12);
  EXPECT_EQ(vqa_accuracy("green", gts), 0.0);
  gts = {"red"};
  gts.insert(gts.end(), 9, "blue");
  EXPECT_NEAR(vqa_accuracy("red", gts), 9 * (1.0 / 3) / 10, 1e-12);
}

// The expected values below follow the official vqaEval.py by hand: strip every answer; only if
// the stripped human answers are not all the same, run processPunctuation then
// processDigitArticle on both sides; then average min(matches among the other nine / 3, 1).
TEST(VqaAccuracy, IdenticalHumanAnswersNormaliseNeitherSide) {
  // ten identical answers: the prediction is compared as it is, case and punctuation included
  EXPECT_EQ(vqa_accuracy("Yes", ten("yes")), 0.0);
  EXPECT_EQ(vqa_accuracy("yes.", ten("yes")), 0.0);
  EXPECT_EQ(vqa_accuracy("Hot Dog", ten("hot dog")), 0.0);
  EXPECT_EQ(vqa_accuracy("2", ten("two")), 0.0);
  EXPECT_EQ(vqa_accuracy("yes", ten("yes!")), 0.0);
  EXPECT_EQ(vqa_accuracy("hot dog", ten("hot dog")), 1.0);
  // ...but stripped first, both sides: newlines and tabs become spaces, then strip()
  EXPECT_EQ(vqa_accuracy(" yes\n", ten("yes")), 1.0);
  EXPECT_EQ(vqa_accuracy("\tyes", ten("yes")), 1.0);
  EXPECT_EQ(vqa_accuracy("yes\xC2\xA0", ten("yes")), 1.0);  // U+00A0: str.isspace() holds
  // human answers that differ only in white space are identical after the strip
  std::vector<std::string> gts = ten("yes");
  gts[0] = " yes ";
  EXPECT_EQ(vqa_accuracy("Yes", gts), 0.0);
  EXPECT_EQ(vqa_accuracy("yes", gts), 1.0);
}

TEST(VqaAccuracy, DisagreeingHumanAnswersNormaliseBothSides) {
  // "Yes" -> "yes"; three of the humans said yes: 3 subsets see 2 (2/3), 7 see 3 (1)
  std::vector<std::string> gts(3, "yes");
  gts.insert(gts.end(), 7, "no");
  EXPECT_NEAR(vqa_accuracy("Yes", gts), 0.9, 1e-12);
  EXPECT_NEAR(vqa_accuracy("yes.", gts), 0.9, 1e-12);
  // number words become digits on the human side too: "two" counts with the two "2"s
  gts = {"2", "2", "two"};
  gts.insert(gts.end(), 7, "3");
  EXPECT_NEAR(vqa_accuracy("two", gts), 0.9, 1e-12);
  // articles go on both sides: "a dog" and "dog" are one answer
  gts = std::vector<std::string>(5, "dog");
  gts.insert(gts.end(), 5, "a dog");
  EXPECT_EQ(vqa_accuracy("The dog", gts), 1.0);
  // "yes!" -> "yes " -> "yes": nine humans agree with the prediction
  gts = std::vector<std::string>(9, "yes!");
  gts.push_back("no");
  EXPECT_EQ(vqa_accuracy("yes", gts), 1.0);
  gts = std::vector<std::string>(9, "t-shirt");
  gts.push_back("shirt");
  EXPECT_EQ(vqa_accuracy("t-shirt", gts), 1.0);  // both sides become "t shirt"
  EXPECT_EQ(vqa_process_punctuation("t-shirt"), "t shirt");
  EXPECT_NEAR(vqa_accuracy("Hot Dog", {"hot dog", "hot dog", "hot dog", "hotdog", "hotdog",
                                       "hotdog", "hotdog", "hotdog", "hotdog", "hotdog"}),
              0.9, 1e-12);
}

}  // namespace
}  // namespace glimpse::text

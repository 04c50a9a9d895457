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
  EXPECT_EQ(vqa_accuracy("three", ten("3")), 1.0);
}

TEST(VqaNormalize, ArticlesAreDropped) {
  EXPECT_EQ(vqa_normalize_answer("a dog"), "dog");
  EXPECT_EQ(vqa_normalize_answer("The Red Ball"), "red ball");
  EXPECT_EQ(vqa_accuracy("an apple", ten("apple")), 1.0);
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

TEST(VqaAccuracy, HumanAnswersAreProcessedOnlyWhenTheyDisagree) {
  // identical human answers are compared as they are: "yes!" never equals the normalised "yes"
  EXPECT_EQ(vqa_accuracy("yes", ten("yes!")), 0.0);
  // disagreeing ones go through punctuation processing: "yes!" -> "yes " (a trailing space),
  // which still does not equal "yes": the official evaluation's behaviour, kept.
  std::vector<std::string> gts(9, "yes!");
  gts.push_back("no");
  EXPECT_EQ(vqa_accuracy("yes", gts), 0.0);
  gts = std::vector<std::string>(9, "t-shirt");
  gts.push_back("shirt");
  EXPECT_EQ(vqa_accuracy("t-shirt", gts), 1.0);  // both sides become "t shirt"
  EXPECT_EQ(vqa_process_punctuation("t-shirt"), "t shirt");
}

}  // namespace
}  // namespace glimpse::text

// The answer-prior baseline: each family's most frequent training answer (ties to the first in
// alphabetical order), the overall one for a family never seen, scored with the official VQA
// accuracy as evaluate() scores a model.
#include "glimpse/train/answer_prior.h"

#include <gtest/gtest.h>

namespace glimpse::train {
namespace {

data::QaEntry qa(const std::string& family, const std::string& answer,
                 std::vector<std::string> humans = {}) {
  data::QaEntry q;
  q.family = family;
  q.answer = answer;
  q.answers = humans.empty() ? std::vector<std::string>(10, answer) : std::move(humans);
  return q;
}

data::Dataset dataset(std::vector<data::QaEntry> questions) {
  data::Dataset ds;
  ds.images.resize(1);
  ds.images[0].questions = std::move(questions);
  return ds;
}

TEST(AnswerPrior, EachFamilyGetsItsMostFrequentAnswerTiesAlphabetically) {
  const auto prior =
      AnswerPrior::fit(dataset({qa("colour", "red"), qa("colour", "blue"), qa("colour", "red"),
                                qa("exist", "yes"), qa("exist", "no"), qa("count", "2")}));
  EXPECT_EQ(prior.answer_of("colour"), "red");
  EXPECT_EQ(prior.answer_of("exist"), "no");  // 1 each: "no" comes before "yes"
  EXPECT_EQ(prior.answer_of("count"), "2");
  EXPECT_EQ(prior.answer_of("shape"), "red");  // never seen: the overall most frequent
  EXPECT_EQ(prior.trained_on(), 6);
}

TEST(AnswerPrior, WithoutAFamilyTheAnswerTypeIsTheKey) {
  data::QaEntry q = qa("", "2");
  q.answer_type = "number";
  EXPECT_EQ(question_type(q), "number");
  EXPECT_EQ(question_type(qa("size", "big")), "size");
}

TEST(AnswerPrior, ScoresWithTheOfficialVqaAccuracyByFamily) {
  const auto prior = AnswerPrior::fit(dataset({qa("colour", "red"), qa("exist", "yes")}));
  // Two of ten humans said "red": the leave-one-out mean of min(matches / 3, 1) is 0.6.
  std::vector<std::string> two_red(8, "blue");
  two_red.insert(two_red.end(), {"red", "red"});
  const auto r =
      prior.score(dataset({qa("colour", "blue", two_red), qa("exist", "yes"), qa("exist", "no")}));
  EXPECT_EQ(r.questions, 3);
  EXPECT_NEAR(r.by_type.at("colour").first, 0.6, 1e-12);
  EXPECT_EQ(r.by_type.at("colour").second, 1);
  EXPECT_NEAR(r.by_type.at("exist").first, 0.5, 1e-12);
  EXPECT_NEAR(r.accuracy, (0.6 + 1 + 0) / 3, 1e-12);
}

TEST(AnswerPrior, ScoresOnlyTheFirstImagesWhenToldHowMany) {
  const auto prior = AnswerPrior::fit(dataset({qa("exist", "yes")}));
  auto ds = dataset({qa("exist", "yes")});
  ds.images.push_back(ds.images[0]);
  ds.images[1].questions[0] = qa("exist", "no");
  EXPECT_EQ(prior.score(ds, 1).questions, 1);
  EXPECT_NEAR(prior.score(ds, 1).accuracy, 1.0, 1e-12);
  EXPECT_EQ(prior.score(ds).questions, 2);
  EXPECT_NEAR(prior.score(ds).accuracy, 0.5, 1e-12);
}

TEST(AnswerPrior, NothingToScoreIsZeroQuestions) {
  const auto prior = AnswerPrior::fit(dataset({qa("colour", "red")}));
  const auto r = prior.score(data::Dataset{});
  EXPECT_EQ(r.questions, 0);
  EXPECT_EQ(r.accuracy, 0.0);
}

}  // namespace
}  // namespace glimpse::train

#include "glimpse/text/caption_questions.h"

#include <gtest/gtest.h>

namespace glimpse::text {
namespace {

const CaptionQuestionMaker& maker() {
  // take() throws, saying what is missing
  static const CaptionQuestionMaker m =
      CaptionQuestionMaker::load(WordNetNouns::kDefaultDir).take();
  return m;
}

std::vector<std::string> asked(const std::string& caption) {
  std::vector<std::string> out;
  for (const auto& q : maker().questions(caption))
    out.push_back(q.type + ": " + q.question + " " + q.answer);
  return out;
}

TEST(CaptionQuestions, TheSubjectAndTheObjectOfTheVerb) {
  EXPECT_EQ(asked("A dog is catching a ball ."),
            (std::vector<std::string>{"object: what is catching a ball? dog",
                                      "object: what is the dog catching? ball"}));
  EXPECT_EQ(asked("A black dog runs through the water ."),
            (std::vector<std::string>{"object: what runs through the water? dog",
                                      "colour: what is the colour of the dog? black"}));
  // a place after the verb's object: the verb is left out
  EXPECT_EQ(asked("A man holding a cup in the hall ."),
            (std::vector<std::string>{"object: what is holding a cup in the hall? man",
                                      "object: what is the man holding? cup",
                                      "location: where is the man? hall"}));
}

TEST(CaptionQuestions, NumbersColoursAndPlaces) {
  EXPECT_EQ(
      asked("Two girls are sitting on a bench in the park ."),
      (std::vector<std::string>{"number: how many girls are sitting on a bench in the park? two",
                                "location: where are the girls? park"}));
  EXPECT_EQ(asked("A man in a red shirt climbs a rock ."),
            (std::vector<std::string>{"object: what climbs a rock? man",
                                      "colour: what is the colour of the shirt? red"}));
  EXPECT_EQ(asked("A dog is running in the park ."),
            (std::vector<std::string>{"object: what is running in the park? dog",
                                      "location: where is the dog running? park"}));
}

TEST(CaptionQuestions, WhatTheChunkerCannotReadGivesNoQuestion) {
  EXPECT_TRUE(asked("").empty());
  EXPECT_TRUE(asked("Dogs .").empty());
  // a subject of two nouns: "what" would have two answers
  for (const auto& q : maker().questions("A man and a woman are walking down the street ."))
    EXPECT_NE(q.type, "object") << q.question;
  // one thing in two colours is not asked about
  EXPECT_TRUE(asked("A red shirt and a blue shirt hang .").size() <= 1);
}

TEST(CaptionQuestions, PruningDropsRareAnswersAndThinsCommonOnes) {
  std::vector<std::string> answers(100, "dog");
  for (int i = 0; i < 10; ++i)
    answers.push_back("cat");
  answers.push_back("yak");
  answers.push_back("cat");  // not counted: a dev question
  std::vector<bool> counted(answers.size(), true);
  counted.back() = false;
  const auto keep = prune_answers(answers, counted, 2, 0.2, 7);
  int dogs = 0, cats = 0;
  for (size_t i = 0; i < 100; ++i)
    dogs += keep[i];
  for (size_t i = 100; i < 110; ++i)
    cats += keep[i];
  EXPECT_EQ(cats, 10);                                          // under the share: all kept
  EXPECT_NEAR(dogs, 22, 10);                                    // 0.2 × 111 of 100 kept, about
  EXPECT_FALSE(keep[110]);                                      // seen once: too rare
  EXPECT_TRUE(keep[111]);                                       // a dev question with a kept answer
  EXPECT_EQ(prune_answers(answers, counted, 2, 0.2, 7), keep);  // the same for the same seed
}

}  // namespace
}  // namespace glimpse::text

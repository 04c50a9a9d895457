// The answer-prior baseline: what a model scores that answers every question of a family (the
// shapes world's) or answer type (VQA v2's) with that family's most frequent training answer,
// never looking at the image or the rest of the question. Scored as evaluate() scores a model
// (the official VQA accuracy), so the two figures stand side by side.
//
//   auto prior = AnswerPrior::fit(train_set);
//   PriorReport r = prior.score(test_set);  // r.accuracy, r.by_type["count"]
#pragma once

#include <map>
#include <string>
#include <utility>

#include "glimpse/data/datasets.h"

namespace glimpse::train {

// The key evaluate() groups questions by: the family, else the answer type.
std::string question_type(const data::QaEntry& q);

struct PriorReport {
  int questions = 0;
  double accuracy = 0;
  std::map<std::string, std::pair<double, int>> by_type;  // accuracy and question count
};

class AnswerPrior {
 public:
  // The most frequent answer of each type and overall; ties go to the answer first in
  // alphabetical order, so the prior does not depend on the order of the file.
  static AnswerPrior fit(const data::Dataset& train);
  // The type's answer; a type the training set never had gets the overall one.
  const std::string& answer(const data::QaEntry& q) const { return answer_of(question_type(q)); }
  const std::string& answer_of(const std::string& type) const;
  // Over the first `max_images` images (0: all), as EvalOptions::max_images picks them.
  PriorReport score(const data::Dataset& dataset, int max_images = 0) const;
  int trained_on() const { return questions_; }

 private:
  std::map<std::string, std::string> by_type_;
  std::string overall_;
  int questions_ = 0;
};

}  // namespace glimpse::train

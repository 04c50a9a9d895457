#include "glimpse/train/answer_prior.h"

#include <algorithm>

#include "glimpse/text/vqa_accuracy.h"

namespace glimpse::train {

namespace {

// The most frequent key; among equals the first in order (std::map's).
std::string most_frequent(const std::map<std::string, int>& counts) {
  std::string best;
  int n = 0;
  for (const auto& [answer, count] : counts)
    if (count > n) {
      best = answer;
      n = count;
    }
  return best;
}

}  // namespace

std::string question_type(const data::QaEntry& q) {
  return q.family.empty() ? q.answer_type : q.family;
}

AnswerPrior AnswerPrior::fit(const data::Dataset& train) {
  std::map<std::string, std::map<std::string, int>> counts;
  std::map<std::string, int> all;
  AnswerPrior prior;
  for (const auto& image : train.images)
    for (const auto& q : image.questions) {
      ++counts[question_type(q)][q.answer];
      ++all[q.answer];
      ++prior.questions_;
    }
  for (const auto& [type, answers] : counts)
    prior.by_type_[type] = most_frequent(answers);
  prior.overall_ = most_frequent(all);
  return prior;
}

const std::string& AnswerPrior::answer_of(const std::string& type) const {
  const auto it = by_type_.find(type);
  return it == by_type_.end() ? overall_ : it->second;
}

PriorReport AnswerPrior::score(const data::Dataset& dataset, int max_images) const {
  PriorReport r;
  double total = 0;
  size_t n = dataset.images.size();
  if (max_images > 0)
    n = std::min(n, static_cast<size_t>(max_images));
  for (size_t i = 0; i < n; ++i)
    for (const auto& q : dataset.images[i].questions) {
      const double acc = text::vqa_accuracy(answer(q), q.answers);
      auto& by = r.by_type[question_type(q)];
      by.first += acc;
      ++by.second;
      total += acc;
      ++r.questions;
    }
  for (auto& [type, by] : r.by_type)
    by.first /= by.second;
  r.accuracy = r.questions > 0 ? total / r.questions : 0.0;
  return r;
}

}  // namespace glimpse::train

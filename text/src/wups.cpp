#include "glimpse/text/wups.h"

#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>

namespace glimpse::text {

namespace {

using Measure = std::function<double(const std::string&, const std::string&)>;

double membership(const std::string& x, const std::vector<std::string>& set, const Measure& m) {
  double best = 0.0;
  for (const auto& y : set)
    best = std::max(best, m(x, y));
  return best;
}

double score(const std::vector<std::string>& truth, const std::vector<std::string>& prediction,
             const Measure& m) {
  if (truth.empty() && prediction.empty())
    return 1.0;
  if (truth.empty() || prediction.empty())
    return 0.0;
  double left = 1.0, right = 1.0;
  for (const auto& a : truth)
    left *= membership(a, prediction, m);
  for (const auto& p : prediction)
    right *= membership(p, truth, m);
  return std::min(left, right);
}

// The largest Wu-Palmer similarity between a noun synset of a and one of b (0 when either has
// none): WUPS's measure before its threshold, 1 for equal items.
double best_wup(const WordNetNouns& wordnet, const std::string& a, const std::string& b) {
  if (a == b)
    return 1.0;
  if (a.empty() || b.empty())
    return 0.0;
  const auto sa = wordnet.synsets(a), sb = wordnet.synsets(b);
  double best = 0.0;
  for (const auto x : sa)
    for (const auto y : sb)
      best = std::max(best, wordnet.wup_similarity(x, y));
  return best;
}

double thresholded(double best, double threshold) {
  return best < threshold ? best * 0.1 : best;
}

}  // namespace

std::vector<std::string> answer_items(const std::string& answer) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const auto comma = answer.find(',', start);
    auto item =
        answer.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto first = item.find_first_not_of(" \t\r\n");
    const auto last = item.find_last_not_of(" \t\r\n");
    items.push_back(first == std::string::npos ? "" : item.substr(first, last - first + 1));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (items.size() == 1 && items[0].empty())
    items.clear();
  return items;
}

double exact_measure(const std::string& a, const std::string& b) {
  return a == b ? 1.0 : 0.0;
}

double wup_measure(const WordNetNouns& wordnet, const std::string& a, const std::string& b,
                   double threshold) {
  return thresholded(best_wup(wordnet, a, b), threshold);
}

double daquar_accuracy(const std::string& truth, const std::string& prediction) {
  return score(answer_items(truth), answer_items(prediction), exact_measure);
}

double wups(const WordNetNouns& wordnet, const std::string& truth, const std::string& prediction,
            double threshold) {
  return score(answer_items(truth), answer_items(prediction),
               [&](const std::string& a, const std::string& b) {
                 return wup_measure(wordnet, a, b, threshold);
               });
}

DaquarReport daquar_report(const WordNetNouns& wordnet, const std::vector<std::string>& truths,
                           const std::vector<std::string>& predictions) {
  if (truths.size() != predictions.size())
    throw std::invalid_argument("daquar_report: " + std::to_string(truths.size()) + " truths and " +
                                std::to_string(predictions.size()) + " predictions");
  // Each pair of items' similarity once, for both thresholds and every question that repeats it.
  std::map<std::pair<std::string, std::string>, double> known;
  const auto at = [&](double threshold) {
    return [&known, &wordnet, threshold](const std::string& a, const std::string& b) {
      auto it = known.find({a, b});
      if (it == known.end())
        it = known.emplace(std::make_pair(a, b), best_wup(wordnet, a, b)).first;
      return thresholded(it->second, threshold);
    };
  };
  DaquarReport r;
  const auto add = [](DaquarFigures& f, double acc, double w9, double w0) {
    ++f.questions;
    f.accuracy += acc;
    f.wups_09 += w9;
    f.wups_00 += w0;
  };
  for (size_t i = 0; i < truths.size(); ++i) {
    const auto truth = answer_items(truths[i]), prediction = answer_items(predictions[i]);
    const double acc = score(truth, prediction, exact_measure);
    const double w9 = score(truth, prediction, at(0.9));
    const double w0 = score(truth, prediction, at(0.0));
    add(r.all, acc, w9, w0);
    if (truth.size() == 1)
      add(r.single_word, acc, w9, w0);
  }
  for (auto* f : {&r.all, &r.single_word})
    if (f->questions > 0) {
      f->accuracy /= f->questions;
      f->wups_09 /= f->questions;
      f->wups_00 /= f->questions;
    }
  return r;
}

}  // namespace glimpse::text

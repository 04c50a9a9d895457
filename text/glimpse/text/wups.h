// DAQUAR's answer scores, exactly as Malinowski's calculate_wups.py computes them (Malinowski &
// Fritz, NIPS 2014): an answer is a comma-separated set of items ("chair, table"; each item
// stripped of spaces), and a prediction P scores against the truth A
//   score(A, P) = min( Π_{a∈A} max_{p∈P} m(a, p),  Π_{p∈P} max_{a∈A} m(p, a) )
// (1 when both are empty, 0 when one is). The accuracy takes m(a, b) = [a = b]; WUPS@θ takes
//   m(a, b) = 1 if a = b, else w = the largest Wu-Palmer similarity between any noun synset of a
//   and any of b (0 when either has none), and w · 0.1 when w < θ.
// So "book, book" against "book" scores 1 (a set, not a bag), "2" against "two" and "bed"
// against "beds" score 1 under WUPS (one synset; morphy), never under the accuracy.
#pragma once

#include <string>
#include <vector>

#include "glimpse/text/wordnet.h"

namespace glimpse::text {

// The items of an answer: split on ',', each stripped of surrounding spaces.
std::vector<std::string> answer_items(const std::string& answer);

// The accuracy's m: 1 when the items are equal.
double exact_measure(const std::string& a, const std::string& b);
// WUPS@threshold's m.
double wup_measure(const WordNetNouns& wordnet, const std::string& a, const std::string& b,
                   double threshold);

// score(A, P) for the truth and the prediction as written (comma-separated).
double daquar_accuracy(const std::string& truth, const std::string& prediction);
double wups(const WordNetNouns& wordnet, const std::string& truth, const std::string& prediction,
            double threshold);

// The figures DAQUAR's papers report, over a set of questions: accuracy, WUPS@0.9 and WUPS@0.0
// (each a mean of the scores above, in [0, 1]).
struct DaquarFigures {
  int questions = 0;
  double accuracy = 0, wups_09 = 0, wups_00 = 0;
};
struct DaquarReport {
  DaquarFigures all, single_word;  // single_word: the questions whose truth is one item
};
// truths[i] and predictions[i] are one question's answers as written; sizes must agree.
DaquarReport daquar_report(const WordNetNouns& wordnet, const std::vector<std::string>& truths,
                           const std::vector<std::string>& predictions);

}  // namespace glimpse::text

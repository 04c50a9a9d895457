// VQA accuracy as the official VQA evaluation (vqaEval.py, its current revision, as LAVIS
// copies it) computes it:
//   - every answer, predicted and human: newlines and tabs to spaces, then Python's strip();
//   - only when the ten human answers are not all identical, both sides are normalised:
//     punctuation processed, lower-cased, number words to digits, articles dropped,
//     contractions restored. When they are identical, nothing is: "Yes" or "yes." against ten
//     "yes" scores 0;
//   - accuracy = mean over the ten leave-one-out subsets of min(#matches / 3, 1).
// Punctuation processing keeps the official quirks: a punctuation mark is deleted when the
// original text has it next to a space or has a digit,digit comma anywhere, otherwise it
// becomes a space; up to 32 periods not followed by a digit are removed. Thread-safe.
#pragma once

#include <string>
#include <vector>

namespace glimpse::text {

std::string vqa_process_punctuation(const std::string& text);
std::string vqa_process_digit_article(const std::string& text);
// Both, in the order the evaluation applies them to a predicted answer.
std::string vqa_normalize_answer(const std::string& answer);

// Accuracy of one predicted answer against the human answers (normally ten), in [0, 1].
double vqa_accuracy(const std::string& predicted, const std::vector<std::string>& human_answers);

}  // namespace glimpse::text

// VQA accuracy as the official VQA evaluation (vqaEval.py) computes it:
//   - the predicted answer: newlines and tabs to spaces, stripped, punctuation processed,
//     lower-cased, number words to digits, articles dropped, contractions restored;
//   - the ten human answers: punctuation processed only when they are not all identical;
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

// The caption chunker of `glimpse questions` (caption_questions.h) on any caption a dataset can
// hold: every question it makes ends with "?", has a one-word answer and a known type.
#include "fuzz_target.h"
#include "glimpse/text/caption_questions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;  // NOLINT
  static const text::CaptionQuestionMaker maker =
      text::CaptionQuestionMaker::load(text::WordNetNouns::kDefaultDir).take();
  const std::string caption(fuzzing::as_text(data, size));
  for (const auto& q : maker.questions(caption)) {
    fuzzing::require(!q.question.empty() && q.question.back() == '?', "a question without '?'",
                     q.question);
    fuzzing::require(!q.answer.empty() && q.answer.find(' ') == std::string::npos,
                     "an answer that is not one word", q.answer);
    fuzzing::require(
        q.type == "object" || q.type == "number" || q.type == "colour" || q.type == "location",
        "an unknown question type", q.type);
  }
  return 0;
}

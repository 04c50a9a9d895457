#include "glimpse/train/attention_correctness.h"

#include "glimpse/fusion/overlay.h"
#include "glimpse/text/tokenizer.h"

namespace glimpse::train {

namespace {

// Whether the references, read at the window [u - left, u + right] around a word, agree on
// its box: `found` with `box`, `none` when some reference has the window without a box,
// `ambiguous` when two give different boxes.
struct WindowVote {
  bool none = false, found = false, ambiguous = false;
  cv::Rect box;
};

WindowVote vote(const std::vector<std::string>& words, size_t t, size_t left, size_t right,
                const std::vector<std::vector<std::string>>& ref_words,
                const std::vector<data::CaptionEntry>& references) {
  WindowVote v;
  for (size_t r = 0; r < references.size(); ++r) {
    const auto& rw = ref_words[r];
    const auto& boxes = references[r].word_boxes;
    if (boxes.size() != rw.size())
      continue;  // no boxes in this reference
    for (size_t u = left; u + right < rw.size(); ++u) {
      bool same = true;
      for (size_t j = u - left; j <= u + right && same; ++j)
        same = rw[j] == words[t - u + j];
      if (!same)
        continue;
      if (!boxes[u]) {
        v.none = true;
      } else if (!v.found) {
        v.found = true;
        v.box = *boxes[u];
      } else if (*boxes[u] != v.box) {
        v.ambiguous = true;
      }
    }
  }
  return v;
}

}  // namespace

std::optional<cv::Rect> referent(const std::vector<std::string>& words, size_t t,
                                 const std::vector<data::CaptionEntry>& references) {
  // Split as training splits them, so word_boxes line up with the words.
  std::vector<std::vector<std::string>> ref_words;
  for (const auto& r : references)
    ref_words.push_back(text::tokenize(r.text));
  // Windows around t by growing size, the words after t first (adjectives come before nouns).
  for (size_t size = 0; size <= 3; ++size)
    for (size_t left = 0; left <= size; ++left) {
      const size_t right = size - left;
      if (left > t || t + right >= words.size())
        continue;
      const WindowVote v = vote(words, t, left, right, ref_words, references);
      if (!v.found && size == 0)
        return std::nullopt;  // the word never occurs, or never names an object
      if (v.found && !v.ambiguous && !v.none)
        return v.box;
    }
  return std::nullopt;
}

void AttentionShare::add(const fusion::Prediction& pred, size_t t,
                         const std::vector<cv::Rect>& boxes, cv::Size image_size,
                         const vision::PreprocessOptions& pre) {
  const cv::Size grid(static_cast<int>(pred.grid_w), static_cast<int>(pred.grid_h));
  const cv::Mat cover = fusion::cell_coverage(grid, image_size, pre, boxes);
  attention += fusion::mass_inside(fusion::word_attention(pred, t), cover);
  uniform += fusion::mass_inside(cv::Mat(grid, CV_32F, cv::Scalar(1.0f)), cover);
  ++words;
}

}  // namespace glimpse::train

// Attention correctness (Liu et al. 2017, "Attention Correctness in Neural Image Captioning"):
// the share of a word's attention that falls inside the box of the object it names, beside the
// share uniform attention would put there.
//
//   AttentionShare share;
//   if (auto box = referent(pred.words, t, entry.captions)) share.add(pred, t, {*box}, size, pre);
//   share.mean_attention();  // against share.mean_uniform()
#pragma once

#include <opencv2/core.hpp>

#include <optional>
#include <string>
#include <vector>

#include "glimpse/data/datasets.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/vision/preprocess.h"

namespace glimpse::train {

// The object word t of a caption refers to, read off the reference captions' word boxes: the
// box every reference gives the same word in the same context, where the context is the
// smallest window of neighbouring words (up to 3, following words first) that makes the
// answer unique. None when the word never has a box in the references (articles, relations),
// or stays ambiguous.
std::optional<cv::Rect> referent(const std::vector<std::string>& words, size_t t,
                                 const std::vector<data::CaptionEntry>& references);

// The attention of words on their boxes, summed over words.
struct AttentionShare {
  int words = 0;
  double attention = 0, uniform = 0;  // sums over the words
  // Adds word t of `pred`, whose object lies in `boxes` (pixels of an image of `image_size`,
  // seen by the model through `pre`).
  void add(const fusion::Prediction& pred, size_t t, const std::vector<cv::Rect>& boxes,
           cv::Size image_size, const vision::PreprocessOptions& pre);
  double mean_attention() const { return words > 0 ? attention / words : 0.0; }
  double mean_uniform() const { return words > 0 ? uniform / words : 0.0; }
};

}  // namespace glimpse::train

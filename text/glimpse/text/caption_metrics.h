// BLEU-1..4, ROUGE-L and CIDEr-D computed as coco-caption (pycocoevalcap) computes them, on
// captions already normalised by normalize_caption() (tokens joined by spaces):
//   BLEU    corpus-level (Papineni et al. 2002) with coco-caption's "closest" reference length
//           (ties to the shorter), smoothing constants 1e-15 / 1e-9, brevity penalty on the
//           corpus totals.
//   ROUGE-L per image max precision and recall of the LCS over the references,
//           F = (1+β²)PR / (R + β²P), β = 1.2; averaged over images (Lin 2004).
//   CIDEr-D tf-idf n-gram vectors (n = 1..4) with idf from the references of the evaluated
//           set, clipped hypothesis counts, a Gaussian length penalty σ = 6 (length counted, as
//           in pycocoevalcap, in bigrams), mean over n, averaged over references, ×10
//           (Vedantam et al. 2015).
// Thread-safe; pure functions.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace glimpse::text {

struct CaptionScores {
  std::array<double, 4> bleu{};  // BLEU-1..4
  double rouge_l = 0.0;
  double cider_d = 0.0;
  std::vector<double> cider_per_image;
};

// candidates[i] is the caption for image i, references[i] its reference captions (at least one).
std::array<double, 4> bleu(const std::vector<std::string>& candidates,
                           const std::vector<std::vector<std::string>>& references);
double rouge_l(const std::vector<std::string>& candidates,
               const std::vector<std::vector<std::string>>& references);
std::vector<double> cider_d(const std::vector<std::string>& candidates,
                            const std::vector<std::vector<std::string>>& references);

// All of them; throws glimpse::Error when the lists differ in length or an image has no
// reference.
CaptionScores score_captions(const std::vector<std::string>& candidates,
                             const std::vector<std::vector<std::string>>& references);

}  // namespace glimpse::text

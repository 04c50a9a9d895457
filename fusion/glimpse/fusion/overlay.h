// Where the model looked: a word's attention over the encoder's grid, laid back on the image.
//
//   auto map = word_attention(prediction, t);                 // [grid_h, grid_w] CV_32F, sums to 1
//   double in = mass_inside(map, image.size(), cfg.image, {box});  // share inside the box
//   cv::Mat shown = overlay(image, map, cfg.image, {});        // heat map over the photo
//   cv::Mat sheet = overlay_sheet(image, prediction, cfg.image, {});  // image + one tile a word
//
// Cells map to the image through the preprocessing (model_view): with center-crop the grid
// covers the central part, with letterbox it overhangs the image.
#pragma once

#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/vision/preprocess.h"

namespace glimpse::fusion {

// The attention of emitted token t: one layer and head, or the average (-1) over layers or
// heads. Throws glimpse::Error for indices out of range.
cv::Mat word_attention(const Prediction& p, size_t t, int layer = -1, int head = -1);

// How much of each grid cell (grid.height x grid.width, CV_32F in [0, 1]) the union of `boxes`
// covers, the cells laid over the image as the preprocessing puts them.
cv::Mat cell_coverage(cv::Size grid, cv::Size image, const vision::PreprocessOptions& pre,
                      const std::vector<cv::Rect>& boxes);

// The attention a supervised word is pulled toward: coverage^power over the cells, summing to 1
// (all zeros when no cell is covered). Power 1 spreads it over every cell the box touches;
// larger powers concentrate it on the cells that lie wholly inside, where attention
// correctness counts it whole.
cv::Mat attention_target(const cv::Mat& coverage, double power = 1.0);

// The share of `map`'s mass inside the union of `boxes` (image pixels), each cell's weight
// spread evenly over the image pixels it covers: exact, so uniform attention scores
// (box area inside the view) / (view area).
double mass_inside(const cv::Mat& map, cv::Size image, const vision::PreprocessOptions& pre,
                   const std::vector<cv::Rect>& boxes);

// The same share with the coverage given (from cell_coverage), when one coverage serves several
// maps.
double mass_inside(const cv::Mat& map, const cv::Mat& coverage);

// The same share for uniform attention: the baseline attention correctness is compared with.
double uniform_mass_inside(cv::Size grid, cv::Size image, const vision::PreprocessOptions& pre,
                           const std::vector<cv::Rect>& boxes);

struct OverlayOptions {
  std::string colormap = "jet";  // jet, turbo, viridis, inferno, magma, hot, gray
  double opacity = 0.6;          // of the heat map over the image, 0..1
  int tile = 224;                // sheet: longest side of each tile in pixels
  int columns = 5;               // sheet: tiles per row
};

// The names colormap accepts, for help texts and errors.
std::vector<std::string> colormap_names();
// Checks colormap and opacity; the message names the bad value and the valid ones.
Status validate(const OverlayOptions& options);

// The map upsampled smoothly (bicubic over the model's view) to the image's size, scaled to
// 0..1 by its maximum. CV_32F, image.height x image.width.
cv::Mat upsample(const cv::Mat& map, cv::Size image, const vision::PreprocessOptions& pre);

// The RGB image under the coloured heat map of `map`.
cv::Mat overlay(const cv::Mat& rgb, const cv::Mat& map, const vision::PreprocessOptions& pre,
                const OverlayOptions& options);

// Show, Attend and Tell's figure: the image, then one tile a word (the image under that word's
// heat map, the word written beneath), `columns` tiles a row. RGB.
cv::Mat overlay_sheet(const cv::Mat& rgb, const Prediction& p, const vision::PreprocessOptions& pre,
                      const OverlayOptions& options, const std::string& title = "");

// One image a word, as overlay_sheet's tiles but at the image's own size, with the word beneath.
std::vector<cv::Mat> overlay_words(const cv::Mat& rgb, const Prediction& p,
                                   const vision::PreprocessOptions& pre,
                                   const OverlayOptions& options);

}  // namespace glimpse::fusion

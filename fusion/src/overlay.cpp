#include "glimpse/fusion/overlay.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <map>

namespace glimpse::fusion {

namespace {

const std::map<std::string, int>& colormaps() {
  static const std::map<std::string, int> k = {{"jet", cv::COLORMAP_JET},
                                               {"turbo", cv::COLORMAP_TURBO},
                                               {"viridis", cv::COLORMAP_VIRIDIS},
                                               {"inferno", cv::COLORMAP_INFERNO},
                                               {"magma", cv::COLORMAP_MAGMA},
                                               {"hot", cv::COLORMAP_HOT},
                                               {"gray", -1}};
  return k;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += (s.empty() ? "" : ", ") + x;
  return s;
}

// The image pixels cell (r, c) covers, rounded to whole pixels (may lie partly outside).
cv::Rect cell_rect(const cv::Rect2d& view, int r, int c, int gh, int gw) {
  const double cw = view.width / gw, ch = view.height / gh;
  const int x0 = static_cast<int>(std::lround(view.x + c * cw));
  const int x1 = static_cast<int>(std::lround(view.x + (c + 1) * cw));
  const int y0 = static_cast<int>(std::lround(view.y + r * ch));
  const int y1 = static_cast<int>(std::lround(view.y + (r + 1) * ch));
  return {x0, y0, std::max(1, x1 - x0), std::max(1, y1 - y0)};
}

}  // namespace

cv::Mat cell_coverage(cv::Size grid, cv::Size image, const vision::PreprocessOptions& pre,
                      const std::vector<cv::Rect>& boxes) {
  if (grid.width < 1 || grid.height < 1 || image.width < 1 || image.height < 1)
    throw Error(ErrorCode::kInvalidArgument, "cell coverage needs a non-empty grid and image");
  cv::Mat mask(image, CV_8U, cv::Scalar(0));
  const cv::Rect whole(0, 0, image.width, image.height);
  for (const auto& b : boxes)
    mask(b & whole).setTo(1);
  cv::Mat sum;
  cv::integral(mask, sum, CV_64F);
  const cv::Rect2d view = vision::model_view(image, pre);
  cv::Mat out(grid, CV_32F, cv::Scalar(0));
  for (int r = 0; r < grid.height; ++r)
    for (int c = 0; c < grid.width; ++c) {
      const cv::Rect cell = cell_rect(view, r, c, grid.height, grid.width);
      const cv::Rect in = cell & whole;
      if (in.area() == 0)
        continue;
      const double covered = sum.at<double>(in.y + in.height, in.x + in.width) -
                             sum.at<double>(in.y, in.x + in.width) -
                             sum.at<double>(in.y + in.height, in.x) + sum.at<double>(in.y, in.x);
      out.at<float>(r, c) = static_cast<float>(covered / cell.area());
    }
  return out;
}

cv::Mat attention_target(const cv::Mat& coverage, double power) {
  if (coverage.empty() || coverage.type() != CV_32F)
    throw Error(ErrorCode::kInvalidArgument, "coverage must be a non-empty CV_32F grid");
  if (!(power >= 1.0))
    throw Error(ErrorCode::kInvalidArgument, "the attention target's power must be 1 or more");
  cv::Mat t;
  cv::pow(coverage, power, t);
  const double total = cv::sum(t)[0];
  if (total > 0)
    t /= total;
  return t;
}

double mass_inside(const cv::Mat& map, const cv::Mat& coverage) {
  if (map.empty() || map.type() != CV_32F)
    throw Error(ErrorCode::kInvalidArgument, "attention map must be a non-empty CV_32F grid");
  if (coverage.size() != map.size() || coverage.type() != CV_32F)
    throw Error(ErrorCode::kInvalidArgument, "coverage must be a CV_32F grid of the map's size");
  const double total = cv::sum(map)[0];
  return total > 0 ? map.dot(coverage) / total : 0.0;
}

double mass_inside(const cv::Mat& map, cv::Size image, const vision::PreprocessOptions& pre,
                   const std::vector<cv::Rect>& boxes) {
  if (map.empty() || map.type() != CV_32F)
    throw Error(ErrorCode::kInvalidArgument, "attention map must be a non-empty CV_32F grid");
  return mass_inside(map, cell_coverage(map.size(), image, pre, boxes));
}

double uniform_mass_inside(cv::Size grid, cv::Size image, const vision::PreprocessOptions& pre,
                           const std::vector<cv::Rect>& boxes) {
  return mass_inside(cv::Mat(grid, CV_32F, cv::Scalar(1.0f)), image, pre, boxes);
}

namespace {

cv::Mat label_strip(const std::string& text, int width, int height) {
  cv::Mat strip(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  if (text.empty())
    return strip;
  double scale = height / 40.0;
  int base = 0;
  cv::Size sz = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
  if (sz.width > width - 4) {
    scale *= double(width - 4) / sz.width;
    sz = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
  }
  cv::putText(strip, text, {(width - sz.width) / 2, (height + sz.height) / 2},
              cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  return strip;
}

cv::Mat with_label(const cv::Mat& img, const std::string& text) {
  cv::Mat out;
  cv::vconcat(img, label_strip(text, img.cols, std::max(18, img.cols / 8)), out);
  return out;
}

cv::Mat fit(const cv::Mat& rgb, int side) {
  const double s = double(side) / std::max(rgb.cols, rgb.rows);
  cv::Mat out;
  cv::resize(
      rgb, out,
      {std::max(1, int(std::lround(rgb.cols * s))), std::max(1, int(std::lround(rgb.rows * s)))}, 0,
      0, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

}  // namespace

cv::Mat word_attention(const Prediction& p, size_t t, int layer, int head) {
  const auto& a = p.attention;  // [T, layers, heads, gh, gw]
  if (!a.defined() || a.dim() != 5)
    throw Error(ErrorCode::kInvalidArgument, "the prediction carries no attention maps");
  if (t >= static_cast<size_t>(a.size(0)))
    throw Error(ErrorCode::kInvalidArgument, "word " + std::to_string(t) + " is past the " +
                                                 std::to_string(a.size(0)) + " attention steps");
  if (layer >= a.size(1) || head >= a.size(2))
    throw Error(ErrorCode::kInvalidArgument,
                "the model has " + std::to_string(a.size(1)) + " attention layers of " +
                    std::to_string(a.size(2)) + " heads (0-based; -1 averages)");
  auto m = a.select(0, static_cast<int64_t>(t)).to(torch::kFloat32);  // [layers, heads, gh, gw]
  m = layer < 0 ? m.mean(0) : m.select(0, layer);
  m = head < 0 ? m.mean(0) : m.select(0, head);
  m = m.contiguous();
  return cv::Mat(static_cast<int>(m.size(0)), static_cast<int>(m.size(1)), CV_32F, m.data_ptr())
      .clone();
}

std::vector<std::string> colormap_names() {
  std::vector<std::string> v;
  for (const auto& [name, id] : colormaps())
    v.push_back(name);
  return v;
}

Status validate(const OverlayOptions& o) {
  if (!colormaps().count(o.colormap))
    return Status::failure(
        ErrorCode::kInvalidArgument,
        "unknown colour map '" + o.colormap + "'; use one of " + joined(colormap_names()));
  if (!(o.opacity >= 0.0 && o.opacity <= 1.0))
    return Status::failure(ErrorCode::kInvalidArgument,
                           "opacity must be between 0 and 1, got " + std::to_string(o.opacity));
  if (o.tile < 32 || o.tile > 4096 || o.columns < 1 || o.columns > 100)
    return Status::failure(ErrorCode::kInvalidArgument,
                           "tile must be 32..4096 pixels and columns 1..100");
  return {};
}

cv::Mat upsample(const cv::Mat& map, cv::Size image, const vision::PreprocessOptions& pre) {
  const cv::Rect2d view = vision::model_view(image, pre);
  // The grid stretched over the view, then cut to the image: cell centres land on the image
  // pixels they describe.
  const double sx = map.cols / view.width, sy = map.rows / view.height;
  cv::Mat affine = (cv::Mat_<double>(2, 3) << sx, 0, -view.x * sx - 0.5 + 0.5 * sx, 0, sy,
                    -view.y * sy - 0.5 + 0.5 * sy);
  cv::Mat out;
  cv::warpAffine(map, out, affine, image, cv::INTER_CUBIC | cv::WARP_INVERSE_MAP,
                 cv::BORDER_REPLICATE);
  cv::max(out, 0.0, out);  // bicubic overshoot
  double hi = 0;
  cv::minMaxLoc(out, nullptr, &hi);
  if (hi > 0)
    out /= hi;
  return out;
}

cv::Mat overlay(const cv::Mat& rgb, const cv::Mat& map, const vision::PreprocessOptions& pre,
                const OverlayOptions& o) {
  validate(o).throw_if_error();
  cv::Mat heat = upsample(map, rgb.size(), pre);
  cv::Mat heat8;
  heat.convertTo(heat8, CV_8U, 255.0);
  cv::Mat coloured;
  const int id = colormaps().at(o.colormap);
  if (id < 0) {
    cv::cvtColor(heat8, coloured, cv::COLOR_GRAY2RGB);
  } else {
    cv::applyColorMap(heat8, coloured, id);  // BGR
    cv::cvtColor(coloured, coloured, cv::COLOR_BGR2RGB);
  }
  cv::Mat out;
  cv::addWeighted(rgb, 1.0 - o.opacity, coloured, o.opacity, 0.0, out);
  return out;
}

std::vector<cv::Mat> overlay_words(const cv::Mat& rgb, const Prediction& p,
                                   const vision::PreprocessOptions& pre, const OverlayOptions& o) {
  validate(o).throw_if_error();
  std::vector<cv::Mat> out;
  for (size_t t = 0; t < p.words.size(); ++t)
    out.push_back(with_label(overlay(rgb, word_attention(p, t), pre, o), p.words[t]));
  return out;
}

cv::Mat overlay_sheet(const cv::Mat& rgb, const Prediction& p, const vision::PreprocessOptions& pre,
                      const OverlayOptions& o, const std::string& title) {
  validate(o).throw_if_error();
  // Heat maps are computed at the tile's size: the same picture, far less work for big photos.
  const cv::Mat small = fit(rgb, o.tile);
  std::vector<cv::Mat> tiles{with_label(small, title)};
  for (size_t t = 0; t < p.words.size(); ++t)
    tiles.push_back(with_label(overlay(small, word_attention(p, t), pre, o), p.words[t]));
  const int cols = std::min<int>(o.columns, static_cast<int>(tiles.size()));
  const int rows = (static_cast<int>(tiles.size()) + cols - 1) / cols;
  const int gap = 4, tw = tiles[0].cols, th = tiles[0].rows;
  cv::Mat sheet(rows * th + (rows + 1) * gap, cols * tw + (cols + 1) * gap, CV_8UC3,
                cv::Scalar(255, 255, 255));
  for (size_t i = 0; i < tiles.size(); ++i) {
    const int r = static_cast<int>(i) / cols, c = static_cast<int>(i) % cols;
    tiles[i].copyTo(sheet(cv::Rect(gap + c * (tw + gap), gap + r * (th + gap), tw, th)));
  }
  return sheet;
}

}  // namespace glimpse::fusion

#include "glimpse/vision/preprocess.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace glimpse::vision {

const char* to_string(ResizePolicy policy) {
  switch (policy) {
    case ResizePolicy::kStretch:
      return "stretch";
    case ResizePolicy::kCenterCrop:
      return "center-crop";
    case ResizePolicy::kLetterbox:
      return "letterbox";
  }
  return "unknown";
}

Result<ResizePolicy> parse_resize_policy(const std::string& name) {
  if (name == "stretch")
    return ResizePolicy::kStretch;
  if (name == "center-crop" || name == "centre-crop" || name == "crop")
    return ResizePolicy::kCenterCrop;
  if (name == "letterbox")
    return ResizePolicy::kLetterbox;
  return Result<ResizePolicy>::failure(
      ErrorCode::kInvalidArgument,
      "unknown resize policy '" + name + "'; valid: stretch, center-crop, letterbox");
}

namespace {
cv::Mat scaled(const cv::Mat& src, int w, int h) {
  if (src.cols == w && src.rows == h)
    return src;
  cv::Mat out;
  const bool shrinking = w < src.cols && h < src.rows;
  cv::resize(src, out, cv::Size(w, h), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}
}  // namespace

cv::Mat resize_for_model(const cv::Mat& rgb, const PreprocessOptions& o) {
  if (rgb.empty() || rgb.type() != CV_8UC3)
    throw Error(ErrorCode::kInvalidArgument, "preprocess expects a non-empty 8-bit RGB image");
  if (o.width <= 0 || o.height <= 0)
    throw Error(ErrorCode::kInvalidArgument, "model input size must be positive");
  switch (o.resize) {
    case ResizePolicy::kStretch:
      return scaled(rgb, o.width, o.height);
    case ResizePolicy::kCenterCrop: {
      const double s = std::max(double(o.width) / rgb.cols, double(o.height) / rgb.rows);
      const int w = std::max(o.width, int(std::lround(rgb.cols * s)));
      const int h = std::max(o.height, int(std::lround(rgb.rows * s)));
      cv::Mat big = scaled(rgb, w, h);
      return big(cv::Rect((w - o.width) / 2, (h - o.height) / 2, o.width, o.height)).clone();
    }
    case ResizePolicy::kLetterbox: {
      const double s = std::min(double(o.width) / rgb.cols, double(o.height) / rgb.rows);
      const int w = std::clamp(int(std::lround(rgb.cols * s)), 1, o.width);
      const int h = std::clamp(int(std::lround(rgb.rows * s)), 1, o.height);
      cv::Scalar fill(o.mean[0] * 255.0, o.mean[1] * 255.0, o.mean[2] * 255.0);
      cv::Mat out(o.height, o.width, CV_8UC3, fill);
      scaled(rgb, w, h).copyTo(out(cv::Rect((o.width - w) / 2, (o.height - h) / 2, w, h)));
      return out;
    }
  }
  return rgb;
}

cv::Rect2d model_view(cv::Size image, const PreprocessOptions& o) {
  const double W = image.width, H = image.height;
  switch (o.resize) {
    case ResizePolicy::kStretch:
      break;
    case ResizePolicy::kCenterCrop: {
      const double s = std::max(double(o.width) / W, double(o.height) / H);
      const int w = std::max(o.width, int(std::lround(W * s)));
      const int h = std::max(o.height, int(std::lround(H * s)));
      const double sx = w / W, sy = h / H;
      return {((w - o.width) / 2) / sx, ((h - o.height) / 2) / sy, o.width / sx, o.height / sy};
    }
    case ResizePolicy::kLetterbox: {
      const double s = std::min(double(o.width) / W, double(o.height) / H);
      const int w = std::clamp(int(std::lround(W * s)), 1, o.width);
      const int h = std::clamp(int(std::lround(H * s)), 1, o.height);
      const double sx = w / W, sy = h / H;
      return {-((o.width - w) / 2) / sx, -((o.height - h) / 2) / sy, o.width / sx, o.height / sy};
    }
  }
  return {0, 0, W, H};
}

torch::Tensor to_tensor(const cv::Mat& rgb, const PreprocessOptions& o) {
  cv::Mat img = resize_for_model(rgb, o);
  if (!img.isContinuous())
    img = img.clone();
  auto t = torch::from_blob(img.data, {img.rows, img.cols, 3}, torch::kUInt8)
               .permute({2, 0, 1})  // [3, H, W]
               .to(torch::kFloat32)
               .div_(255.0f);
  auto mean = torch::tensor({o.mean[0], o.mean[1], o.mean[2]}).view({3, 1, 1});
  auto sd = torch::tensor({o.stddev[0], o.stddev[1], o.stddev[2]}).view({3, 1, 1});
  return ((t - mean) / sd).unsqueeze(0);  // [1, 3, H, W]
}

torch::Tensor to_batch(const std::vector<cv::Mat>& images, const PreprocessOptions& o) {
  std::vector<torch::Tensor> ts;
  ts.reserve(images.size());
  for (const auto& im : images)
    ts.push_back(to_tensor(im, o));
  return torch::cat(ts, 0);  // [B, 3, H, W]
}

}  // namespace glimpse::vision

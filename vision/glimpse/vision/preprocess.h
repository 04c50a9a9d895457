// From a decoded RGB image to the model's input tensor: resize to the model's input size with a
// chosen policy, scale to [0,1], normalise with the model's mean and std. Thread-safe.
#pragma once

#include <torch/torch.h>
#include <opencv2/core.hpp>

#include <array>
#include <string>
#include <vector>

#include "glimpse/core/error.h"

namespace glimpse::vision {

enum class ResizePolicy {
  kStretch,     // scale each axis to the target: keeps everything, distorts the aspect ratio
  kCenterCrop,  // scale the short side to the target, cut the centre: keeps the aspect ratio
  kLetterbox,   // scale the long side to the target, pad with the mean colour: keeps all of it
};

const char* to_string(ResizePolicy policy);
// "stretch", "center-crop" (or "centre-crop", "crop"), "letterbox".
Result<ResizePolicy> parse_resize_policy(const std::string& name);

struct PreprocessOptions {
  int width = 224;
  int height = 224;
  std::array<float, 3> mean{0.5f, 0.5f, 0.5f};  // per RGB channel, on pixels scaled to [0,1]
  std::array<float, 3> stddev{0.5f, 0.5f, 0.5f};
  ResizePolicy resize = ResizePolicy::kStretch;
};

// The resized CV_8UC3 image (before normalisation); what the model sees, for overlays.
cv::Mat resize_for_model(const cv::Mat& rgb, const PreprocessOptions& options);

// The rectangle of the original image (in its pixels) that the model's input covers: the whole
// image for stretch, the central part for center-crop, more than the image for letterbox.
cv::Rect2d model_view(cv::Size image, const PreprocessOptions& options);

// One RGB image (CV_8UC3) -> [1, 3, H, W] float tensor.
torch::Tensor to_tensor(const cv::Mat& rgb, const PreprocessOptions& options);

// Several images -> [B, 3, H, W].
torch::Tensor to_batch(const std::vector<cv::Mat>& images, const PreprocessOptions& options);

}  // namespace glimpse::vision

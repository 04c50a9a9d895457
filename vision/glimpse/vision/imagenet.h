// ImageNet classification with the MobileNetV2 backbone: the backbone's end-to-end check.
//
//   auto net = load_imagenet_backbone("mobilenet_v2_imagenet.safetensors").take();
//   auto scores = classify(*net.model, to_tensor(rgb, net.preprocess), labels, 5);
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/vision/mobilenet_v2.h"
#include "glimpse/vision/preprocess.h"

namespace glimpse::vision {

struct ClassScore {
  int index = 0;
  std::string label;  // the first name of the class's line ("Shetland sheepdog")
  double probability = 0.0;
};

struct ImageNetBackbone {
  std::shared_ptr<MobileNetV2> model;  // in eval mode
  PreprocessOptions preprocess;        // input size and normalisation from the file's metadata
};

// Reads input size and normalisation from safetensors `__metadata__` keys `input_size`,
// `normalize_mean`, `normalize_std` (comma-separated). Missing keys keep the defaults.
Result<PreprocessOptions> preprocess_from_metadata(const core::SafetensorsFile& file);

// Loads torchvision-named MobileNetV2 weights with their classifier, built at `output_stride`
// (32 as trained, or 16 for a grid twice as fine with the same weights).
Result<ImageNetBackbone> load_imagenet_backbone(const std::string& path,
                                                int64_t output_stride = 32);

// Reads class names, one a line (index = line number - 1). Refuses a file whose line count is
// not `expected` (when expected > 0).
Result<std::vector<std::string>> load_labels(const std::string& path, size_t expected = 0);

// Softmax over the logits of each image; the k best classes, best first. images [B,3,H,W].
std::vector<std::vector<ClassScore>> classify(MobileNetV2& model, const torch::Tensor& images,
                                              const std::vector<std::string>& labels, int k);

}  // namespace glimpse::vision

// MobileNetV2 (Sandler et al., CVPR 2018, "MobileNetV2: Inverted Residuals and Linear
// Bottlenecks"), laid out exactly as torchvision's `mobilenet_v2` so its state-dict names load
// as they are: features.0 (conv 3x3/2), features.1..17 (inverted residual blocks),
// features.18 (conv 1x1 to 1280), classifier.1 (linear to 1000 classes).
//
// As an encoder the grid is the output of features.18: 7x7x1280 at 224x224, or 14x14x1280 with
// output stride 16 (Chen et al. 2017, DeepLab: the last stride-2 block keeps the resolution and
// the later 3x3 convolutions are dilated by 2, so the even cells of the 14x14 grid are exactly
// the 7x7 grid's and the same weights serve both).
#pragma once

#include <torch/torch.h>

#include <string>

#include "glimpse/core/error.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/vision/encoder.h"

namespace glimpse::vision {

struct MobileNetV2Options {
  bool with_classifier = true;  // keep classifier.1 (ImageNet logits); an encoder may drop it
  int64_t num_classes = 1000;
  // Blocks features.<trainable_from> .. features.18 get gradients; the rest are frozen.
  // 19 (the default) freezes the whole backbone; 0 trains all of it.
  int trainable_from = 19;
  // Larger batches run as chunks of this many images: at 224x224 a batch of 16 no longer fits
  // in the caches and runs at half the per-image speed of a chunk of 2. 0 = never split.
  int64_t chunk = 2;
  int64_t output_stride = 32;  // 32 (torchvision's network) or 16 (a grid twice as fine)
};

class MobileNetV2 : public Encoder {
 public:
  static constexpr int kBlocks = 19;  // features.0 .. features.18
  explicit MobileNetV2(const MobileNetV2Options& options = {});

  FeatureGrid encode(const torch::Tensor& images) override;  // [B,3,H,W] -> [B, N, 1280]
  int64_t channels() const override { return 1280; }
  std::string name() const override { return "mobilenet_v2"; }
  int64_t num_classes() const { return options_.with_classifier ? options_.num_classes : 0; }
  int64_t output_stride() const { return options_.output_stride; }
  // What a feature cache records as the features' source: "mobilenet_v2@224x224", or
  // "mobilenet_v2/16@224x224" at output stride 16.
  static std::string features_name(int64_t output_stride, int width, int height);

  torch::Tensor feature_map(const torch::Tensor& images);  // [B, 1280, H/stride, W/stride]
  torch::Tensor logits(const torch::Tensor& images);       // [B, num_classes]

  // Freezes features.0 .. features.<block-1>, unfreezes the rest; frozen blocks also stay in
  // eval mode (BatchNorm statistics fixed) when the module is put in train mode.
  void set_trainable_from(int block);
  void set_chunk(int64_t chunk) { options_.chunk = chunk; }
  int trainable_from() const { return options_.trainable_from; }
  void train(bool on = true) override;

  // Multiply-accumulates of one forward pass of the features at the given input size.
  int64_t feature_macs(int64_t height, int64_t width) const;

  // Loads torchvision-named weights (with or without the classifier, per the options).
  Status load(const core::SafetensorsFile& file, const std::string& prefix = "");
  using torch::nn::Module::load;  // the archive overload stays visible

 private:
  MobileNetV2Options options_;
  torch::nn::Sequential features_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
};

}  // namespace glimpse::vision

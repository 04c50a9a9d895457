// A small convolutional encoder trained from scratch: `depth` stages, each a stride-2 3x3
// conv and a stride-1 3x3 conv (BatchNorm + ReLU), channels doubling per stage from `width`
// (capped at 8x), then `context` residual blocks at the last stage's resolution whose 3x3 convs
// are dilated 1, 2, 4, 8, ... (block k: 2^k), so every cell sees whole objects and their
// neighbours, then an adaptive average pool to a grid_h x grid_w grid.
#pragma once

#include <torch/torch.h>

#include <string>

#include "glimpse/vision/encoder.h"

namespace glimpse::vision {

struct SmallCnnOptions {
  int64_t width = 32;  // channels of the first stage
  int depth = 4;       // stages; each halves the resolution
  int64_t grid_h = 8;  // output grid (adaptive average pooling); 0 keeps the conv output size
  int64_t grid_w = 8;
  bool coords = false;  // append each cell's (x, y) in [-1, 1] as two more channels
  int context = 0;      // dilated residual blocks after the last stage (0..4)
};

class SmallCnn : public Encoder {
 public:
  explicit SmallCnn(const SmallCnnOptions& options = {});
  FeatureGrid encode(const torch::Tensor& images) override;  // [B,3,H,W] -> [B, gh*gw, C]
  int64_t channels() const override { return channels_; }
  std::string name() const override { return "small_cnn"; }
  const SmallCnnOptions& options() const { return options_; }
  int64_t macs(int64_t height, int64_t width) const;

 private:
  SmallCnnOptions options_;
  int64_t channels_ = 0;
  torch::nn::Sequential features_{nullptr};
  torch::nn::ModuleList context_{nullptr};  // each block: two dilated ConvBnAct
};

}  // namespace glimpse::vision

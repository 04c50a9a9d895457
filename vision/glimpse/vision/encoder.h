// The image encoder interface: images in, a grid of feature vectors out.
//
//   std::shared_ptr<Encoder> enc = ...;
//   FeatureGrid g = enc->encode(images);      // images [B, 3, H, W]
//   g.features;                               // [B, N, C], N = grid_h * grid_w, row-major cells
//
// encode() is thread-safe in eval mode under torch::InferenceMode (no state is written).
#pragma once

#include <torch/torch.h>

#include <string>

namespace glimpse::vision {

struct FeatureGrid {
  torch::Tensor features;  // [B, N, C]
  int64_t grid_h = 0;
  int64_t grid_w = 0;
};

class Encoder : public torch::nn::Module {
 public:
  virtual FeatureGrid encode(const torch::Tensor& images) = 0;  // images [B, 3, H, W]
  virtual int64_t channels() const = 0;                         // C of the grid
  virtual std::string name() const = 0;                         // "small_cnn", "mobilenet_v2"
};

// [B, C, H, W] feature map -> FeatureGrid with features [B, H*W, C].
FeatureGrid grid_from_map(const torch::Tensor& map);

}  // namespace glimpse::vision

#include "glimpse/vision/encoder.h"

namespace glimpse::vision {

FeatureGrid grid_from_map(const torch::Tensor& map) {
  TORCH_CHECK(map.dim() == 4, "feature map must be [B, C, H, W]");
  FeatureGrid g;
  g.grid_h = map.size(2);
  g.grid_w = map.size(3);
  g.features = map.flatten(2).transpose(1, 2).contiguous();  // [B, H*W, C]
  return g;
}

}  // namespace glimpse::vision

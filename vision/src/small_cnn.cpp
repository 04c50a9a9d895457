#include "glimpse/vision/small_cnn.h"

#include <algorithm>

#include "conv_block.h"
#include "glimpse/core/error.h"

namespace glimpse::vision {

SmallCnn::SmallCnn(const SmallCnnOptions& options) : options_(options) {
  if (options.width < 1 || options.depth < 1 || options.depth > 8 || options.grid_h < 0 ||
      options.grid_w < 0 || (options.grid_h == 0) != (options.grid_w == 0) || options.context < 0 ||
      options.context > 4)
    throw Error(ErrorCode::kInvalidArgument,
                "SmallCnn needs width >= 1, depth 1..8, context 0..4 and a grid of two positive "
                "sizes (or 0x0)");
  using detail::Activation;
  using detail::ConvBnAct;
  torch::nn::Sequential f;
  int64_t in = 3;
  for (int s = 0; s < options.depth; ++s) {
    const int64_t out = options.width << std::min(s, 3);
    f->push_back(ConvBnAct(in, out, 3, 2, 1, Activation::kRelu));
    f->push_back(ConvBnAct(out, out, 3, 1, 1, Activation::kRelu));
    in = out;
  }
  channels_ = in + (options.coords ? 2 : 0);
  features_ = register_module("features", f);
  torch::nn::ModuleList blocks;
  for (int k = 0; k < options.context; ++k) {
    torch::nn::Sequential block;
    block->push_back(ConvBnAct(in, in, 3, 1, 1, Activation::kRelu, int64_t{1} << k));
    block->push_back(ConvBnAct(in, in, 3, 1, 1, Activation::kNone, int64_t{1} << k));
    blocks->push_back(block);
  }
  context_ = register_module("context", blocks);
}

FeatureGrid SmallCnn::encode(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "SmallCnn expects images [B, 3, H, W]");
  // Channels-last takes oneDNN's convolutions, which use every thread (as MobileNetV2 does).
  auto map = features_->forward(images.contiguous(torch::MemoryFormat::ChannelsLast));
  for (const auto& block : *context_)  // residual: x + f(x), then ReLU
    map = torch::relu(map + block->as<torch::nn::Sequential>()->forward(map));
  map = map.contiguous();  // [B, C, H/2^depth, W/2^depth]
  if (options_.grid_h > 0)
    map = torch::adaptive_avg_pool2d(map, {options_.grid_h, options_.grid_w});
  if (options_.coords) {
    // Where each cell is, for attention contexts that must say "left of" or "above".
    const int64_t b = map.size(0), h = map.size(2), w = map.size(3);
    auto o = map.options();
    auto ys = (torch::arange(h, o).add_(0.5).mul_(2.0 / h).sub_(1.0)).view({1, 1, h, 1});
    auto xs = (torch::arange(w, o).add_(0.5).mul_(2.0 / w).sub_(1.0)).view({1, 1, 1, w});
    map = torch::cat({map, xs.expand({b, 1, h, w}), ys.expand({b, 1, h, w})}, 1);
  }
  return grid_from_map(map);  // [B, gh*gw, C]
}

int64_t SmallCnn::macs(int64_t height, int64_t width) const {
  int64_t h = height, w = width;  // the last stage's size: each stage is a 3x3, stride 2, pad 1
  for (int s = 0; s < options_.depth; ++s) {
    h = (h - 1) / 2 + 1;
    w = (w - 1) / 2 + 1;
  }
  return detail::count_macs(*features_, height, width) + detail::count_macs(*context_, h, w);
}

}  // namespace glimpse::vision

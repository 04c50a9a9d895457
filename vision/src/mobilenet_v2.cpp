#include "glimpse/vision/mobilenet_v2.h"

#include "conv_block.h"
#include "glimpse/core/state_dict.h"

namespace glimpse::vision {

namespace detail {
int64_t count_macs(const torch::nn::Module& module, int64_t height, int64_t width) {
  int64_t macs = 0, h = height, w = width;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (const auto* c = m->as<torch::nn::Conv2d>()) {
      const auto& o = c->options;
      const int64_t k = o.kernel_size()->at(0), s = o.stride()->at(0);
      const int64_t p = c10::get<torch::ExpandingArray<2>>(o.padding())->at(0);
      const int64_t span = o.dilation()->at(0) * (k - 1) + 1;  // the dilated kernel's extent
      h = (h + 2 * p - span) / s + 1;
      w = (w + 2 * p - span) / s + 1;
      macs += h * w * o.out_channels() * (o.in_channels() / o.groups()) * k * k;
    } else if (const auto* l = m->as<torch::nn::Linear>()) {
      macs += l->options.in_features() * l->options.out_features();
    }
  }
  return macs;
}
}  // namespace detail

namespace {
using detail::Activation;
using detail::ConvBnAct;

// Expand (1x1) -> depthwise (3x3) -> project (1x1, linear), with a residual when shapes allow.
class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand,
                       int64_t dilation = 1)
      : use_residual_(stride == 1 && in == out) {
    const int64_t hidden = in * expand;
    torch::nn::Sequential conv;
    if (expand != 1)
      conv->push_back(ConvBnAct(in, hidden, 1, 1, 1, Activation::kRelu6));
    conv->push_back(ConvBnAct(hidden, hidden, 3, stride, hidden, Activation::kRelu6, dilation));
    conv->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, out, 1).bias(false)));
    conv->push_back(torch::nn::BatchNorm2d(out));
    conv_ = register_module("conv", conv);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = conv_->forward(x);
    return use_residual_ ? x + y : y;
  }

 private:
  bool use_residual_;
  torch::nn::Sequential conv_{nullptr};
};
TORCH_MODULE(InvertedResidual);

struct Stage {
  int64_t expand, channels, repeats, stride;
};
constexpr Stage kStages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
}  // namespace

MobileNetV2::MobileNetV2(const MobileNetV2Options& options) : options_(options) {
  if (options.output_stride != 32 && options.output_stride != 16)
    throw Error(ErrorCode::kInvalidArgument, "MobileNetV2's output stride is 32 or 16, got " +
                                                 std::to_string(options.output_stride));
  torch::nn::Sequential f;
  f->push_back(ConvBnAct(3, 32, 3, 2, 1, Activation::kRelu6));
  int64_t in = 32, stride = 2, dilation = 1;
  for (const auto& s : kStages) {
    for (int64_t i = 0; i < s.repeats; ++i) {
      int64_t block_stride = i == 0 ? s.stride : 1;
      // Algorithme à trous: past the output stride a stride-2 block keeps the resolution, and
      // every later 3x3 is dilated to sample where the strided network would.
      const int64_t block_dilation = dilation;
      if (block_stride == 2 && stride == options.output_stride) {
        block_stride = 1;
        dilation *= 2;
      } else {
        stride *= block_stride;
      }
      f->push_back(InvertedResidual(in, s.channels, block_stride, s.expand, block_dilation));
      in = s.channels;
    }
  }
  f->push_back(ConvBnAct(in, 1280, 1, 1, 1, Activation::kRelu6));
  features_ = register_module("features", f);
  if (options_.with_classifier) {
    torch::nn::Sequential c;
    c->push_back(torch::nn::Dropout(0.2));
    c->push_back(torch::nn::Linear(1280, options_.num_classes));
    classifier_ = register_module("classifier", c);
  }
  set_trainable_from(options_.trainable_from);
}

torch::Tensor MobileNetV2::feature_map(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "MobileNetV2 expects images [B, 3, H, W]");
  // channels-last lets oneDNN run the depthwise and pointwise convolutions: 10x faster here
  // than the NCHW path at batch 1.
  auto x = images.contiguous(torch::MemoryFormat::ChannelsLast);
  if (options_.chunk <= 0 || x.size(0) <= options_.chunk)
    return features_->forward(x);
  std::vector<torch::Tensor> parts;
  for (const auto& part : x.split(options_.chunk, 0))
    parts.push_back(features_->forward(part));
  return torch::cat(parts, 0);  // [B, 1280, H/32, W/32]
}

std::string MobileNetV2::features_name(int64_t output_stride, int width, int height) {
  return std::string("mobilenet_v2") +
         (output_stride == 32 ? "" : "/" + std::to_string(output_stride)) + "@" +
         std::to_string(width) + "x" + std::to_string(height);
}

FeatureGrid MobileNetV2::encode(const torch::Tensor& images) {
  return grid_from_map(feature_map(images));  // [B, N, 1280]
}

torch::Tensor MobileNetV2::logits(const torch::Tensor& images) {
  if (!classifier_)
    throw Error(ErrorCode::kInvalidArgument, "this MobileNetV2 has no classifier");
  auto pooled = torch::adaptive_avg_pool2d(feature_map(images), {1, 1}).flatten(1);  // [B, 1280]
  return classifier_->forward(pooled);                                               // [B, classes]
}

void MobileNetV2::set_trainable_from(int block) {
  if (block < 0 || block > kBlocks)
    throw Error(
        ErrorCode::kInvalidArgument,
        "trainable_from must be 0..19 (19 freezes the backbone), got " + std::to_string(block));
  options_.trainable_from = block;
  for (size_t i = 0; i < features_->size(); ++i)
    for (auto& p : features_->ptr(i)->parameters())
      p.set_requires_grad(static_cast<int>(i) >= block);
  train(is_training());
}

void MobileNetV2::train(bool on) {
  torch::nn::Module::train(on);
  for (size_t i = 0; i < features_->size() && static_cast<int>(i) < options_.trainable_from; ++i)
    features_->ptr(i)->eval();
}

int64_t MobileNetV2::feature_macs(int64_t height, int64_t width) const {
  return detail::count_macs(*features_, height, width);
}

Status MobileNetV2::load(const core::SafetensorsFile& file, const std::string& prefix) {
  core::LoadStateOptions o;
  o.prefix = prefix;
  return core::load_state_dict(*this, file, o);
}

}  // namespace glimpse::vision

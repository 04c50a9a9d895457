// Conv2d + BatchNorm2d + optional ReLU6/ReLU, registered as "0", "1" like torchvision's
// Conv2dNormActivation, so state-dict names match (features.0.0.weight, features.0.1.bias, ...).
#pragma once

#include <torch/torch.h>

namespace glimpse::vision::detail {

enum class Activation { kNone, kRelu, kRelu6 };

class ConvBnActImpl : public torch::nn::Module {
 public:
  ConvBnActImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups,
                Activation act, int64_t dilation = 1)
      : conv_(register_module("0", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                                         .stride(stride)
                                                         .padding(dilation * (kernel - 1) / 2)
                                                         .dilation(dilation)
                                                         .groups(groups)
                                                         .bias(false)))),
        bn_(register_module("1", torch::nn::BatchNorm2d(out))),
        act_(act) {}

  torch::Tensor forward(const torch::Tensor& x) {
    auto y = bn_->forward(conv_->forward(x));
    switch (act_) {
      case Activation::kRelu:
        return torch::relu(y);
      case Activation::kRelu6:
        return torch::hardtanh(y, 0.0, 6.0);
      case Activation::kNone:
        break;
    }
    return y;
  }

 private:
  torch::nn::Conv2d conv_;
  torch::nn::BatchNorm2d bn_;
  Activation act_;
};
TORCH_MODULE(ConvBnAct);

// Multiply-accumulates of every Conv2d and Linear under `module`, visited in registration order
// (which is the forward order for the sequential networks here), starting from an input of
// height x width.
int64_t count_macs(const torch::nn::Module& module, int64_t height, int64_t width);

}  // namespace glimpse::vision::detail

// The gradient check the fusion tests share: backpropagates a scalar loss once, then compares
// every `stride`-th element of each tensor's gradient with the central difference
// (loss(t + ε) - loss(t - ε)) / 2ε, all in double.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace glimpse::testing {

inline void expect_gradients_match_finite_differences(const std::function<torch::Tensor()>& loss,
                                                      const std::vector<torch::Tensor*>& tensors,
                                                      int64_t stride, double tolerance = 1e-5) {
  loss().backward();
  const double eps = 1e-6;
  for (size_t k = 0; k < tensors.size(); ++k) {
    const auto grad = tensors[k]->grad().clone();
    auto flat = tensors[k]->data().view(-1);
    for (int64_t i = 0; i < flat.numel(); i += stride) {
      const double keep = flat[i].item<double>();
      flat[i] = keep + eps;
      const double up = loss().item<double>();
      flat[i] = keep - eps;
      const double down = loss().item<double>();
      flat[i] = keep;
      EXPECT_NEAR(grad.view(-1)[i].item<double>(), (up - down) / (2 * eps), tolerance)
          << "tensor " << k << ", element " << i;
    }
  }
}

}  // namespace glimpse::testing

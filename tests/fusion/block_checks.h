// Checks the fusion blocks' tests share: batch items [B, C, H, W] with questions [B, D] do not
// depend on one another (no batch statistics, no mixing), and the question changes the output
// (that is what conditioning is for); a block's gradients against finite differences; and the
// message a refusal gives.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "finite_differences.h"

namespace glimpse::testing {

// x and q hold at least 3 items; item 1 alone must equal item 1 of the batch, and item 1's image
// with item 2's question must differ from it.
template <class Block>
void expect_items_independent_and_question_matters(Block& block, const torch::Tensor& x,
                                                   const torch::Tensor& q) {
  const torch::Tensor all = block->forward(x, q);
  const torch::Tensor one = block->forward(x.narrow(0, 1, 1), q.narrow(0, 1, 1));
  EXPECT_TRUE(torch::allclose(all.narrow(0, 1, 1), one, 1e-6, 1e-6));
  const torch::Tensor other = block->forward(x.narrow(0, 1, 1), q.narrow(0, 2, 1));
  EXPECT_GT((other - one).abs().max().item<float>(), 1e-3f);
}

// In double, on x [2, C, 3, 3] and q [2, D] drawn now (C and D the block's channels and
// condition_dim), the gradients of a random projection of block(x, q) with respect to x, q and
// the parameters named, against finite differences.
template <class Block>
void expect_block_gradients_match_finite_differences(Block& block,
                                                     const std::vector<std::string>& names) {
  block->to(torch::kDouble);
  const int64_t c = block->options.channels;
  auto x = torch::randn({2, c, 3, 3}, torch::kDouble).requires_grad_(true);
  auto q = torch::randn({2, block->options.condition_dim}, torch::kDouble).requires_grad_(true);
  const auto r = torch::randn({2, c, 3, 3}, torch::kDouble);
  auto params = block->named_parameters();
  std::vector<torch::Tensor*> tensors = {&x, &q};
  for (const auto& name : names)
    tensors.push_back(&params[name]);
  expect_gradients_match_finite_differences([&] { return (block->forward(x, q) * r).sum(); },
                                            tensors, 3);
}

// The message of the std::invalid_argument `f` throws ("" when it throws none).
template <class F>
std::string invalid_argument_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace glimpse::testing

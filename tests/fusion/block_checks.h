// Checks the fusion blocks' tests share: batch items [B, C, H, W] with questions [B, D] do not
// depend on one another (no batch statistics, no mixing), and the question changes the output
// (that is what conditioning is for); and the message a refusal gives.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

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

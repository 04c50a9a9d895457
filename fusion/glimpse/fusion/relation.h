// A relational block: every cell of the question's grid looks at every other cell, so that a
// cell can say where it stands against the objects the question names (Santoro et al. 2017's
// relation networks compare every pair of objects; Santoro et al. 2018 and Zambaldi et al. 2019
// compare them with multi-head dot-product attention over a CNN's cells, as here). FiLM alone
// sees a few cells around each one (film.h); "is the red square above the orange star?" needs
// the star's place at the square's cell.
//
//   z_i = [x_i; cx_i; cy_i]                              x [B, C, H, W]; (cx, cy) ∈ [-1, 1]²
//   a_i = W_o [head_1; …; head_H],  head_h = Σ_j softmax_j(q_hi·k_hj / √d) v_hj
//         q_hi = W_q^h z_i + b;  k_hj, v_hj = W_k^h p_j + b, W_v^h p_j + b   (d = C / H)
//   p_j: the mean of z over the j-th P×P patch of cells (P = pool; P = 1: p = z; a patch past
//        the grid's edge averages the cells it has)
//   u_i = W_u [a_i; z_i] + b_u
//   y_i = x_i + ReLU(γ ⊙ u_i + β),   (γ, β) = (1 + Δγ, β), [Δγ; β] = W q + b   as in film.h
//
// The values carry the cells' coordinates, so what a cell gathers says where it found it, and
// u compares it with the cell's own place; the question's (γ, β) picks which comparison
// (above, left of, …) the block passes on. The attention is multihead:H of the catalogue
// (attention.h) from the cells to the patches: self-attention over the cells at P = 1.
//
// Cost per block, N = H·W cells, M = N / P² patches: N·(C+2)·C + 2·M·(C+2)·C + 2·N·M·C + N·C² +
// N·(2C+2)·C multiply-adds, the N·M term (every pair) dominating: 16×16 cells of 64 channels
// ≈ 1.3 FiLM 3×3 blocks at P = 1, a quarter of that pair term at P = 2 (objects of two cells
// or more lose little: a patch's centre is within a cell of its objects').
#pragma once

#include <torch/torch.h>

#include <memory>

#include "glimpse/fusion/attention.h"

namespace glimpse::fusion {

struct RelationBlockOptions {
  int64_t channels = 64;       // C, in and out
  int64_t condition_dim = 64;  // D, the question vector's size
  int64_t heads = 4;           // H, dividing C
  int64_t pool = 1;            // P, the side of the patches keys and values are averaged over
};

class RelationBlockImpl : public torch::nn::Module {
 public:
  explicit RelationBlockImpl(const RelationBlockOptions& options);
  // x [B, C, H, W], q [B, D] -> [B, C, H, W]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& q);
  // As forward, with the attention's weights [B, heads, N, M] (row i: which patches cell i
  // looked at; M = N at pool 1).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& q, torch::Tensor* weights);

  RelationBlockOptions options;
  std::shared_ptr<Attention> attention;
  torch::nn::Linear combine{nullptr};
  torch::nn::Linear to_film{nullptr};
};
TORCH_MODULE(RelationBlock);

}  // namespace glimpse::fusion

// A locate read-out: the question picks what to find, an attention map over the cells says where
// each of its K glimpses looks, and where they looked, each map's mean position, is written into
// every cell. "Is the yellow diamond right of the orange square?" is then a comparison of two
// numbers the decoder can read from any cell, instead of a chain of attention steps it has to
// learn from the answers alone. The spatial soft-argmax of Levine et al. 2016 (keypoints as the
// expected coordinates of a softmax over a CNN's cells) with the question choosing what each
// glimpse finds, as FiLM does (Perez et al. 2018); the glimpses are those of stacked and
// multi-glimpse attention (Yang et al. 2016, Fukui et al. 2016), read out as places.
//
//   h_i  = ReLU(γ ⊙ (W_h x_i + b_h) + β),   (γ, β) = (1 + Δγ, β), [Δγ; β] = W q + b  (film.h)
//   α_ik = softmax_i(w_k · h_i + b_k)        k = 1..K glimpses, each summing to 1 over the cells
//
// With per_glimpse, each glimpse has its own modulation, [Δγ_k; β_k] = W_k q + b_k, and scores
// its own h_ik = ReLU(γ_k ⊙ (W_h x_i + b_h) + β_k): "the yellow diamond" and "the orange square"
// of one question can then be found by two glimpses each tuned to one of them, where one shared
// modulation marks both in the same channels.
//
//   p_k  = Σ_i α_ik (cx_i, cy_i)             its mean position; (cx, cy) ∈ [-1, 1]², the cell
//                                            centres of film.h's coordinate_channels
//   y_i  = x_i + W_p [p_1; …; p_K] + b_p     the same vector added to every cell
//
// x [B, C, H, W] the question's grid, q [B, D] the question vector. W_p and b_p start at zero, so
// that the read-out starts as the identity (as count.h's write does, for the same reason). The
// places are linear in the write, so any difference p_k − p_l is a direction of W_p.
//
// Cost per block, N = H·W cells: N·C² + N·C·K + 2·N·K + 2·K·C multiply-adds, under one FiLM 1×1
// block; per_glimpse adds 2·N·C·K for the K modulations of the hidden layer and 2·C·D·(K − 1)
// for their generator.
#pragma once

#include <torch/torch.h>

namespace glimpse::fusion {

struct LocateReadoutOptions {
  int64_t channels = 64;       // C, in and out
  int64_t condition_dim = 64;  // D, the question vector's size
  int64_t glimpses = 2;        // K attention maps, 1..8
  bool per_glimpse = false;    // each glimpse its own (γ_k, β_k), so that it finds its own object
};

class LocateReadoutImpl : public torch::nn::Module {
 public:
  explicit LocateReadoutImpl(const LocateReadoutOptions& options);
  // x [B, C, H, W], q [B, D] -> [B, C, H, W]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& q);
  // As forward, with the glimpses' maps [B, K, H, W] (each sums to 1) and, when places is given,
  // their mean positions [B, K, 2] as (cx, cy).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& q, torch::Tensor* maps,
                        torch::Tensor* places = nullptr);

  // The glimpses' scores over the cells, before the softmax: [B, K, H·W].
  torch::Tensor scores(const torch::Tensor& x, const torch::Tensor& q);

  LocateReadoutOptions options;
  torch::nn::Linear hidden{nullptr};
  torch::nn::Linear to_film{nullptr};
  torch::nn::Linear score{nullptr};
  torch::nn::Linear write{nullptr};
};
TORCH_MODULE(LocateReadout);

}  // namespace glimpse::fusion

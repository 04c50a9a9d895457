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
// With words, each glimpse reads its own words of the question instead, as the control unit of a
// MAC cell picks each step's words (Hudson & Manning 2018): over the GRU's states s_t of the
// question's words, ω_kt = softmax_t(u_k · s_t), c_k = Σ_t ω_kt s_t, and one generator turns
// each glimpse's words into its modulation, [Δγ_k; β_k] = W c_k + b. In "is the yellow diamond
// right of the orange square?" one glimpse can read "yellow diamond" and another "orange square",
// where a modulation from the whole question (the GRU's last state) has to hold both objects
// and which was named first in one vector.
//
// With word_order, each glimpse's word scores also carry a learnt slope over the words' places in
// the question, ω_kt = softmax_t(u_k · s_t + a_k τ_t), τ_t ∈ [-1, 1] from the first word to the
// last, a_k starting spread over [-2, 2]: the linear biases of ALiBi (Press, Smith & Lewis 2022,
// *Train short, test long*), learnt here, so that glimpses that start alike do not all read the
// same words. Measured without it: every glimpse that found an object read the last words, the
// second object of "is the A left of the B?", and none found the first.
//
//   p_k  = Σ_i α_ik (cx_i, cy_i)             its mean position; (cx, cy) ∈ [-1, 1]², the cell
//                                            centres of film.h's coordinate_channels
//   y_i  = x_i + W_p [p_1; …; p_K] + b_p     the same vector added to every cell
//
// With compare (H > 0 hidden units), the places are read by a question-FiLMed hidden layer before
// they are written, as the relation network's g reads a pair of objects with the question
// (Santoro et al. 2017):
//   u    = ReLU(γ_c ⊙ (W_c [p_1; …; p_K] + b_c) + β_c),  [Δγ_c; β_c] = W_cq q + b_cq
//   y_i  = x_i + W_p [p_1; …; p_K; u] + b_p
// "Is the A left of the B?" is yes when cx_A − cx_B is negative and the larger of the two
// differences: the question picks which units of the comparison count, where a linear write
// leaves the comparison and its match with the asked word to the decoder. The places are still
// written as they are beside u, for the relational blocks after it.
//
// With contents, what each glimpse found, its mean features v_k = Σ_i α_ik x_i, is written too:
//   y_i  = x_i + W_p [p_1; …; p_K; u; v_1; …; v_K] + b_p
// so that the questions that ask what an object is ("what colour is the star?", every family but
// counts) train the glimpses to find the objects the question names, which relation questions,
// whose answer is one bit of a few in ten, are too few and too weak to teach alone: the read-out
// of stacked attention (Yang et al. 2016), with its places kept beside it.
//
// x [B, C, H, W] the question's grid, q [B, D] the question vector. W_p and b_p start at zero, so
// that the read-out starts as the identity (as count.h's write does, for the same reason). The
// places are linear in the write, so any difference p_k − p_l is a direction of W_p.
//
// Cost per block, N = H·W cells: N·C² + N·C·K + 2·N·K + 2·K·C multiply-adds, under one FiLM 1×1
// block; per_glimpse adds 2·N·C·K for the K modulations of the hidden layer and 2·C·D·(K − 1)
// for their generator; words the same 2·N·C·K, and T·D·K for the words' attention; compare
// 2·K·H + 2·D·H + H·C more per question, not per cell; contents N·C·K more per cell and K·C² per
// question.
#pragma once

#include <torch/torch.h>

#include "glimpse/fusion/question_encoder.h"

namespace glimpse::fusion {

struct LocateReadoutOptions {
  int64_t channels = 64;       // C, in and out
  int64_t condition_dim = 64;  // D, the question vector's size
  int64_t glimpses = 2;        // K attention maps, 1..8
  bool per_glimpse = false;    // each glimpse its own (γ_k, β_k), so that it finds its own object
  bool words = false;       // each glimpse (γ_k, β_k) from its own words (not with per_glimpse)
  int64_t compare = 0;      // H, 0..256: the places also read by a question-FiLMed layer of H units
  bool contents = false;    // each glimpse's mean features written beside its place (what it found)
  bool word_order = false;  // with words: each glimpse's learnt slope over the words' order
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
  // With words, the question's states and words are read (question_encoder.h); without, only its
  // vector. Refuses a reading without states when options.words.
  torch::Tensor forward(const torch::Tensor& x, const QuestionReading& question,
                        torch::Tensor* maps = nullptr, torch::Tensor* places = nullptr);

  // The glimpses' scores over the cells, before the softmax: [B, K, H·W].
  torch::Tensor scores(const torch::Tensor& x, const QuestionReading& question);
  // With words, each glimpse's weights over the question's positions [B, K, T] (zero off its
  // words, summing to 1).
  torch::Tensor word_weights(const QuestionReading& question);

  LocateReadoutOptions options;
  torch::nn::Linear hidden{nullptr};
  torch::nn::Linear to_film{nullptr};
  torch::nn::Linear score{nullptr};
  torch::nn::Linear write{nullptr};
  torch::nn::Linear word_score{nullptr};  // u_1 … u_K, registered only with words
  torch::nn::Linear compare_in{nullptr};  // W_c, b_c and W_cq, b_cq: registered only with compare
  torch::nn::Linear compare_film{nullptr};
  torch::Tensor word_slopes;  // a_1 … a_K, registered only with word_order

 private:
  torch::Tensor conditions(const QuestionReading& question);  // [B, D], or [B, K, D] with words
  // [B, C] from the places [B, K, 2], the glimpses' mean features [B, K, C] (read with contents)
  // and the question vector q [B, D] (read with compare)
  torch::Tensor written(const torch::Tensor& places, const torch::Tensor& found,
                        const torch::Tensor& q);
};
TORCH_MODULE(LocateReadout);

}  // namespace glimpse::fusion

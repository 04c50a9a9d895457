// FiLM (Perez et al. 2018, "FiLM: Visual Reasoning with a General Conditioning Layer"): image
// features modulated channel by channel by what a question asks, so that the grid the decoder
// attends to already says which cells matter to this question.
//
//   film(x, γ, β) = γ ⊙ x + β             x [B, C, H, W]; γ, β [B, C], one per channel
//   (γ, β) = (1 + Δγ, β) with [Δγ; β] = W q + b      q [B, D], the question's vector
//
// A FiLMed residual block, as the paper's (with no batch normalisation, so that no item of a batch
// depends on another):
//   h = ReLU(conv1x1(x));  y = x + ReLU(film(conv3x3(h), γ, β))
// (kernel 1 makes the second convolution 1x1 too: each cell on its own, 5 times cheaper, when
// the features under it already see their neighbours.)
//
// Coordinates: like the paper, each block may see two channels with the cells' x and y in
// [-1, 1], so that a question can pick a place as well as a property.
//
// Cost per block: C²·(1 + k²)·H·W multiply-adds for the convolutions (k the kernel), 2·C·D for
// (γ, β).
#pragma once

#include <torch/torch.h>

#include <string>

namespace glimpse::fusion {

// γ ⊙ x + β over the channels of x [B, C, H, W], γ and β [B, C].
torch::Tensor film(const torch::Tensor& x, const torch::Tensor& gamma, const torch::Tensor& beta);

// (γ, β) = (1 + Δγ, β) from a generator's output [B, 2C] = [Δγ; β]: γ starts near 1, so a
// fresh block passes its input through.
std::pair<torch::Tensor, torch::Tensor> film_parameters(const torch::Tensor& generated,
                                                        int64_t channels);

// The question-FiLMed hidden layer of count.h's and locate.h's read-outs, over the cells of
// x [B, C, H, W] with q [B, D]:  h_gi = ReLU(γ_g ⊙ (hidden(x_i)) + β_g), G modulations
// [Δγ_1; β_1; …; Δγ_G; β_G] = to_film(q) (G = to_film's outputs / 2C) -> [B, G, H·W, C]; or
// with q [B, G, D], one condition per group, [Δγ_g; β_g] = to_film(q_g) (to_film's outputs 2C).
// Refuses other shapes with a message that names `who` (e.g. "count read-out").
torch::Tensor film_hidden(const torch::Tensor& x, const torch::Tensor& q, torch::nn::Linear& hidden,
                          torch::nn::Linear& to_film, const std::string& who);

struct FilmBlockOptions {
  int64_t channels = 64;       // C, in and out
  int64_t condition_dim = 64;  // D, the question vector's size
  bool coords = true;          // two coordinate channels into the 1x1 convolution
  int64_t kernel = 3;          // the modulated convolution's size: 3 (the paper's) or 1
};

class FilmBlockImpl : public torch::nn::Module {
 public:
  explicit FilmBlockImpl(const FilmBlockOptions& options);
  // x [B, C, H, W], q [B, D] -> [B, C, H, W]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& q);
  // The (γ, β) this block gives q [B, D]: each [B, C].
  std::pair<torch::Tensor, torch::Tensor> modulation(const torch::Tensor& q);

  FilmBlockOptions options;
  torch::nn::Conv2d in{nullptr}, mid{nullptr};
  torch::nn::Linear to_film{nullptr};
};
TORCH_MODULE(FilmBlock);

// The cells' centres, x then y, from -1 to 1: [1, 2, H, W].
torch::Tensor coordinate_channels(int64_t height, int64_t width, const torch::TensorOptions& o);

}  // namespace glimpse::fusion

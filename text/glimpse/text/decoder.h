// Text decoders conditioned on an image grid through attention, trained with teacher forcing
// (forward) and run one token at a time (start/step) by greedy or beam search.
//
//   auto dec = std::make_shared<LstmDecoder>(options, fusion::attention_factory());
//   auto out = dec->forward(features, grid, tokens);  // logits [B, L, V], maps [B, H, L, N]
//
// Decoding state is batch-first so beam search can reorder it. forward() and step() write no
// module state: thread-safe in eval mode under InferenceMode.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "glimpse/text/attention_interface.h"

namespace glimpse::text {

struct DecoderOutput {
  torch::Tensor logits;                  // [B, L, V]: position l predicts token l + 1
  std::vector<torch::Tensor> attention;  // per attention layer over the grid: [B, H, L, N]
};

struct StepOutput {
  torch::Tensor logits;                  // [B, V]
  std::vector<torch::Tensor> attention;  // per layer: [B, H, N]
};

// Everything a decoder carries between steps; every tensor is batch-first.
struct DecoderState {
  std::vector<torch::Tensor> tensors;
  void select(const torch::Tensor& index);  // reorders / repeats the batch (beam search)
};

class Decoder : public torch::nn::Module {
 public:
  // features [B, N, C] (N = grid cells), tokens [B, L] (the input tokens, prefix included).
  virtual DecoderOutput forward(const torch::Tensor& features, const AttentionContext& grid,
                                const torch::Tensor& tokens) = 0;
  // The same with features per image [I, N, C], sequence b reading image image_index[b] ([B],
  // int64): the grid's side of the attention is computed once per image, however many
  // captions and questions read it. Equal to forward(features.index_select(0, image_index)).
  virtual DecoderOutput forward(const torch::Tensor& features, const torch::Tensor& image_index,
                                const AttentionContext& grid, const torch::Tensor& tokens) = 0;
  virtual DecoderState start(const torch::Tensor& features, const AttentionContext& grid) = 0;
  virtual StepOutput step(DecoderState& state, const torch::Tensor& tokens,
                          const AttentionContext& grid) = 0;
  virtual int64_t vocab_size() const = 0;
  virtual std::string name() const = 0;  // "lstm", "transformer"
};

// Show, Attend and Tell (Xu et al. 2015): an LSTM whose input at each step is the previous
// word's embedding and the attention context over the grid, queried by the previous hidden
// state; initial state from the mean grid feature; dropout before the output layer.
struct LstmDecoderOptions {
  int64_t vocab_size = 0;
  int64_t feature_dim = 0;  // C of the grid
  int64_t embed_dim = 256;
  int64_t hidden_dim = 512;
  int64_t attention_dim = 256;
  std::string attention = "additive+gate";
  double dropout = 0.5;
};

class LstmDecoder : public Decoder {
 public:
  LstmDecoder(const LstmDecoderOptions& options, const AttentionFactory& make_attention);
  DecoderOutput forward(const torch::Tensor& features, const AttentionContext& grid,
                        const torch::Tensor& tokens) override;
  DecoderOutput forward(const torch::Tensor& features, const torch::Tensor& image_index,
                        const AttentionContext& grid, const torch::Tensor& tokens) override;
  DecoderState start(const torch::Tensor& features, const AttentionContext& grid) override;
  StepOutput step(DecoderState& state, const torch::Tensor& tokens,
                  const AttentionContext& grid) override;
  int64_t vocab_size() const override { return options_.vocab_size; }
  std::string name() const override { return "lstm"; }
  const LstmDecoderOptions& options() const { return options_; }

 private:
  // start() for features per image, each sequence reading image_index (undefined: its own).
  DecoderState begin(const torch::Tensor& features, const torch::Tensor& image_index,
                     const AttentionContext& grid);
  LstmDecoderOptions options_;
  torch::nn::Embedding embedding_{nullptr};
  torch::nn::Linear init_h_{nullptr}, init_c_{nullptr}, fc_{nullptr};
  std::shared_ptr<AttentionModule> attention_;
  torch::nn::LSTMCell lstm_{nullptr};
};

// A Transformer decoder (Vaswani et al. 2017), pre-norm: each layer is causal self-attention,
// cross-attention from the text to the projected grid (any catalogue variant), and a
// feed-forward block, each with a residual connection.
struct TransformerDecoderOptions {
  int64_t vocab_size = 0;
  int64_t feature_dim = 0;
  int64_t d_model = 256;
  int64_t layers = 2;
  int heads = 4;
  int64_t ffn_dim = 1024;
  double dropout = 0.1;
  int64_t max_len = 128;
  std::string cross_attention = "cross:4";
  // LayerNorm on the projected grid (the memory) before the cross-attention keys and values:
  // without it a cell's key grows with its activations, and the most vivid cells win every
  // query whatever it asks for.
  bool memory_norm = false;
};

class TransformerLayer;  // defined in decoder.cpp

class TransformerDecoder : public Decoder {
 public:
  TransformerDecoder(const TransformerDecoderOptions& options,
                     const AttentionFactory& make_attention);
  DecoderOutput forward(const torch::Tensor& features, const AttentionContext& grid,
                        const torch::Tensor& tokens) override;
  DecoderOutput forward(const torch::Tensor& features, const torch::Tensor& image_index,
                        const AttentionContext& grid, const torch::Tensor& tokens) override;
  DecoderState start(const torch::Tensor& features, const AttentionContext& grid) override;
  StepOutput step(DecoderState& state, const torch::Tensor& tokens,
                  const AttentionContext& grid) override;
  int64_t vocab_size() const override { return options_.vocab_size; }
  std::string name() const override { return "transformer"; }
  const TransformerDecoderOptions& options() const { return options_; }

 private:
  // memory [I, N, d]; sequence b reads memory row image_index[b] (undefined: row b).
  DecoderOutput run(const torch::Tensor& memory, const torch::Tensor& image_index,
                    const AttentionContext& grid, const torch::Tensor& tokens);
  torch::Tensor memory(const torch::Tensor& features);  // [I, N, C] -> [I, N, d]

  TransformerDecoderOptions options_;
  torch::nn::Embedding embedding_{nullptr};
  torch::nn::Linear feature_proj_{nullptr}, out_{nullptr};
  torch::nn::LayerNorm final_ln_{nullptr}, memory_ln_{nullptr};
  torch::nn::ModuleList layer_list_{nullptr};              // registered as "layers"
  std::vector<std::shared_ptr<TransformerLayer>> layers_;  // the same modules, typed
  torch::Tensor positions_;  // [max_len, d_model] sine encoding (a buffer)
};

// Show, Attend and Tell's doubly stochastic regulariser Σ_i (1 - Σ_t α_ti)², summed over cells,
// averaged over batch and heads; `steps` [B, L] (bool) says which steps count.
torch::Tensor doubly_stochastic_penalty(const torch::Tensor& alphas, const torch::Tensor& steps);

}  // namespace glimpse::text

#include "glimpse/text/decoder.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/core/parallel.h"

namespace glimpse::text {

void DecoderState::select(const torch::Tensor& index) {
  for (auto& t : tensors)
    if (t.defined())
      t = t.index_select(0, index);
}

namespace {
void check_inputs(const torch::Tensor& features, const torch::Tensor& image_index,
                  const torch::Tensor& tokens, int64_t feature_dim, int64_t vocab) {
  if (features.dim() != 3 || features.size(2) != feature_dim)
    throw Error(ErrorCode::kInvalidArgument,
                "decoder expects grid features [B, N, " + std::to_string(feature_dim) + "]");
  if (image_index.defined()) {
    if (image_index.dim() != 1 || image_index.scalar_type() != torch::kLong ||
        image_index.size(0) != tokens.size(0))
      throw Error(ErrorCode::kInvalidArgument,
                  "decoder expects an int64 image index [B] with one image per token row");
    if (image_index.numel() > 0 && (image_index.min().item<int64_t>() < 0 ||
                                    image_index.max().item<int64_t>() >= features.size(0)))
      throw Error(
          ErrorCode::kInvalidArgument,
          "an image index is outside the " + std::to_string(features.size(0)) + " images given");
  }
  if (tokens.dim() != 2 || (!image_index.defined() && tokens.size(0) != features.size(0)) ||
      tokens.scalar_type() != torch::kLong)
    throw Error(ErrorCode::kInvalidArgument,
                "decoder expects int64 tokens [B, L] with the features' batch size");
  if (tokens.numel() > 0 &&
      (tokens.min().item<int64_t>() < 0 || tokens.max().item<int64_t>() >= vocab))
    throw Error(ErrorCode::kInvalidArgument,
                "a token id is outside the vocabulary of " + std::to_string(vocab));
}
// A dropout probability outside [0, 1] (as a model file may say) is refused.
void check_dropout(double p) {
  if (!(p >= 0 && p <= 1))
    throw Error(ErrorCode::kInvalidArgument,
                "decoder dropout must be between 0 and 1, got " + std::to_string(p));
}

}  // namespace

// ---------------------------------------------------------------- LSTM (Show, Attend and Tell)

LstmDecoder::LstmDecoder(const LstmDecoderOptions& o, const AttentionFactory& make_attention)
    : options_(o) {
  if (o.vocab_size < 8 || o.feature_dim < 1 || o.embed_dim < 1 || o.hidden_dim < 1)
    throw Error(ErrorCode::kInvalidArgument, "LSTM decoder needs a vocabulary and positive dims");
  check_dropout(o.dropout);
  embedding_ = register_module("embedding", torch::nn::Embedding(o.vocab_size, o.embed_dim));
  init_h_ = register_module("init_h", torch::nn::Linear(o.feature_dim, o.hidden_dim));
  init_c_ = register_module("init_c", torch::nn::Linear(o.feature_dim, o.hidden_dim));
  attention_ = register_module(
      "attention", make_attention(o.attention, {o.hidden_dim, o.feature_dim, o.feature_dim,
                                                o.attention_dim, o.hidden_dim}));
  lstm_ = register_module(
      "lstm", torch::nn::LSTMCell(o.embed_dim + attention_->context_dim(), o.hidden_dim));
  fc_ = register_module("fc", torch::nn::Linear(o.hidden_dim, o.vocab_size));
}

DecoderState LstmDecoder::start(const torch::Tensor& features, const AttentionContext& grid) {
  return begin(features, {}, grid);
}

DecoderState LstmDecoder::begin(const torch::Tensor& features, const torch::Tensor& image_index,
                                const AttentionContext& grid) {
  auto mean = features.mean(1);                                 // [I, C]
  auto h = init_h_->forward(mean), c = init_c_->forward(mean);  // [I, H]
  // The grid's side of the attention is computed once per image, not at every word.
  auto keys = attention_->prepare(features, features, grid);
  if (image_index.defined()) {
    h = h.index_select(0, image_index);  // [B, H]
    c = c.index_select(0, image_index);
    keys = keys.select(image_index);
  }
  // The features themselves are not read again: the state keeps only what a step needs.
  return {{torch::Tensor(), h, c, keys.keys, keys.values, keys.projected, keys.projected_values}};
}

StepOutput LstmDecoder::step(DecoderState& state, const torch::Tensor& tokens,
                             const AttentionContext& grid) {
  auto& h = state.tensors[1];  // [B, H]
  auto& c = state.tensors[2];
  PreparedKeys keys;
  keys.keys = state.tensors[3];
  keys.values = state.tensors[4];
  keys.projected = state.tensors[5];
  keys.projected_values = state.tensors[6];
  keys.grid_h = grid.grid_h;
  keys.grid_w = grid.grid_w;
  auto att = attention_->attend(h.unsqueeze(1), keys, grid);  // context [B, 1, Cc]
  auto input = torch::cat({embedding_->forward(tokens), att.context.squeeze(1)}, 1);  // [B, E + Cc]
  std::tie(h, c) = lstm_->forward(input, std::make_tuple(h, c));
  StepOutput out;
  out.logits = fc_->forward(core::dropout(h, options_.dropout, is_training()));  // [B, V]
  out.attention = {att.weights.squeeze(2)};                                      // [B, H, N]
  return out;
}

DecoderOutput LstmDecoder::forward(const torch::Tensor& features, const AttentionContext& grid,
                                   const torch::Tensor& tokens) {
  return forward(features, torch::Tensor(), grid, tokens);
}

DecoderOutput LstmDecoder::forward(const torch::Tensor& features, const torch::Tensor& image_index,
                                   const AttentionContext& grid, const torch::Tensor& tokens) {
  check_inputs(features, image_index, tokens, options_.feature_dim, options_.vocab_size);
  DecoderState state = begin(features, image_index, grid);
  std::vector<torch::Tensor> logits, maps;
  for (int64_t l = 0; l < tokens.size(1); ++l) {
    StepOutput s = step(state, tokens.select(1, l), grid);
    logits.push_back(s.logits);
    maps.push_back(s.attention[0]);
  }
  DecoderOutput out;
  out.logits = torch::stack(logits, 1);     // [B, L, V]
  out.attention = {torch::stack(maps, 2)};  // [B, H, L, N]
  return out;
}

// ---------------------------------------------------------------- Transformer

class TransformerLayer : public torch::nn::Module {
 public:
  TransformerLayer(const TransformerDecoderOptions& o, const AttentionFactory& make_attention) {
    const int64_t d = o.d_model;
    ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    self_attention = register_module(
        "self_attention", make_attention("causal:" + std::to_string(o.heads), {d, d, d, d, d}));
    ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    cross_attention =
        register_module("cross_attention", make_attention(o.cross_attention, {d, d, d, d, d}));
    ln3 = register_module("ln3", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    ff1 = register_module("ff1", torch::nn::Linear(d, o.ffn_dim));
    ff2 = register_module("ff2", torch::nn::Linear(o.ffn_dim, d));
    if (cross_attention->context_dim() != d)
      throw Error(ErrorCode::kInvalidArgument, "cross-attention '" + o.cross_attention +
                                                   "' returns a context of " +
                                                   std::to_string(cross_attention->context_dim()) +
                                                   ", not d_model " + std::to_string(d));
  }
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr}, ln3{nullptr};
  std::shared_ptr<AttentionModule> self_attention, cross_attention;
  torch::nn::Linear ff1{nullptr}, ff2{nullptr};
};

TransformerDecoder::TransformerDecoder(const TransformerDecoderOptions& o,
                                       const AttentionFactory& make_attention)
    : options_(o) {
  if (o.vocab_size < 8 || o.feature_dim < 1 || o.d_model < 4 || o.d_model % 2 != 0 ||
      o.layers < 1 || o.heads < 1 || o.max_len < 2)
    throw Error(ErrorCode::kInvalidArgument,
                "Transformer decoder needs a vocabulary, positive dims and layers");
  check_dropout(o.dropout);
  const int64_t d = o.d_model;
  embedding_ = register_module("embedding", torch::nn::Embedding(o.vocab_size, d));
  // N(0, 1/d), as Vaswani et al. (and fairseq) start the embeddings they scale by √d: a token
  // then enters with unit variance per channel, the scale of the sine positions. LibTorch's
  // default N(0, 1) would make each token 11 times louder than its position (d = 128), and word
  // order, which tells "is the A left of the B?" from "is the B left of the A?", all but silent.
  {
    torch::NoGradGuard no_grad;
    embedding_->weight.normal_(0.0, 1.0 / std::sqrt(double(d)));
  }
  feature_proj_ = register_module("feature_proj", torch::nn::Linear(o.feature_dim, d));
  if (o.memory_norm)  // registered only when used: models before it load unchanged
    memory_ln_ =
        register_module("memory_ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  layer_list_ = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.layers; ++i) {
    layers_.push_back(std::make_shared<TransformerLayer>(o, make_attention));
    layer_list_->push_back(layers_.back());
  }
  final_ln_ = register_module("final_ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  out_ = register_module("out", torch::nn::Linear(d, o.vocab_size));
  auto pos = torch::arange(o.max_len, torch::kFloat64).unsqueeze(1);  // [L, 1]
  auto freq =
      torch::exp(torch::arange(0, d, 2, torch::kFloat64) * (-std::log(10000.0) / d));  // [d/2]
  auto pe = torch::zeros({o.max_len, d}, torch::kFloat64);
  pe.slice(1, 0, d, 2) = torch::sin(pos * freq);
  pe.slice(1, 1, d, 2) = torch::cos(pos * freq).slice(1, 0, d / 2);
  positions_ = register_buffer("positions", pe.to(torch::kFloat32));
}

DecoderOutput TransformerDecoder::run(const torch::Tensor& memory, const torch::Tensor& image_index,
                                      const AttentionContext& grid, const torch::Tensor& tokens) {
  const int64_t len = tokens.size(1);
  if (len > options_.max_len)
    throw Error(ErrorCode::kInvalidArgument, "sequence of " + std::to_string(len) +
                                                 " tokens is over the decoder's " +
                                                 std::to_string(options_.max_len));
  auto x = embedding_->forward(tokens) * std::sqrt(double(options_.d_model)) +
           positions_.narrow(0, 0, len);  // [B,L,d]
  x = core::dropout(x, options_.dropout, is_training());
  DecoderOutput out;
  AttentionContext self;
  const int64_t b = tokens.size(0);
  // Sequences that read the same image: with query-independent cross-attention (and no mask),
  // an image's sequences are padded to the same count S and queried as one sequence of S·L
  // tokens, so the attention runs image by image (a few large products) rather than sequence
  // by sequence (hundreds of small ones), and the keys are not copied for every sequence.
  torch::Tensor slot;  // [B]: row of sequence b in the padded [I·S, L] layout
  int64_t per_image = 0;
  if (image_index.defined() && !grid.mask.defined() && !layers_.empty() &&
      layers_.front()->cross_attention->queries_independent()) {
    const auto index = image_index.to(torch::kCPU).contiguous();
    const int64_t* img = index.data_ptr<int64_t>();
    std::vector<int64_t> count(static_cast<size_t>(memory.size(0)), 0), slots(b);
    for (int64_t i = 0; i < b; ++i)
      per_image = std::max(per_image, ++count[static_cast<size_t>(img[i])]);
    std::fill(count.begin(), count.end(), 0);
    for (int64_t i = 0; i < b; ++i)
      slots[i] = img[i] * per_image + count[static_cast<size_t>(img[i])]++;
    slot = torch::tensor(slots, torch::kLong).to(tokens.device());
  }
  const int64_t images = memory.size(0);
  for (auto& l : layers_) {
    auto h = l->ln1->forward(x);
    x = x + core::dropout(l->self_attention->forward(h, h, h, self).context, options_.dropout,
                          is_training());
    h = l->ln2->forward(x);
    auto keys = l->cross_attention->prepare(memory, memory, grid);  // per image
    AttentionOutput cross;
    if (slot.defined()) {
      const int64_t d = h.size(2), heads = l->cross_attention->heads(), n = memory.size(1);
      auto q = torch::zeros({images * per_image, len, d}, h.options()).index_copy(0, slot, h);
      cross = l->cross_attention->attend(q.view({images, per_image * len, d}), keys, grid);
      cross.context = cross.context.view({images * per_image, len, -1}).index_select(0, slot);
      cross.weights = cross.weights.view({images, heads, per_image, len, n})
                          .transpose(1, 2)
                          .reshape({images * per_image, heads, len, n})
                          .index_select(0, slot);
    } else {
      if (image_index.defined())
        keys = keys.select(image_index);  // per sequence
      cross = l->cross_attention->attend(h, keys, grid);
    }
    x = x + core::dropout(cross.context, options_.dropout, is_training());
    out.attention.push_back(cross.weights);  // [B, H, L, N]
    h = l->ln3->forward(x);
    x = x + core::dropout(l->ff2->forward(torch::relu(l->ff1->forward(h))), options_.dropout,
                          is_training());
  }
  out.logits = out_->forward(final_ln_->forward(x));  // [B, L, V]
  return out;
}

DecoderOutput TransformerDecoder::forward(const torch::Tensor& features,
                                          const AttentionContext& grid,
                                          const torch::Tensor& tokens) {
  return forward(features, torch::Tensor(), grid, tokens);
}

DecoderOutput TransformerDecoder::forward(const torch::Tensor& features,
                                          const torch::Tensor& image_index,
                                          const AttentionContext& grid,
                                          const torch::Tensor& tokens) {
  check_inputs(features, image_index, tokens, options_.feature_dim, options_.vocab_size);
  return run(memory(features), image_index, grid, tokens);
}

torch::Tensor TransformerDecoder::memory(const torch::Tensor& features) {
  auto m = feature_proj_->forward(features);  // [I, N, d]
  return memory_ln_ ? memory_ln_->forward(m) : m;
}

DecoderState TransformerDecoder::start(const torch::Tensor& features, const AttentionContext&) {
  return {{memory(features),
           torch::zeros({features.size(0), 0},
                        torch::TensorOptions().dtype(torch::kLong).device(features.device()))}};
}

// Re-runs the whole prefix: captions are short, and it keeps one code path for training and
// decoding. A key/value cache would make a step O(L) instead of O(L²).
StepOutput TransformerDecoder::step(DecoderState& state, const torch::Tensor& tokens,
                                    const AttentionContext& grid) {
  auto& prefix = state.tensors[1];
  prefix = torch::cat({prefix, tokens.unsqueeze(1)}, 1);  // [B, t + 1]
  DecoderOutput full = run(state.tensors[0], torch::Tensor(), grid, prefix);
  StepOutput out;
  out.logits = full.logits.select(1, prefix.size(1) - 1);  // [B, V]
  for (const auto& a : full.attention)
    out.attention.push_back(a.select(2, prefix.size(1) - 1));  // [B, H, N]
  return out;
}

torch::Tensor doubly_stochastic_penalty(const torch::Tensor& alphas, const torch::Tensor& steps) {
  auto m = steps.to(alphas.dtype()).unsqueeze(1).unsqueeze(-1);  // [B, 1, L, 1]
  auto coverage = (alphas * m).sum(2);                           // [B, H, N]: Σ_t α_ti
  return (1.0 - coverage).pow(2).sum(-1).mean();
}

}  // namespace glimpse::text

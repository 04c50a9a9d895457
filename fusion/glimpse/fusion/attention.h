// The attention catalogue: every mechanism behind one module, each returning the weights it
// used. Shapes: query [B, T, Dq], keys [B, N, Dk], values [B, N, Dv], optional mask
// [B or 1, T, N] (true = may attend). Weights come back as [B, H, T, N] (H = 1 unless
// multi-head), so every variant's weights can be drawn on the image the same way.
//
//   auto spec = parse_attention_spec("general+local:2").take();
//   Attention att(spec, {/*query_dim=*/512, /*key_dim=*/1280});
//   AttentionOutput out = att.forward(h, grid, grid, {.grid_h = 7, .grid_w = 7});
//   out.context;  // [B, T, Dv] (multi-head: [B, T, out_dim])
//   out.weights;  // [B, H, T, N], rows sum to 1 over the allowed cells, exactly 0 elsewhere
//
// Scores (Bahdanau et al. 2015; Luong et al. 2015; Vaswani et al. 2017):
//   additive     vᵀ tanh(W_q q + W_k k)         optional gate β = σ(f_β(q)) on the context
//   dot          qᵀ k                             (Dq = Dk)
//   general      qᵀ W k
//   concat       vᵀ tanh(W [q; k])
//   scaled-dot   qᵀ k / √Dk                       (Dq = Dk)
//   multihead:H  H heads of scaled-dot on projected q, k, v, then an output projection
//   self:H       multihead with q = k = v (the caller passes the sequence three times)
//   causal:H     self with a lower-triangular mask
//   cross:H      multihead, keys = values = the image grid plus a 2-D sine position encoding
//                on the keys (where to look); +pos-values adds it to the values too, so what a
//                head returns says where it looked as well as what it saw; +xy-values adds
//                the cell's centre, x and y from -1 to 1, to the values' last two channels, so
//                that where a head looked is a linear read-out (the sines' slowest pair is
//                about 1e-4 · the column on a 16-cell side) and two heads' positions subtract
//   +sink        multi-head: one more key and value per head, learnt, that every query may
//                attend to instead of the cells (PyTorch's add_bias_kv; the "attend to nothing"
//                of Lu et al. 2017's visual sentinel). What goes to the sink says how much
//                matched: with k equal objects its share is 1 / (1 + k·S), so a query can count,
//                which a softmax over the cells alone (the mean of the k) cannot. The sink
//                weighs as N cells of its score (q·k_sink/√d + log N). The weights
//                returned stay the cells' shares renormalised, what the image shows; `sink` has
//                the rest.
// Scopes, composable with any score:
//   global       softmax over all allowed cells (the default)
//   local:D      Luong local-p carried to 2-D: centre p = (grid_h, grid_w) ⊙ σ(v_pᵀ tanh(W_p q)),
//                cells within half-width D of p, scores plus -‖s - p‖² / 2σ², σ = D/2
//   local-m:D    Luong local-m for sequences: centre p = the query's position
//
// forward() is thread-safe in eval mode under InferenceMode (no state is written).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/text/attention_interface.h"

namespace glimpse::fusion {

enum class Score { kAdditive, kDot, kGeneral, kConcat, kScaledDot, kMultiHead };
enum class Scope { kGlobal, kLocalP, kLocalM };
// How a multi-head attention is used: plain, over one sequence, masked causally, or from text
// to the image grid with a 2-D position encoding.
enum class Use { kPlain, kSelf, kCausal, kCross };

struct AttentionSpec {
  Score score = Score::kAdditive;
  Use use = Use::kPlain;
  int heads = 1;
  Scope scope = Scope::kGlobal;
  double window = 2.0;      // D, the half-width of a local window (in cells or positions)
  bool gate = false;        // Show, Attend and Tell's β gate (additive only)
  bool pos_values = false;  // cross only: the 2-D position encoding on the values as well
  bool xy_values = false;   // cross only: the cell's x and y in [-1, 1] on the last two values
  bool sink = false;        // multi-head only: a learnt key and value per head to attend to

  std::string to_string() const;  // the canonical spec string; parse(to_string()) == *this
  bool operator==(const AttentionSpec& o) const;
};

// Parses "score[:heads][+scope[:D]][+gate][+pos-values][+xy-values][+sink]", e.g. "additive",
// "additive+gate", "general+local:2", "multihead:8", "causal:4+local-m:3", "cross:8",
// "cross:4+pos-values". Unknown names get an error listing the valid ones.
Result<AttentionSpec> parse_attention_spec(const std::string& text);

// Every score name the parser knows, and every scope, for help texts.
std::vector<std::string> attention_score_names();
std::vector<std::string> attention_scope_names();

using text::AttentionContext;
using text::AttentionDims;
using text::AttentionOutput;

class Attention : public text::AttentionModule {
 public:
  Attention(const AttentionSpec& spec, const AttentionDims& dims);

  // Throws glimpse::Error (kInvalidArgument) for wrong shapes, a grid that does not match N, or
  // a mask (with the local window) that leaves a query nothing to attend to.
  AttentionOutput forward(const torch::Tensor& query, const torch::Tensor& keys,
                          const torch::Tensor& values, const AttentionContext& ctx = {}) override;
  text::PreparedKeys prepare(const torch::Tensor& keys, const torch::Tensor& values,
                             const AttentionContext& ctx) override;
  AttentionOutput attend(const torch::Tensor& query, const text::PreparedKeys& keys,
                         const AttentionContext& ctx) override;

  const AttentionSpec& spec() const { return spec_; }
  const AttentionDims& dims() const { return dims_; }
  int64_t context_dim() const override;
  int heads() const override { return spec_.heads; }
  bool queries_independent() const override {
    return spec_.use != Use::kCausal && spec_.scope != Scope::kLocalM;
  }

 private:
  // [B, H, T, N]; a multi-head score also gives its projected query, [B, H, T, d].
  torch::Tensor scores(const torch::Tensor& q, const text::PreparedKeys& k,
                       torch::Tensor* query_heads = nullptr);
  torch::Tensor allowed_cells(const torch::Tensor& query, const AttentionContext& ctx, int64_t n,
                              torch::Tensor& bias, torch::Tensor& centre);

  AttentionSpec spec_;
  AttentionDims dims_;
  // Registered as needed by the score; names are stable for checkpoints.
  torch::nn::Linear w_q_{nullptr}, w_k_{nullptr}, w_v_{nullptr}, w_o_{nullptr};
  torch::nn::Linear v_{nullptr};                   // additive / concat score vector
  torch::nn::Linear w_{nullptr};                   // general's W, concat's W over [q; k]
  torch::nn::Linear f_beta_{nullptr};              // gate
  torch::nn::Linear w_p_{nullptr}, v_p_{nullptr};  // local-p centre predictor
  torch::Tensor sink_key_, sink_value_;            // +sink: [heads, hidden / heads] each
};

// The factory the command line and model configs use: parse the spec, check it against the
// dims, build the module. Errors (unknown names, impossible dims) say what is valid.
Result<std::shared_ptr<Attention>> make_attention(const std::string& spec,
                                                  const AttentionDims& dims);

// make_attention as the text::AttentionFactory the decoders take (throws on errors).
text::AttentionFactory attention_factory();

// 2-D sine/cosine position encoding of a grid, [grid_h * grid_w, dim] (dim divisible by 4):
// the first half of the channels encodes the row, the second half the column.
torch::Tensor position_encoding_2d(int64_t grid_h, int64_t grid_w, int64_t dim);

// The cells' centres as +xy-values adds them, [grid_h * grid_w, dim] (dim ≥ 2): 0 in every
// channel but the last two, x (column) then y (row), each (i + 0.5) / side mapped to [-1, 1].
torch::Tensor cell_coordinates(int64_t grid_h, int64_t grid_w, int64_t dim);

}  // namespace glimpse::fusion

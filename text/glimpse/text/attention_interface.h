// What a decoder needs of an attention mechanism. The catalogue that implements it lives in
// fusion/ (which depends on text/), so decoders here take a factory instead of naming a
// variant: the dependency runs one way, and any catalogue entry can drive any decoder.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

namespace glimpse::text {

struct AttentionDims {
  int64_t query_dim = 0;
  int64_t key_dim = 0;
  int64_t value_dim = 0;  // 0: same as key_dim
  int64_t hidden = 0;   // attention (or multi-head model) dim; 0: 256, or query_dim for multi-head
  int64_t out_dim = 0;  // multi-head output dim; 0: query_dim
};

struct AttentionContext {
  torch::Tensor mask;  // optional bool [B or 1, T, N]; true = may attend
  int64_t grid_h = 0;  // keys are a grid_h x grid_w image grid (row-major); 0 = a sequence
  int64_t grid_w = 0;
  int64_t query_offset =
      0;  // position of query 0 (causal mask, local-m) when decoding step by step
};

struct AttentionOutput {
  torch::Tensor context;  // [B, T, Dv], or [B, T, out_dim] for multi-head
  torch::Tensor weights;  // [B, H, T, N]
  torch::Tensor centre;   // local-p only: [B, H, T, 2] predicted (y, x) in cells; else undefined
  // With a sink (+sink): [B, H, T], the share of each head's attention that went to the sink
  // rather than to the cells (the weights above are the cells' shares, renormalised); else
  // undefined.
  torch::Tensor sink;
};

// The key side of an attention, computed once and queried many times (a decoder querying
// the same image grid at every step). Tensors the variant does not need stay undefined.
struct PreparedKeys {
  torch::Tensor keys;              // [B, N, Dk] (with the position encoding, for cross-attention)
  torch::Tensor values;            // [B, N, Dv]
  torch::Tensor projected;         // the keys' term of the score, e.g. W_k k for additive
  torch::Tensor projected_values;  // multi-head: W_v v
  int64_t grid_h = 0, grid_w = 0;
  // Row b of the result is row index[b] of this: keys prepared once per image serve every
  // sequence that reads the image.
  PreparedKeys select(const torch::Tensor& index) const {
    PreparedKeys p = *this;
    for (torch::Tensor* t : {&p.keys, &p.values, &p.projected, &p.projected_values})
      if (t->defined())
        *t = t->index_select(0, index);
    return p;
  }
};

class AttentionModule : public torch::nn::Module {
 public:
  // forward(q, k, v, ctx) == attend(q, prepare(k, v, ctx), ctx).
  virtual PreparedKeys prepare(const torch::Tensor& keys, const torch::Tensor& values,
                               const AttentionContext& ctx) = 0;
  virtual AttentionOutput attend(const torch::Tensor& query, const PreparedKeys& keys,
                                 const AttentionContext& ctx) = 0;
  virtual AttentionOutput forward(const torch::Tensor& query, const torch::Tensor& keys,
                                  const torch::Tensor& values,
                                  const AttentionContext& ctx = {}) = 0;
  virtual int64_t context_dim() const = 0;
  virtual int heads() const = 0;
  // True when each query's output depends only on that query and the keys (no causal mask and
  // no window placed by the query's position), so the queries of several sequences that read the
  // same keys may be run as one longer sequence.
  virtual bool queries_independent() const { return false; }
};

// Builds the attention named by `spec` (e.g. "additive+gate", "causal:4") for `dims`; throws
// glimpse::Error for unknown names or impossible dims.
using AttentionFactory = std::function<std::shared_ptr<AttentionModule>(const std::string& spec,
                                                                        const AttentionDims& dims)>;

}  // namespace glimpse::text

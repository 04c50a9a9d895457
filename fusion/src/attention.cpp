#include "glimpse/fusion/attention.h"

#include <cmath>
#include <sstream>

namespace glimpse::fusion {

namespace {

std::string shape(const torch::Tensor& t) {
  std::ostringstream o;
  o << t.sizes();
  return o.str();
}

torch::nn::Linear linear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

}  // namespace

Result<std::shared_ptr<Attention>> make_attention(const std::string& spec,
                                                  const AttentionDims& dims) {
  return catch_as_result(
      [&] { return std::make_shared<Attention>(parse_attention_spec(spec).take(), dims); });
}

text::AttentionFactory attention_factory() {
  return [](const std::string& spec,
            const AttentionDims& dims) -> std::shared_ptr<text::AttentionModule> {
    return make_attention(spec, dims).take();
  };
}

torch::Tensor position_encoding_2d(int64_t grid_h, int64_t grid_w, int64_t dim) {
  if (grid_h < 1 || grid_w < 1 || dim < 4 || dim % 4 != 0)
    throw Error(ErrorCode::kInvalidArgument,
                "2-D position encoding needs a positive grid and a dim divisible by 4, got " +
                    std::to_string(grid_h) + "x" + std::to_string(grid_w) + ", dim " +
                    std::to_string(dim));
  const int64_t quarter = dim / 4;
  auto freq =
      torch::exp(torch::arange(quarter, torch::kFloat64) * (-std::log(10000.0) / quarter));  // [Q]
  auto encode = [&](int64_t n) {
    auto pos = torch::arange(n, torch::kFloat64).unsqueeze(1) * freq.unsqueeze(0);  // [n, Q]
    return torch::cat({torch::sin(pos), torch::cos(pos)}, 1);                       // [n, 2Q]
  };
  auto rows = encode(grid_h).unsqueeze(1).expand({grid_h, grid_w, 2 * quarter});  // [H, W, 2Q]
  auto cols = encode(grid_w).unsqueeze(0).expand({grid_h, grid_w, 2 * quarter});  // [H, W, 2Q]
  return torch::cat({rows, cols}, 2)
      .reshape({grid_h * grid_w, dim})
      .to(torch::kFloat32);  // [N, dim]
}

torch::Tensor cell_coordinates(int64_t grid_h, int64_t grid_w, int64_t dim) {
  if (grid_h < 1 || grid_w < 1 || dim < 2)
    throw Error(ErrorCode::kInvalidArgument,
                "cell coordinates need a positive grid and a dim of 2 or more, got " +
                    std::to_string(grid_h) + "x" + std::to_string(grid_w) + ", dim " +
                    std::to_string(dim));
  auto centre = [](int64_t n) {  // (i + 0.5) / n mapped to [-1, 1]
    return (torch::arange(n, torch::kFloat64) + 0.5) * (2.0 / static_cast<double>(n)) - 1.0;
  };
  auto x = centre(grid_w).unsqueeze(0).expand({grid_h, grid_w}).reshape({grid_h * grid_w, 1});
  auto y = centre(grid_h).unsqueeze(1).expand({grid_h, grid_w}).reshape({grid_h * grid_w, 1});
  return torch::cat({torch::zeros({grid_h * grid_w, dim - 2}, torch::kFloat64), x, y}, 1)
      .to(torch::kFloat32);  // [N, dim]
}

Attention::Attention(const AttentionSpec& spec, const AttentionDims& dims)
    : spec_(spec), dims_(dims) {
  const std::string name = "attention '" + spec.to_string() + "': ";
  if (dims_.query_dim < 1 || dims_.key_dim < 1)
    throw Error(ErrorCode::kInvalidArgument, name + "query and key dims must be positive");
  if (dims_.value_dim == 0)
    dims_.value_dim = dims_.key_dim;
  const bool multi = spec.score == Score::kMultiHead;
  if (dims_.hidden == 0)
    dims_.hidden = multi ? dims_.query_dim : 256;
  if (dims_.out_dim == 0)
    dims_.out_dim = dims_.query_dim;
  if (!multi && spec.heads != 1)
    throw Error(ErrorCode::kInvalidArgument, name + "only multi-head attention has several heads");
  if (multi && dims_.hidden % spec.heads != 0)
    throw Error(ErrorCode::kInvalidArgument,
                name + "the model dim " + std::to_string(dims_.hidden) + " is not divisible by " +
                    std::to_string(spec.heads) + " heads");
  if ((spec.score == Score::kDot || spec.score == Score::kScaledDot) &&
      dims_.query_dim != dims_.key_dim)
    throw Error(ErrorCode::kInvalidArgument,
                name + "needs query dim == key dim, got " + std::to_string(dims_.query_dim) +
                    " and " + std::to_string(dims_.key_dim) + "; use general or additive");
  if (spec.use == Use::kCross && dims_.key_dim % 4 != 0)
    throw Error(ErrorCode::kInvalidArgument,
                name + "the grid's 2-D position encoding needs a key dim divisible by 4");
  if (spec.pos_values && dims_.value_dim % 4 != 0)
    throw Error(ErrorCode::kInvalidArgument,
                name +
                    "the grid's 2-D position encoding on the values needs a value dim divisible "
                    "by 4");
  if (spec.gate && spec.score != Score::kAdditive)
    throw Error(ErrorCode::kInvalidArgument, name + "the gate belongs to additive attention only");

  const int64_t q = dims_.query_dim, k = dims_.key_dim, a = dims_.hidden;
  switch (spec.score) {
    case Score::kAdditive:
      w_q_ = register_module("w_q", linear(q, a, false));
      w_k_ = register_module("w_k", linear(k, a, true));
      v_ = register_module("v", linear(a, 1, false));
      break;
    case Score::kGeneral:
      w_ = register_module("w", linear(k, q, false));
      break;
    case Score::kConcat:
      w_ = register_module("w", linear(q + k, a, false));
      v_ = register_module("v", linear(a, 1, false));
      break;
    case Score::kMultiHead:
      w_q_ = register_module("w_q", linear(q, a, true));
      w_k_ = register_module("w_k", linear(k, a, true));
      w_v_ = register_module("w_v", linear(dims_.value_dim, a, true));
      w_o_ = register_module("w_o", linear(a, dims_.out_dim, true));
      break;
    case Score::kDot:
    case Score::kScaledDot:
      break;
  }
  if (spec.sink && !multi)
    throw Error(ErrorCode::kInvalidArgument,
                name + "the sink belongs to multi-head attention only");
  if (spec.sink) {  // zeros: the sink starts as one more cell of score 0 and value 0
    sink_key_ = register_parameter("sink_key", torch::zeros({spec.heads, a / spec.heads}));
    sink_value_ = register_parameter("sink_value", torch::zeros({spec.heads, a / spec.heads}));
  }
  if (spec.gate)
    f_beta_ = register_module("f_beta", linear(q, dims_.value_dim, true));
  if (spec.scope == Scope::kLocalP) {
    w_p_ = register_module("w_p", linear(q, a, false));
    v_p_ = register_module("v_p", linear(a, 2 * spec.heads, false));
  }
}

int64_t Attention::context_dim() const {
  return spec_.score == Score::kMultiHead ? dims_.out_dim : dims_.value_dim;
}

torch::Tensor Attention::scores(const torch::Tensor& q, const text::PreparedKeys& pk,
                                torch::Tensor* query_heads) {
  const auto& k = pk.keys;
  switch (spec_.score) {
    case Score::kAdditive: {
      auto wq = w_q_->forward(q).unsqueeze(2);                            // [B, T, 1, A]
      auto wk = pk.projected.unsqueeze(1);                                // [B, 1, N, A]
      return v_->forward(torch::tanh(wq + wk)).squeeze(-1).unsqueeze(1);  // [B, 1, T, N]
    }
    case Score::kDot:
      return torch::bmm(q, k.transpose(1, 2)).unsqueeze(1);  // [B, 1, T, N]
    case Score::kScaledDot:
      return (torch::bmm(q, k.transpose(1, 2)) / std::sqrt(double(dims_.key_dim))).unsqueeze(1);
    case Score::kGeneral:
      return torch::bmm(q, pk.projected.transpose(1, 2)).unsqueeze(1);  // [B, 1, T, N]
    case Score::kConcat: {
      // W [q; k] = W[:, :Dq] q + W[:, Dq:] k: the concatenation without building [B, T, N, Dq+Dk].
      const auto& w = w_->weight;                                                    // [A, Dq+Dk]
      auto wq = torch::matmul(q, w.narrow(1, 0, dims_.query_dim).t()).unsqueeze(2);  // [B, T, 1, A]
      auto wk = pk.projected.unsqueeze(1);                                           // [B,1,N,A]
      return v_->forward(torch::tanh(wq + wk)).squeeze(-1).unsqueeze(1);             // [B, 1, T, N]
    }
    case Score::kMultiHead: {
      const int64_t b = q.size(0), t = q.size(1), n = k.size(1), h = spec_.heads,
                    d = dims_.hidden / h;
      auto qh = w_q_->forward(q).view({b, t, h, d}).transpose(1, 2);  // [B, H, T, d]
      if (query_heads)
        *query_heads = qh;
      auto kh = pk.projected.view({b, n, h, d}).transpose(1, 2);            // [B, H, N, d]
      return torch::matmul(qh, kh.transpose(2, 3)) / std::sqrt(double(d));  // [B, H, T, N]
    }
  }
  throw Error(ErrorCode::kInternal, "unknown score");
}

// Which cells each query may attend to ([B or 1, H or 1, T, N] bool, undefined = all), and the
// local scopes' Gaussian log-weights (`bias`, [B, H, T, N]) and predicted centres.
torch::Tensor Attention::allowed_cells(const torch::Tensor& query, const AttentionContext& ctx,
                                       int64_t n, torch::Tensor& bias, torch::Tensor& centre) {
  const int64_t b = query.size(0), t = query.size(1);
  const auto fopt = query.options();
  torch::Tensor allowed;
  auto both = [&](const torch::Tensor& m) { allowed = allowed.defined() ? (allowed & m) : m; };
  if (ctx.mask.defined())
    both(ctx.mask.unsqueeze(1));  // [B|1, 1, T, N]

  auto query_pos = torch::arange(t, fopt).add_(double(ctx.query_offset)).view({t, 1});  // [T, 1]
  if (spec_.use == Use::kCausal) {
    auto key_pos = torch::arange(n, fopt).view({1, n});  // [1, N]
    both((key_pos <= query_pos).view({1, 1, t, n}));     // [1, 1, T, N]
  }
  const double sigma = spec_.window / 2.0;
  if (spec_.scope == Scope::kLocalP) {
    const int64_t gh = ctx.grid_h > 0 ? ctx.grid_h : 1, gw = ctx.grid_h > 0 ? ctx.grid_w : n;
    const int64_t h = spec_.heads;
    auto s = torch::sigmoid(v_p_->forward(torch::tanh(w_p_->forward(query))));  // [B, T, 2H]
    s = s.view({b, t, h, 2}).permute({0, 2, 1, 3});                             // [B, H, T, 2]
    auto py = s.select(3, 0).mul(double(gh)).unsqueeze(-1);                     // [B, H, T, 1]
    auto px = s.select(3, 1).mul(double(gw)).unsqueeze(-1);                     // [B, H, T, 1]
    centre = torch::stack({py.squeeze(-1), px.squeeze(-1)}, -1);                // [B, H, T, 2]
    auto cell = torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(query.device()));
    auto yc = cell.div(gw, "floor").to(fopt.dtype()).add_(0.5);  // [N] cell centres
    auto xc = cell.remainder(gw).to(fopt.dtype()).add_(0.5);     // [N]
    auto dx = xc - px;                                           // [B, H, T, N]
    auto dist2 = dx * dx;
    auto inside = dx.abs() <= spec_.window;
    if (gh > 1) {  // a sequence (one row) has no vertical offset
      auto dy = yc - py;
      dist2 = dist2 + dy * dy;
      inside = inside & (dy.abs() <= spec_.window);
    }
    bias = -dist2 / (2.0 * sigma * sigma);
    both(inside);
  } else if (spec_.scope == Scope::kLocalM) {
    if (ctx.grid_h > 0)
      throw Error(ErrorCode::kInvalidArgument,
                  "attention '" + spec_.to_string() +
                      "': local-m aligns query and key positions of a sequence; "
                      "for an image grid use local");
    auto d = torch::arange(n, fopt).view({1, n}) - query_pos;  // [T, N]
    bias = (-(d * d) / (2.0 * sigma * sigma)).view({1, 1, t, n});
    both((d.abs() <= spec_.window).view({1, 1, t, n}));
  }
  if (allowed.defined() && (~allowed.any(-1)).any().item<bool>())
    throw Error(
        ErrorCode::kInvalidArgument,
        "attention '" + spec_.to_string() +
            "': the mask leaves a query with no cell to attend to; every query needs at least one "
            "allowed cell");
  return allowed;
}

AttentionOutput Attention::forward(const torch::Tensor& query, const torch::Tensor& keys,
                                   const torch::Tensor& values, const AttentionContext& ctx) {
  return attend(query, prepare(keys, values, ctx), ctx);
}

text::PreparedKeys Attention::prepare(const torch::Tensor& keys, const torch::Tensor& values,
                                      const AttentionContext& ctx) {
  const std::string name = "attention '" + spec_.to_string() + "': ";
  auto fail = [&](const std::string& why) { throw Error(ErrorCode::kInvalidArgument, name + why); };
  if (keys.dim() != 3 || keys.size(2) != dims_.key_dim)
    fail("keys must be [B, N, " + std::to_string(dims_.key_dim) + "], got " + shape(keys));
  if (values.dim() != 3 || values.size(2) != dims_.value_dim)
    fail("values must be [B, N, " + std::to_string(dims_.value_dim) + "], got " + shape(values));
  const int64_t n = keys.size(1);
  if (values.size(0) != keys.size(0))
    fail("keys and values must have the same batch size, got " + shape(keys) + " and " +
         shape(values));
  if (values.size(1) != n)
    fail("keys and values must have the same N, got " + shape(keys) + " and " + shape(values));
  if (n < 1)
    fail("keys must not be empty");
  if (ctx.grid_h < 0 || ctx.grid_w < 0 || (ctx.grid_h > 0) != (ctx.grid_w > 0) ||
      (ctx.grid_h > 0 && ctx.grid_h * ctx.grid_w != n))
    fail("the grid " + std::to_string(ctx.grid_h) + "x" + std::to_string(ctx.grid_w) +
         " does not match N = " + std::to_string(n));
  if (spec_.use == Use::kCross && ctx.grid_h == 0)
    fail("cross-attention needs the grid size of the keys");

  text::PreparedKeys p;
  p.keys = keys;
  p.values = values;
  p.grid_h = ctx.grid_h;
  p.grid_w = ctx.grid_w;
  if (spec_.use == Use::kCross) {
    p.keys =
        keys +
        position_encoding_2d(ctx.grid_h, ctx.grid_w, dims_.key_dim).to(keys.options()).unsqueeze(0);
    if (spec_.pos_values)
      p.values = values + position_encoding_2d(ctx.grid_h, ctx.grid_w, dims_.value_dim)
                              .to(values.options())
                              .unsqueeze(0);
    if (spec_.xy_values)
      p.values = p.values + cell_coordinates(ctx.grid_h, ctx.grid_w, dims_.value_dim)
                                .to(values.options())
                                .unsqueeze(0);
  }
  switch (spec_.score) {
    case Score::kAdditive:
      p.projected = w_k_->forward(p.keys);  // [B, N, A]
      break;
    case Score::kGeneral:
      p.projected = w_->forward(p.keys);  // [B, N, Dq]
      break;
    case Score::kConcat:
      p.projected = torch::matmul(p.keys, w_->weight.narrow(1, dims_.query_dim, dims_.key_dim).t());
      break;
    case Score::kMultiHead:
      p.projected = w_k_->forward(p.keys);           // [B, N, hidden]
      p.projected_values = w_v_->forward(p.values);  // [B, N, hidden]
      break;
    default:
      break;
  }
  return p;
}

AttentionOutput Attention::attend(const torch::Tensor& query, const text::PreparedKeys& pk,
                                  const AttentionContext& ctx) {
  const std::string name = "attention '" + spec_.to_string() + "': ";
  auto fail = [&](const std::string& why) { throw Error(ErrorCode::kInvalidArgument, name + why); };
  const auto& keys = pk.keys;
  const auto& values = pk.values;
  if (query.dim() != 3 || query.size(2) != dims_.query_dim)
    fail("query must be [B, T, " + std::to_string(dims_.query_dim) + "], got " + shape(query));
  const int64_t b = query.size(0), t = query.size(1), n = keys.size(1);
  if (keys.size(0) != b)
    fail("query, keys and values must have the same batch size, got " + shape(query) + ", " +
         shape(keys) + ", " + shape(values));
  if (t < 1)
    fail("query and keys must not be empty");
  if (ctx.grid_h != pk.grid_h || ctx.grid_w != pk.grid_w)
    fail("the keys were prepared for another grid");
  if (ctx.mask.defined()) {
    const auto& m = ctx.mask;
    if (m.scalar_type() != torch::kBool || m.dim() != 3 || (m.size(0) != b && m.size(0) != 1) ||
        m.size(1) != t || m.size(2) != n)
      fail("mask must be bool [B or 1, " + std::to_string(t) + ", " + std::to_string(n) +
           "], got " + shape(m));
  }

  AttentionOutput out;
  torch::Tensor qh;                               // multi-head: the projected query, [B, H, T, d]
  torch::Tensor logits = scores(query, pk, &qh);  // [B, H, T, N]
  torch::Tensor bias;
  torch::Tensor allowed = allowed_cells(query, ctx, n, bias, out.centre);
  if (bias.defined())
    logits = logits + bias;
  if (allowed.defined())
    logits = logits.masked_fill(~allowed, -std::numeric_limits<double>::infinity());
  out.weights = torch::softmax(logits, -1);  // [B, H, T, N]

  if (spec_.score == Score::kMultiHead) {
    const int64_t h = spec_.heads, d = dims_.hidden / h;
    auto vh = pk.projected_values.view({b, n, h, d}).transpose(1, 2);  // [B, H, N, d]
    auto heads = torch::matmul(out.weights, vh);                       // [B, H, T, d]
    if (spec_.sink) {
      // The sink's share of a softmax over the cells and the sink, from the cells' log-sum-exp
      // (stable however the scores run); the cells keep the rest in the proportions above.
      // The sink weighs as N cells of its score: at the start (all scores 0) it takes half,
      // on any grid.
      auto sink_score = (qh * sink_key_.view({1, h, 1, d})).sum(-1, true) / std::sqrt(double(d)) +
                        std::log(double(n));
      auto share = torch::sigmoid(sink_score - torch::logsumexp(logits, -1, true));  // [B,H,T,1]
      heads = (1 - share) * heads + share * sink_value_.view({1, h, 1, d});
      out.sink = share.squeeze(-1);  // [B, H, T]
    }
    out.context = w_o_->forward(heads.transpose(1, 2).reshape({b, t, h * d}));  // [B, T, out]
  } else {
    out.context = torch::bmm(out.weights.squeeze(1), values);  // [B, T, Dv]
    if (spec_.gate)
      out.context = torch::sigmoid(f_beta_->forward(query)) * out.context;
  }
  return out;
}

}  // namespace glimpse::fusion

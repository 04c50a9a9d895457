// The attention catalogue against its formulas. `reference()` below is an independent
// implementation with plain loops over doubles, reading the module's parameters; every variant
// must match it to 1e-5, and one case is checked against numbers worked out by hand.
#include "glimpse/fusion/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace glimpse::fusion {
namespace {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;

Mat to_mat(const torch::Tensor& t2) {  // [R, C] -> rows
  auto t = t2.to(torch::kFloat64).contiguous();
  Mat m(static_cast<size_t>(t.size(0)), Vec(static_cast<size_t>(t.size(1))));
  for (int64_t i = 0; i < t.size(0); ++i)
    for (int64_t j = 0; j < t.size(1); ++j)
      m[i][j] = t[i][j].item<double>();
  return m;
}
Vec to_vec(const torch::Tensor& t1) {
  auto t = t1.to(torch::kFloat64).contiguous();
  Vec v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = t[i].item<double>();
  return v;
}
Vec matvec(const Mat& w, const Vec& x) {  // w [out][in] as torch Linear stores it
  Vec y(w.size(), 0.0);
  for (size_t o = 0; o < w.size(); ++o)
    for (size_t i = 0; i < x.size(); ++i)
      y[o] += w[o][i] * x[i];
  return y;
}
Vec add(Vec a, const Vec& b) {
  for (size_t i = 0; i < a.size(); ++i)
    a[i] += b[i];
  return a;
}
double dotp(const Vec& a, const Vec& b, size_t from = 0, size_t len = SIZE_MAX) {
  double s = 0;
  for (size_t i = from; i < std::min(a.size(), from + len); ++i)
    s += a[i] * b[i];
  return s;
}
double sigm(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

struct Ref {
  std::vector<std::vector<Mat>> weights;  // [B][H][T][N]
  std::vector<Mat> context;               // [B][T][D]
};

// The formulas of attention.h, one query and one cell at a time.
Ref reference(Attention& att, const torch::Tensor& q, const torch::Tensor& k,
              const torch::Tensor& v, const AttentionContext& ctx) {
  const AttentionSpec& s = att.spec();
  std::map<std::string, torch::Tensor> p;
  for (const auto& kv : att.named_parameters())
    p[kv.key()] = kv.value().detach();
  const int64_t B = q.size(0), T = q.size(1), N = k.size(1), H = s.heads;
  const int64_t Dq = q.size(2), Dk = k.size(2);
  const bool grid = ctx.grid_h > 0;
  const int64_t gh = grid ? ctx.grid_h : 1, gw = grid ? ctx.grid_w : N;
  Ref r;
  r.weights.assign(B, std::vector<Mat>(H, Mat(T, Vec(N, 0.0))));
  r.context.assign(B, Mat(T));
  for (int64_t b = 0; b < B; ++b) {
    Mat K = to_mat(k[b]), V = to_mat(v[b]), Q = to_mat(q[b]);
    // 2-D sine encoding added to the keys (and with pos-values to the values), per channel
    auto encode = [&](Mat& m) {
      const int64_t dim = static_cast<int64_t>(m[0].size()), quarter = dim / 4;
      for (int64_t n = 0; n < N; ++n) {
        const double y = double(n / gw), x = double(n % gw);
        for (int64_t c = 0; c < dim; ++c) {
          const int64_t i = c % quarter;
          const double f = std::pow(10000.0, -double(i) / double(quarter));
          const double pos = c < 2 * quarter ? y : x;
          m[n][c] += ((c / quarter) % 2 == 0) ? std::sin(pos * f) : std::cos(pos * f);
        }
      }
    };
    if (s.use == Use::kCross)
      encode(K);
    if (s.pos_values)
      encode(V);
    if (s.xy_values)  // the cell's centre, x then y in [-1, 1], on the last two channels
      for (int64_t n = 0; n < N; ++n) {
        const size_t dv = V[n].size();
        V[n][dv - 2] += (double(n % gw) + 0.5) * 2.0 / double(gw) - 1.0;
        V[n][dv - 1] += (double(n / gw) + 0.5) * 2.0 / double(gh) - 1.0;
      }
    for (int64_t t = 0; t < T; ++t) {
      const Vec& qt = Q[t];
      std::vector<Vec> head_ctx;
      for (int64_t h = 0; h < H; ++h) {
        Vec score(N), qh, bias(N, 0.0);
        std::vector<bool> ok(N, true);
        int64_t d = 0;
        if (s.score == Score::kMultiHead) {
          d = att.dims().hidden / H;
          qh = add(matvec(to_mat(p["w_q.weight"]), qt), to_vec(p["w_q.bias"]));
        }
        for (int64_t n = 0; n < N; ++n) {
          const Vec& kn = K[n];
          switch (s.score) {
            case Score::kAdditive: {
              Vec e =
                  add(add(matvec(to_mat(p["w_q.weight"]), qt), matvec(to_mat(p["w_k.weight"]), kn)),
                      to_vec(p["w_k.bias"]));
              for (auto& x : e)
                x = std::tanh(x);
              score[n] = dotp(to_vec(p["v.weight"][0]), e);
              break;
            }
            case Score::kDot:
              score[n] = dotp(qt, kn);
              break;
            case Score::kScaledDot:
              score[n] = dotp(qt, kn) / std::sqrt(double(Dk));
              break;
            case Score::kGeneral:
              score[n] = dotp(qt, matvec(to_mat(p["w.weight"]), kn));
              break;
            case Score::kConcat: {
              Vec cat = qt;
              cat.insert(cat.end(), kn.begin(), kn.end());
              Vec e = matvec(to_mat(p["w.weight"]), cat);
              for (auto& x : e)
                x = std::tanh(x);
              score[n] = dotp(to_vec(p["v.weight"][0]), e);
              break;
            }
            case Score::kMultiHead: {
              Vec kh = add(matvec(to_mat(p["w_k.weight"]), kn), to_vec(p["w_k.bias"]));
              score[n] = dotp(qh, kh, size_t(h * d), size_t(d)) / std::sqrt(double(d));
              break;
            }
          }
          if (ctx.mask.defined())
            ok[n] = ctx.mask[ctx.mask.size(0) == 1 ? 0 : b][t][n].item<bool>();
          if (s.use == Use::kCausal && n > t + ctx.query_offset)
            ok[n] = false;
        }
        const double sigma = s.window / 2.0;
        if (s.scope == Scope::kLocalP) {
          Vec u = matvec(to_mat(p["v_p.weight"]), [&] {
            Vec e = matvec(to_mat(p["w_p.weight"]), qt);
            for (auto& x : e)
              x = std::tanh(x);
            return e;
          }());
          const double py = gh * sigm(u[2 * h]), px = gw * sigm(u[2 * h + 1]);
          for (int64_t n = 0; n < N; ++n) {
            const double dy = gh > 1 ? (n / gw + 0.5) - py : 0.0, dx = (n % gw + 0.5) - px;
            if (std::abs(dy) > s.window || std::abs(dx) > s.window)
              ok[n] = false;
            bias[n] = -(dy * dy + dx * dx) / (2 * sigma * sigma);
          }
        } else if (s.scope == Scope::kLocalM) {
          for (int64_t n = 0; n < N; ++n) {
            const double dd = double(n) - double(t + ctx.query_offset);
            if (std::abs(dd) > s.window)
              ok[n] = false;
            bias[n] = -dd * dd / (2 * sigma * sigma);
          }
        }
        // The sink, one more entry of the softmax: score q_h·k_sink/√d + log N.
        double sink_score = -1e300;
        if (s.sink)
          sink_score =
              dotp(Vec(qh.begin() + h * d, qh.begin() + (h + 1) * d), to_vec(p["sink_key"][h])) /
                  std::sqrt(double(d)) +
              std::log(double(N));
        double mx = s.sink ? sink_score : -1e300, z = 0, z_cells = 0;
        for (int64_t n = 0; n < N; ++n)
          if (ok[n])
            mx = std::max(mx, score[n] + bias[n]);
        for (int64_t n = 0; n < N; ++n)
          if (ok[n])
            z_cells += std::exp(score[n] + bias[n] - mx);
        const double p_sink = s.sink ? std::exp(sink_score - mx) : 0.0;
        z = z_cells + p_sink;
        for (int64_t n = 0; n < N; ++n)  // the cells' weights, renormalised without the sink
          r.weights[b][h][t][n] = ok[n] ? std::exp(score[n] + bias[n] - mx) / z_cells : 0.0;
        // context of this head: Σ_n p_n v_n (+ p_sink v_sink), p the softmax over all entries
        Vec c;
        for (int64_t n = 0; n < N; ++n) {
          Vec vn = V[n];
          if (s.score == Score::kMultiHead) {
            Vec full = add(matvec(to_mat(p["w_v.weight"]), vn), to_vec(p["w_v.bias"]));
            vn.assign(full.begin() + h * d, full.begin() + (h + 1) * d);
          }
          if (c.empty())
            c.assign(vn.size(), 0.0);
          const double pn = ok[n] ? std::exp(score[n] + bias[n] - mx) / z : 0.0;
          for (size_t i = 0; i < vn.size(); ++i)
            c[i] += pn * vn[i];
        }
        if (s.sink) {
          Vec sv = to_vec(p["sink_value"][h]);
          for (size_t i = 0; i < c.size(); ++i)
            c[i] += p_sink / z * sv[i];
        }
        head_ctx.push_back(c);
      }
      Vec out;
      if (s.score == Score::kMultiHead) {
        Vec cat;
        for (const auto& c : head_ctx)
          cat.insert(cat.end(), c.begin(), c.end());
        out = add(matvec(to_mat(p["w_o.weight"]), cat), to_vec(p["w_o.bias"]));
      } else {
        out = head_ctx[0];
        if (s.gate) {
          Vec g = add(matvec(to_mat(p["f_beta.weight"]), qt), to_vec(p["f_beta.bias"]));
          for (size_t i = 0; i < out.size(); ++i)
            out[i] *= sigm(g[i]);
        }
      }
      r.context[b][t] = out;
    }
  }
  (void)Dq;
  return r;
}

struct Case {
  std::string spec;
  int64_t t, n, grid_h, grid_w;  // grid 0x0: keys are a sequence
  bool self;                     // query = keys = values
};

// Every score with every scope it is used with, on grids and on sequences.
const std::vector<Case> kCases = {
    {"additive", 3, 6, 2, 3, false},
    {"additive+gate", 3, 6, 2, 3, false},
    {"dot", 3, 6, 2, 3, false},
    {"general", 3, 6, 2, 3, false},
    {"concat", 3, 6, 2, 3, false},
    {"scaled-dot", 3, 6, 2, 3, false},
    {"multihead:2", 3, 6, 2, 3, false},
    {"self:2", 4, 4, 0, 0, true},
    {"causal:2", 4, 4, 0, 0, true},
    {"cross:2", 3, 6, 2, 3, false},
    {"additive+local:1", 3, 6, 2, 3, false},
    {"general+local:1.5", 3, 9, 3, 3, false},
    {"dot+local-m:1", 3, 5, 0, 0, false},
    {"concat+local-m:2", 4, 6, 0, 0, false},
    {"scaled-dot+local:1", 3, 6, 0, 0, false},
    {"multihead:2+local:1", 3, 9, 3, 3, false},
    {"causal:2+local-m:1", 5, 5, 0, 0, true},
    {"cross:2+local:1", 3, 6, 2, 3, false},
    {"additive+gate+local:1", 3, 6, 2, 3, false},
    {"cross:2+pos-values", 3, 6, 2, 3, false},
    {"multihead:2+sink", 3, 6, 2, 3, false},
    {"causal:2+sink", 4, 4, 0, 0, true},
    {"cross:2+pos-values+sink", 3, 6, 2, 3, false},
    {"cross:2+xy-values", 3, 6, 2, 3, false},
    {"cross:2+pos-values+xy-values+sink", 3, 6, 2, 3, false},
    {"cross:2+local:1+sink", 3, 9, 3, 3, false},
};
constexpr int64_t kDim = 8;

struct Built {
  std::shared_ptr<Attention> att;
  torch::Tensor q, k, v;
  AttentionContext ctx;
};

Built build(const Case& c, torch::ScalarType dtype, uint64_t seed, int64_t batch = 2) {
  torch::manual_seed(seed);
  Built x;
  x.att = std::make_shared<Attention>(parse_attention_spec(c.spec).take(),
                                      AttentionDims{kDim, kDim, kDim, kDim, kDim});
  x.att->to(dtype);
  for (auto& p : x.att->parameters()) {  // fixed, lively weights
    torch::NoGradGuard g;
    p.copy_(torch::randn(p.sizes(), p.options()) * 0.7);
  }
  auto opt = torch::TensorOptions().dtype(dtype);
  x.q = torch::randn({batch, c.t, kDim}, opt);
  x.k = c.self ? x.q : torch::randn({batch, c.n, kDim}, opt);
  x.v = c.self ? x.q : torch::randn({batch, c.n, kDim}, opt);
  x.ctx.grid_h = c.grid_h;
  x.ctx.grid_w = c.grid_w;
  return x;
}

class EveryVariant : public ::testing::TestWithParam<Case> {};

TEST_P(EveryVariant, MatchesTheIndependentFormula) {
  const Case& c = GetParam();
  for (int64_t offset : {int64_t{0}, int64_t{1}}) {
    Built x = build(c, torch::kFloat64, 7 + offset);
    x.ctx.query_offset = offset;
    AttentionOutput out = x.att->forward(x.q, x.k, x.v, x.ctx);
    Ref ref = reference(*x.att, x.q, x.k, x.v, x.ctx);
    const int64_t heads = x.att->spec().heads;
    ASSERT_EQ(out.weights.sizes(), (std::vector<int64_t>{2, heads, c.t, c.n}));
    ASSERT_EQ(out.context.sizes(), (std::vector<int64_t>{2, c.t, kDim}));
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t t = 0; t < c.t; ++t) {
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t n = 0; n < c.n; ++n)
            ASSERT_NEAR(out.weights[b][h][t][n].item<double>(), ref.weights[b][h][t][n], 1e-5)
                << c.spec << " weight b" << b << " h" << h << " t" << t << " n" << n;
        for (int64_t i = 0; i < kDim; ++i)
          ASSERT_NEAR(out.context[b][t][i].item<double>(), ref.context[b][t][i], 1e-5)
              << c.spec << " context b" << b << " t" << t << " i" << i;
      }
  }
}

TEST_P(EveryVariant, WeightsAreADistributionOverTheAllowedCells) {
  const Case& c = GetParam();
  Built x = build(c, torch::kFloat32, 11);
  const bool local_p = x.att->spec().scope == Scope::kLocalP;
  if (!local_p) {  // a random mask; local-p windows are checked through the predicted centre
    torch::manual_seed(3);
    x.ctx.mask = torch::rand({2, c.t, c.n}) < 0.7;
    // every query keeps cell 0 and the cell at its own position, which local-m and causal allow
    x.ctx.mask.select(2, 0).fill_(true);
    for (int64_t t = 0; t < c.t; ++t)
      x.ctx.mask.select(1, t).select(1, std::min(t, c.n - 1)).fill_(true);
  }
  AttentionOutput out = x.att->forward(x.q, x.k, x.v, x.ctx);
  EXPECT_GE(out.weights.min().item<float>(), 0.0f);
  EXPECT_TRUE(
      torch::allclose(out.weights.sum(-1), torch::ones({2, x.att->spec().heads, c.t}), 1e-5, 1e-6));
  if (x.ctx.mask.defined()) {
    auto masked = (~x.ctx.mask).unsqueeze(1).expand_as(out.weights);
    EXPECT_EQ(out.weights.masked_select(masked).abs().max().item<float>(), 0.0f)
        << "masked cells get exactly 0";
  }
  if (local_p) {
    ASSERT_TRUE(out.centre.defined());
    const int64_t gh = c.grid_h ? c.grid_h : 1, gw = c.grid_h ? c.grid_w : c.n;
    auto cell = torch::arange(c.n);
    auto yc = cell.div(gw, "floor").to(torch::kFloat32) + 0.5,
         xc = cell.remainder(gw).to(torch::kFloat32) + 0.5;
    auto dy = (yc - out.centre.select(3, 0).unsqueeze(-1)).abs();
    auto dx = (xc - out.centre.select(3, 1).unsqueeze(-1)).abs();
    auto outside = dx > x.att->spec().window;
    if (gh > 1)
      outside = outside | (dy > x.att->spec().window);
    EXPECT_EQ(out.weights.masked_select(outside).numel() == 0
                  ? 0.0f
                  : out.weights.masked_select(outside).abs().max().item<float>(),
              0.0f)
        << "cells outside the local window get exactly 0";
  }
  if (x.att->spec().use == Use::kCausal) {
    auto future = torch::ones({c.t, c.n}, torch::kBool).triu(1);
    EXPECT_EQ(out.weights.masked_select(future.expand_as(out.weights)).abs().max().item<float>(),
              0.0f);
  }
}

TEST_P(EveryVariant, OneItemDoesNotDependOnTheOthers) {
  const Case& c = GetParam();
  Built x = build(c, torch::kFloat64, 5);
  x.att->eval();
  AttentionOutput a = x.att->forward(x.q, x.k, x.v, x.ctx);
  torch::NoGradGuard g;
  auto q2 = x.q.clone(), k2 = x.k.clone(), v2 = x.v.clone();
  q2[1].normal_();
  if (!c.self) {
    k2[1].normal_();
    v2[1].normal_();
  } else {
    k2 = v2 = q2;
  }
  AttentionOutput b = x.att->forward(q2, k2, v2, x.ctx);
  EXPECT_TRUE(torch::allclose(a.weights[0], b.weights[0], 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(a.context[0], b.context[0], 1e-12, 1e-12));
  EXPECT_FALSE(torch::allclose(a.context[1], b.context[1]));
}

TEST_P(EveryVariant, GradientsMatchFiniteDifferencesInDouble) {
  const Case& c = GetParam();
  Built x = build(c, torch::kFloat64, 13, /*batch=*/1);
  auto q = x.q.detach().clone().requires_grad_(true);
  auto k = c.self ? q : x.k.detach().clone().requires_grad_(true);
  auto v = c.self ? q : x.v.detach().clone().requires_grad_(true);
  torch::manual_seed(17);
  AttentionOutput out0 = x.att->forward(q, k, v, x.ctx);
  auto r1 = torch::randn_like(out0.context), r2 = torch::randn_like(out0.weights);
  auto loss_of = [&](const AttentionOutput& o) {
    return (o.context * r1).sum() + (o.weights * r2).sum();
  };
  loss_of(out0).backward();

  std::vector<std::pair<std::string, torch::Tensor>> inputs = {{"query", q}};
  if (!c.self) {
    inputs.emplace_back("keys", k);
    inputs.emplace_back("values", v);
  }
  for (auto& p : x.att->named_parameters())
    inputs.emplace_back(p.key(), p.value());
  const double eps = 1e-6;
  for (auto& [name, t] : inputs) {
    ASSERT_TRUE(t.grad().defined()) << name << " got no gradient";
    auto analytic = t.grad().clone();
    auto flat = t.detach().view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      torch::NoGradGuard g;
      const double orig = flat[i].item<double>();
      flat[i] = orig + eps;
      const double up = loss_of(x.att->forward(q, k, v, x.ctx)).item<double>();
      flat[i] = orig - eps;
      const double down = loss_of(x.att->forward(q, k, v, x.ctx)).item<double>();
      flat[i] = orig;
      const double numeric = (up - down) / (2 * eps);
      const double a = analytic.view({-1})[i].item<double>();
      ASSERT_NEAR(a, numeric, 1e-6 + 1e-5 * std::abs(numeric))
          << c.spec << ": d loss / d " << name << "[" << i << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, EveryVariant, ::testing::ValuesIn(kCases), [](const auto& p) {
  std::string n = p.param.spec;
  for (auto& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch)))
      ch = '_';
  return n;
});

TEST(Attention, DotAttentionByHand) {
  Attention att(parse_attention_spec("dot").take(), {2, 2});
  auto q = torch::tensor({1.0, 0.0}).view({1, 1, 2});
  auto k = torch::tensor({1.0, 0.0, 0.0, 1.0}).view({1, 2, 2});
  auto v = torch::tensor({1.0, 2.0, 3.0, 4.0}).view({1, 2, 2});
  auto out = att.forward(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32));
  // scores (1, 0): weights e/(e+1) = 0.7310586, 1/(e+1) = 0.2689414
  EXPECT_NEAR(out.weights[0][0][0][0].item<float>(), 0.7310586f, 1e-6);
  EXPECT_NEAR(out.weights[0][0][0][1].item<float>(), 0.2689414f, 1e-6);
  // context 0.7310586 * (1, 2) + 0.2689414 * (3, 4)
  EXPECT_NEAR(out.context[0][0][0].item<float>(), 1.5378828f, 1e-6);
  EXPECT_NEAR(out.context[0][0][1].item<float>(), 2.5378828f, 1e-6);
}

TEST(Attention, LocalMByHand) {
  // dot scores all 0 (q = 0), so the weights are the Gaussian alone: window 1 around
  // position 1 of 4 keys, sigma 0.5: exp(-2) for the neighbours, 1 for the centre, 0 beyond.
  Attention att(parse_attention_spec("dot+local-m:1").take(), {2, 2});
  auto q = torch::zeros({1, 2, 2});
  auto k = torch::randn({1, 4, 2});
  auto v = torch::eye(4).narrow(1, 0, 2).view({1, 4, 2});
  AttentionContext ctx;
  ctx.query_offset = 1;  // the two queries sit at positions 1 and 2
  auto w = att.forward(q, k, k, ctx).weights[0][0];
  const float e2 = std::exp(-2.0f), z = 1 + 2 * e2;
  EXPECT_NEAR(w[0][0].item<float>(), e2 / z, 1e-6);
  EXPECT_NEAR(w[0][1].item<float>(), 1 / z, 1e-6);
  EXPECT_NEAR(w[0][2].item<float>(), e2 / z, 1e-6);
  EXPECT_EQ(w[0][3].item<float>(), 0.0f);
  EXPECT_EQ(w[1][0].item<float>(), 0.0f);
  EXPECT_NEAR(w[1][2].item<float>(), 1 / z, 1e-6);
  (void)v;
}

TEST(PositionEncoding2d, RowsInTheFirstHalfColumnsInTheSecond) {
  auto pe = position_encoding_2d(2, 3, 8);  // [6, 8], quarter 2
  EXPECT_EQ(pe.sizes(), (std::vector<int64_t>{6, 8}));
  // cell (1, 2) = index 5: sin(1), sin(0.01), cos(1), cos(0.01), sin(2), sin(0.02), cos(2),
  // cos(0.02)
  const float want[] = {std::sin(1.f), std::sin(.01f), std::cos(1.f), std::cos(.01f),
                        std::sin(2.f), std::sin(.02f), std::cos(2.f), std::cos(.02f)};
  for (int i = 0; i < 8; ++i)
    EXPECT_NEAR(pe[5][i].item<float>(), want[i], 1e-6) << i;
  EXPECT_THROW(position_encoding_2d(2, 2, 6), Error);
}

// --- refusals ---

std::string forward_error(Attention& att, const torch::Tensor& q, const torch::Tensor& k,
                          const torch::Tensor& v, const AttentionContext& ctx = {}) {
  try {
    att.forward(q, k, v, ctx);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "forward accepted bad input";
  return "";
}

TEST(AttentionRefuses, WrongShapesWithTheShapeInTheMessage) {
  Attention att(parse_attention_spec("general").take(), {4, 6});
  auto q = torch::randn({2, 3, 4}), k = torch::randn({2, 5, 6});
  EXPECT_EQ(forward_error(att, torch::randn({2, 3, 5}), k, k),
            "attention 'general': query must be [B, T, 4], got [2, 3, 5]");
  EXPECT_EQ(forward_error(att, q, torch::randn({2, 5, 4}), k),
            "attention 'general': keys must be [B, N, 6], got [2, 5, 4]");
  EXPECT_NE(forward_error(att, q, torch::randn({3, 5, 6}), torch::randn({3, 5, 6}))
                .find("same batch size"),
            std::string::npos);
  EXPECT_NE(forward_error(att, q, k, torch::randn({2, 4, 6})).find("same N"), std::string::npos);
  EXPECT_NE(forward_error(att, torch::randn({3, 4}), k, k).find("query must be"),
            std::string::npos);
  AttentionContext bad_grid;
  bad_grid.grid_h = 2;
  bad_grid.grid_w = 2;
  EXPECT_EQ(forward_error(att, q, k, k, bad_grid),
            "attention 'general': the grid 2x2 does not match N = 5");
}

TEST(AttentionRefuses, AMaskThatAllowsNothingInsteadOfNaN) {
  Attention att(parse_attention_spec("additive").take(), {4, 4});
  auto q = torch::randn({2, 3, 4}), k = torch::randn({2, 5, 4});
  AttentionContext ctx;
  ctx.mask = torch::ones({2, 3, 5}, torch::kBool);
  ctx.mask[1][2].fill_(false);
  EXPECT_NE(forward_error(att, q, k, k, ctx).find("leaves a query with no cell to attend to"),
            std::string::npos);
  ctx.mask = torch::ones({2, 3, 4}, torch::kBool);
  EXPECT_NE(forward_error(att, q, k, k, ctx).find("mask must be bool [B or 1, 3, 5]"),
            std::string::npos);
  ctx.mask = torch::ones({2, 3, 5});
  EXPECT_NE(forward_error(att, q, k, k, ctx).find("mask must be bool"), std::string::npos);
}

TEST(AttentionRefuses, AMaskEmptyInsideTheLocalWindow) {
  Attention att(parse_attention_spec("dot+local-m:1").take(), {4, 4});
  auto q = torch::randn({1, 1, 4}), k = torch::randn({1, 6, 4});
  AttentionContext ctx;
  ctx.mask = torch::zeros({1, 1, 6}, torch::kBool);
  ctx.mask[0][0][5] = true;  // allowed, but far outside the window around position 0
  EXPECT_NE(forward_error(att, q, k, k, ctx).find("no cell to attend to"), std::string::npos);
}

TEST(AttentionRefuses, ImpossibleConfigurations) {
  auto msg = [](const std::string& spec, AttentionDims d) {
    try {
      Attention a(parse_attention_spec(spec).take(), d);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(msg("dot", {4, 6}),
            "attention 'dot': needs query dim == key dim, got 4 and 6; use general or additive");
  EXPECT_EQ(msg("multihead:3", {8, 8}),
            "attention 'multihead:3': the model dim 8 is not divisible by 3 heads");
  EXPECT_NE(msg("cross:2", {8, 6}).find("divisible by 4"), std::string::npos);
  Attention m(parse_attention_spec("dot+local-m").take(), {4, 4});
  AttentionContext grid;
  grid.grid_h = 2;
  grid.grid_w = 2;
  auto q = torch::randn({1, 1, 4}), k = torch::randn({1, 4, 4});
  EXPECT_NE(forward_error(m, q, k, k, grid).find("for an image grid use local"), std::string::npos);
  Attention c(parse_attention_spec("cross:2").take(), {8, 8});
  EXPECT_NE(
      forward_error(c, torch::randn({1, 1, 8}), torch::randn({1, 4, 8}), torch::randn({1, 4, 8}))
          .find("needs the grid size"),
      std::string::npos);
}

TEST(MakeAttention, BuildsFromAConfigStringOrSaysWhatIsWrong) {
  auto att = make_attention("general+local:2", {16, 32});
  ASSERT_TRUE(att.ok()) << att.error().message;
  EXPECT_EQ(att.value()->spec().to_string(), "general+local:2");
  AttentionContext grid;
  grid.grid_h = grid.grid_w = 3;
  auto out = att.value()->forward(torch::randn({2, 4, 16}), torch::randn({2, 9, 32}),
                                  torch::randn({2, 9, 32}), grid);
  EXPECT_EQ(out.weights.sizes(), (std::vector<int64_t>{2, 1, 4, 9}));
  EXPECT_EQ(out.centre.sizes(), (std::vector<int64_t>{2, 1, 4, 2}));
  auto unknown = make_attention("luong", {16, 32});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("valid: additive, dot"), std::string::npos);
  auto impossible = make_attention("dot", {16, 32});
  ASSERT_FALSE(impossible.ok());
  EXPECT_EQ(impossible.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(impossible.error().message.find("query dim == key dim"), std::string::npos);
}

// One head over 9 cells, every projection the identity: a cell's score is q·k/√4, the sink's
// log 9 (its key is 0). k cells matching the query at score 8, the rest at 0: the sink's share is
// 9 / (9 + k e^8 + (9 - k)), smaller for every cell more that matches, while the cells' weights
// stay a distribution over the cells.
TEST(AttentionSink, ItsShareSaysHowManyCellsMatched) {
  Attention att(parse_attention_spec("multihead:1+sink").take(), {4, 4, 4, 4, 4});
  {
    torch::NoGradGuard g;
    for (auto& kv : att.named_parameters()) {
      auto& p = kv.value();
      p.zero_();
      if (kv.key().find(".weight") != std::string::npos)
        p.copy_(torch::eye(4));
    }
    att.named_parameters()["sink_value"].copy_(torch::tensor({{1.0f, 1.0f, 1.0f, 1.0f}}));
  }
  auto q = torch::tensor({{{4.0f, 0.0f, 0.0f, 0.0f}}});  // [1, 1, 4]
  double before = 1.0;
  for (int k = 0; k <= 4; ++k) {
    auto keys = torch::zeros({1, 9, 4});
    keys.narrow(1, 0, k).select(2, 0).fill_(4.0f);
    auto out = att.forward(q, keys, torch::zeros({1, 9, 4}));
    const double want = 9.0 / (9.0 + k * std::exp(8.0) + (9 - k));
    ASSERT_TRUE(out.sink.defined());
    EXPECT_EQ(out.sink.sizes(), (std::vector<int64_t>{1, 1, 1}));
    EXPECT_NEAR(out.sink.item<double>(), want, 1e-6) << k << " cells matching";
    EXPECT_LT(out.sink.item<double>(), before);
    before = out.sink.item<double>();
    EXPECT_NEAR(out.weights.sum().item<double>(), 1.0, 1e-6);
    // values are 0, so the context is the sink's share of its value (1, 1, 1, 1)
    EXPECT_NEAR(out.context[0][0][2].item<double>(), want, 1e-6);
  }
  // With nothing learnt yet (every score 0), the sink takes half.
  auto start =
      att.forward(torch::zeros({1, 1, 4}), torch::zeros({1, 9, 4}), torch::zeros({1, 9, 4}));
  EXPECT_NEAR(start.sink.item<double>(), 0.5, 1e-6);
  EXPECT_FALSE(Attention(parse_attention_spec("multihead:1").take(), {4, 4, 4, 4, 4})
                   .forward(q, torch::zeros({1, 9, 4}), torch::zeros({1, 9, 4}))
                   .sink.defined());
}

// Values of 0 and a mask that leaves one cell: without pos-values every cell returns the same
// context; with it, each cell its own.
TEST(AttentionPosValues, WhatAHeadReturnsSaysWhereItLooked) {
  for (bool pos : {false, true}) {
    torch::manual_seed(5);
    Attention att(parse_attention_spec(pos ? "cross:2+pos-values" : "cross:2").take(), {8, 8});
    AttentionContext grid;
    grid.grid_h = 2;
    grid.grid_w = 3;
    std::vector<torch::Tensor> contexts;
    for (int64_t cell = 0; cell < 6; ++cell) {
      grid.mask = torch::zeros({1, 1, 6}, torch::kBool);
      grid.mask[0][0][cell] = true;
      contexts.push_back(att.forward(torch::randn({1, 1, 8}), torch::randn({1, 6, 8}),
                                     torch::zeros({1, 6, 8}), grid)
                             .context);
    }
    for (int64_t cell = 1; cell < 6; ++cell)
      EXPECT_EQ(torch::allclose(contexts[cell], contexts[0]), !pos) << "cell " << cell;
  }
}

// +xy-values: a head held on one cell returns that cell's centre through its value projection,
// so two cells' contexts differ by the projection of their coordinates' difference.
TEST(AttentionXyValues, CellCoordinatesAreTheCentresFromMinusOneToOne) {
  auto c = cell_coordinates(2, 3, 4);
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{6, 4}));
  const std::vector<std::vector<float>> want = {{0, 0, -2.0f / 3, -0.5f}, {0, 0, 0, -0.5f},
                                                {0, 0, 2.0f / 3, -0.5f},  {0, 0, -2.0f / 3, 0.5f},
                                                {0, 0, 0, 0.5f},          {0, 0, 2.0f / 3, 0.5f}};
  for (int64_t n = 0; n < 6; ++n)
    for (int64_t d = 0; d < 4; ++d)
      EXPECT_NEAR(c[n][d].item<float>(), want[n][d], 1e-6) << n << "," << d;
  EXPECT_THROW(cell_coordinates(2, 3, 1), Error);

  torch::manual_seed(5);
  Attention att(parse_attention_spec("cross:2+xy-values").take(), {8, 8});
  AttentionContext grid;
  grid.grid_h = 2;
  grid.grid_w = 3;
  auto look = [&](int64_t cell) {
    grid.mask = torch::zeros({1, 1, 6}, torch::kBool);
    grid.mask[0][0][cell] = true;
    return att
        .forward(torch::randn({1, 1, 8}), torch::randn({1, 6, 8}), torch::zeros({1, 6, 8}), grid)
        .context;
  };
  // Cells 0 and 2 lie in one row, 4/3 apart in x: the contexts differ by w_o · w_v · (.., 4/3, 0).
  auto diff = look(2) - look(0);
  auto dv = torch::zeros({8});
  dv[6] = 4.0 / 3.0;
  const auto& params = att.named_parameters();
  auto want_diff =
      torch::matmul(params["w_o.weight"], torch::matmul(params["w_v.weight"], dv)).detach();
  EXPECT_TRUE(torch::allclose(diff.reshape({8}), want_diff, 1e-5, 1e-5)) << diff << "\n"
                                                                         << want_diff;
}

// --- the spec language ---

TEST(AttentionSpec, ParsesAndPrintsEveryForm) {
  for (const std::string s : {"additive",
                              "additive+gate",
                              "dot",
                              "general",
                              "concat",
                              "scaled-dot",
                              "multihead:8",
                              "self:4",
                              "causal:2",
                              "cross:8",
                              "general+local:2",
                              "additive+local:1.5+gate",
                              "dot+local-m:3",
                              "causal:4+local-m:2",
                              "cross:4+pos-values",
                              "multihead:2+sink",
                              "cross:4+pos-values+sink",
                              "cross:2+local:1+sink",
                              "cross:4+xy-values",
                              "cross:4+pos-values+xy-values+sink"}) {
    auto spec = parse_attention_spec(s);
    ASSERT_TRUE(spec.ok()) << s << ": " << spec.error().message;
    EXPECT_EQ(spec.value().to_string(), s);
    EXPECT_EQ(parse_attention_spec(spec.value().to_string()).value(), spec.value());
  }
  auto g = parse_attention_spec("general+local").take();
  EXPECT_EQ(g.scope, Scope::kLocalP);
  EXPECT_EQ(g.window, 2.0);
  EXPECT_EQ(parse_attention_spec("multihead").take().heads, 8);
  EXPECT_EQ(parse_attention_spec("additive+global").take().to_string(), "additive");
  EXPECT_EQ(parse_attention_spec("causal:2").take().use, Use::kCausal);
}

TEST(AttentionSpec, UnknownNamesListTheValidOnes) {
  EXPECT_EQ(parse_attention_spec("bilinear").error().message,
            "attention 'bilinear': unknown score 'bilinear'; valid: additive, dot, general, "
            "concat, scaled-dot, "
            "multihead, self, causal, cross");
  EXPECT_EQ(
      parse_attention_spec("dot+nearby").error().message,
      "attention 'dot+nearby': unknown modifier 'nearby'; valid: global, local, local-m, gate, "
      "pos-values, xy-values, sink");
  EXPECT_EQ(parse_attention_spec("multihead:2+pos-values").error().message,
            "attention 'multihead:2+pos-values': 'pos-values' belongs to cross attention only (the "
            "grid's position encoding)");
  EXPECT_EQ(parse_attention_spec("self:2+xy-values").error().message,
            "attention 'self:2+xy-values': 'xy-values' belongs to cross attention only (the "
            "grid's cell coordinates)");
  EXPECT_EQ(parse_attention_spec("cross:2+xy-values").take().to_string(), "cross:2+xy-values");
  EXPECT_FALSE(parse_attention_spec("cross:2+xy-values").take() ==
               parse_attention_spec("cross:2+pos-values").take());
  EXPECT_EQ(parse_attention_spec("additive+sink").error().message,
            "attention 'additive+sink': the sink belongs to multi-head attention only (multihead, "
            "self, causal, cross)");
  EXPECT_NE(parse_attention_spec("cross:2+sink+sink").error().message.find("given twice"),
            std::string::npos);
  EXPECT_NE(parse_attention_spec("cross:2+pos-values:1").error().message.find("with an argument"),
            std::string::npos);
  EXPECT_NE(parse_attention_spec("").error().message.find("name a score"), std::string::npos);
  EXPECT_NE(parse_attention_spec("multihead:0").error().message.find("1 to 64"), std::string::npos);
  EXPECT_NE(parse_attention_spec("multihead:x").error().message.find("1 to 64"), std::string::npos);
  EXPECT_NE(parse_attention_spec("dot:2").error().message.find("takes no ':' argument"),
            std::string::npos);
  EXPECT_NE(parse_attention_spec("dot+gate").error().message.find("additive attention only"),
            std::string::npos);
  EXPECT_NE(parse_attention_spec("dot+local:0").error().message.find("0.5 to 1000"),
            std::string::npos);
  EXPECT_NE(parse_attention_spec("dot+local+local-m").error().message.find("more than one scope"),
            std::string::npos);
}

}  // namespace
}  // namespace glimpse::fusion

#include "glimpse/text/decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "glimpse/core/error.h"
#include "glimpse/fusion/attention.h"
#include "text/tiny_decoders.h"

namespace glimpse::text {
namespace {

constexpr int64_t kVocab = 20, kFeat = 16, kGrid = 3;

AttentionContext grid() {
  return glimpse::testing::square_grid(kGrid);
}

std::shared_ptr<Decoder> lstm(const std::string& attention) {
  return glimpse::testing::tiny_lstm(kVocab, kFeat, 12, attention);
}

std::shared_ptr<Decoder> transformer(const std::string& cross) {
  return glimpse::testing::tiny_transformer(kVocab, kFeat, 16, 12, cross);
}

struct DecoderCase {
  std::string kind, attention;
  int64_t heads, layers;
};

class EveryDecoder : public ::testing::TestWithParam<DecoderCase> {
 protected:
  std::shared_ptr<Decoder> make() const {
    const auto& c = GetParam();
    return c.kind == "lstm" ? lstm(c.attention) : transformer(c.attention);
  }
};

TEST_P(EveryDecoder, TeacherForcingShapes) {
  torch::manual_seed(1);
  auto dec = make();
  auto features = torch::randn({3, kGrid * kGrid, kFeat});
  auto tokens = torch::randint(0, kVocab, {3, 5}, torch::kLong);
  auto out = dec->forward(features, grid(), tokens);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, 5, kVocab}));
  ASSERT_EQ(static_cast<int64_t>(out.attention.size()), GetParam().layers);
  EXPECT_EQ(out.attention[0].sizes(),
            (std::vector<int64_t>{3, GetParam().heads, 5, kGrid * kGrid}));
  EXPECT_TRUE(
      torch::allclose(out.attention[0].sum(-1), torch::ones({3, GetParam().heads, 5}), 1e-5, 1e-5));
}

TEST_P(EveryDecoder, StepByStepEqualsTeacherForcing) {
  torch::manual_seed(2);
  auto dec = make();
  dec->eval();
  torch::NoGradGuard g;
  auto features = torch::randn({2, kGrid * kGrid, kFeat});
  auto tokens = torch::randint(0, kVocab, {2, 6}, torch::kLong);
  auto full = dec->forward(features, grid(), tokens);
  DecoderState state = dec->start(features, grid());
  for (int64_t l = 0; l < 6; ++l) {
    StepOutput s = dec->step(state, tokens.select(1, l), grid());
    EXPECT_TRUE(torch::allclose(s.logits, full.logits.select(1, l), 1e-5, 1e-5)) << "step " << l;
    for (size_t k = 0; k < s.attention.size(); ++k)
      EXPECT_TRUE(torch::allclose(s.attention[k], full.attention[k].select(2, l), 1e-5, 1e-5))
          << "step " << l;
  }
}

TEST_P(EveryDecoder, ImagesSharedBetweenSequencesGiveTheSameOutputs) {
  torch::manual_seed(4);
  auto dec = make();
  dec->eval();
  torch::NoGradGuard g;
  auto images = torch::randn({2, kGrid * kGrid, kFeat});                       // [I, N, C]
  auto index = torch::tensor(std::vector<int64_t>{1, 0, 1, 1}, torch::kLong);  // [B]
  auto tokens = torch::randint(0, kVocab, {4, 5}, torch::kLong);
  auto shared = dec->forward(images, index, grid(), tokens);
  auto copied = dec->forward(images.index_select(0, index), grid(), tokens);
  EXPECT_EQ(shared.logits.sizes(), (std::vector<int64_t>{4, 5, kVocab}));
  EXPECT_TRUE(torch::allclose(shared.logits, copied.logits, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(shared.attention.back(), copied.attention.back(), 1e-5, 1e-5));
  try {
    dec->forward(images, torch::tensor(std::vector<int64_t>{0, 2, 1, 1}, torch::kLong), grid(),
                 tokens);
    FAIL() << "an index past the images was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "an image index is outside the 2 images given");
  }
  EXPECT_THROW(dec->forward(images, torch::zeros({3}, torch::kLong), grid(), tokens), Error);
}

TEST_P(EveryDecoder, EarlierPositionsDoNotSeeLaterTokens) {
  torch::manual_seed(3);
  auto dec = make();
  dec->eval();
  torch::NoGradGuard g;
  auto features = torch::randn({1, kGrid * kGrid, kFeat});
  auto a = torch::randint(0, kVocab, {1, 6}, torch::kLong);
  auto b = a.clone();
  b[0][4] = (a[0][4].item<int64_t>() + 1) % kVocab;
  auto la = dec->forward(features, grid(), a).logits, lb = dec->forward(features, grid(), b).logits;
  EXPECT_TRUE(torch::allclose(la.narrow(1, 0, 4), lb.narrow(1, 0, 4), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(la.select(1, 4), lb.select(1, 4)));
}

TEST_P(EveryDecoder, EveryParameterLearns) {
  torch::manual_seed(4);
  auto dec = make();
  auto features = torch::randn({2, kGrid * kGrid, kFeat});
  auto tokens = torch::randint(0, kVocab, {2, 4}, torch::kLong);
  auto out = dec->forward(features, grid(), tokens);
  torch::nn::functional::cross_entropy(out.logits.reshape({-1, kVocab}), tokens.reshape({-1}))
      .backward();
  for (const auto& p : dec->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<float>(), 0.0f) << p.key();
  }
}

// Training runs every sequence of an image against the image's keys once (a transformer runs an
// image's sequences as one long query): the outputs, every layer's maps and the gradients must
// be those of each sequence run against its own copy of the image, whatever the order of the
// sequences and however many each image has.
TEST_P(EveryDecoder, SharedImagesTrainAsCopiedImages) {
  torch::manual_seed(5);
  auto dec = make();
  dec->eval();  // no dropout; gradients still flow
  auto images = torch::randn({3, kGrid * kGrid, kFeat});
  auto index = torch::tensor(std::vector<int64_t>{2, 0, 2, 2, 0, 1, 2}, torch::kLong);
  auto tokens = torch::randint(0, kVocab, {7, 4}, torch::kLong);
  auto run = [&](bool shared) {
    auto features = images.clone().requires_grad_(true);
    auto out = shared ? dec->forward(features, index, grid(), tokens)
                      : dec->forward(features.index_select(0, index), grid(), tokens);
    torch::Tensor loss = (out.logits * torch::arange(kVocab).to(torch::kFloat32)).sum();
    for (const auto& a : out.attention)
      loss = loss + (a * torch::arange(a.size(-1)).to(torch::kFloat32)).sum();
    dec->zero_grad();
    loss.backward();
    std::vector<torch::Tensor> grads = {features.grad().clone()};
    for (const auto& p : dec->parameters())
      grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    return std::make_pair(out, grads);
  };
  const auto [shared, shared_grads] = run(true);
  const auto [copied, copied_grads] = run(false);
  EXPECT_TRUE(torch::allclose(shared.logits, copied.logits, 1e-5, 1e-5));
  ASSERT_EQ(shared.attention.size(), copied.attention.size());
  for (size_t l = 0; l < shared.attention.size(); ++l) {
    EXPECT_EQ(shared.attention[l].sizes(), copied.attention[l].sizes()) << "layer " << l;
    EXPECT_TRUE(torch::allclose(shared.attention[l], copied.attention[l], 1e-5, 1e-6))
        << "layer " << l;
  }
  ASSERT_EQ(shared_grads.size(), copied_grads.size());
  EXPECT_GT(shared_grads[0].abs().sum().item<double>(), 0.0);
  for (size_t k = 0; k < shared_grads.size(); ++k)
    EXPECT_TRUE(torch::allclose(shared_grads[k], copied_grads[k], 1e-4, 1e-4))
        << (k == 0 ? "the images' gradient" : "parameter " + std::to_string(k - 1));
}

INSTANTIATE_TEST_SUITE_P(Decoders, EveryDecoder,
                         ::testing::Values(DecoderCase{"lstm", "additive+gate", 1, 1},
                                           DecoderCase{"lstm", "general+local:1", 1, 1},
                                           DecoderCase{"lstm", "multihead:2", 2, 1},
                                           DecoderCase{"transformer", "cross:2", 2, 2},
                                           DecoderCase{"transformer", "cross:2+pos-values+sink", 2,
                                                       2},
                                           DecoderCase{"transformer", "additive", 1, 2},
                                           DecoderCase{"transformer", "scaled-dot+local:1", 1, 2}),
                         [](const auto& p) {
                           std::string n = p.param.kind + "_" + p.param.attention;
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch)))
                               ch = '_';
                           return n;
                         });

TEST(Decoder, RefusesTokensOutsideTheVocabularyAndWrongFeatures) {
  auto dec = lstm("additive");
  auto features = torch::randn({1, 9, kFeat});
  EXPECT_THROW(dec->forward(features, grid(), torch::full({1, 2}, kVocab, torch::kLong)), Error);
  EXPECT_THROW(
      dec->forward(torch::randn({1, 9, kFeat + 1}), grid(), torch::zeros({1, 2}, torch::kLong)),
      Error);
  auto t = transformer("cross:2");
  try {
    t->forward(features, grid(), torch::zeros({1, 13}, torch::kLong));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "sequence of 13 tokens is over the decoder's 12");
  }
}

TEST(Decoder, RefusesADropoutOutsideZeroToOne) {
  LstmDecoderOptions l;
  l.vocab_size = kVocab;
  l.feature_dim = kFeat;
  l.dropout = 1.5;
  TransformerDecoderOptions t;
  t.vocab_size = kVocab;
  t.feature_dim = kFeat;
  t.dropout = -0.1;
  for (const auto& make : std::vector<std::function<void()>>{
           [&] { LstmDecoder(l, fusion::attention_factory()); },
           [&] { TransformerDecoder(t, fusion::attention_factory()); }}) {
    try {
      make();
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("decoder dropout must be between 0 and 1"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(Decoder, AnImpossibleAttentionIsAClearError) {
  try {
    lstm("dot");  // hidden 12 vs features 16
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs query dim == key dim"), std::string::npos)
        << e.what();
  }
}

// With the memory normalised, a cell's key and value do not grow with its activations: features
// scaled by 5 (through a feature projection without bias) give the same outputs. Without it
// they do not.
TEST(TransformerDecoder, MemoryNormMakesCellsScaleInvariant) {
  for (const bool norm : {false, true}) {
    TransformerDecoderOptions o;
    o.vocab_size = kVocab;
    o.feature_dim = kFeat;
    o.d_model = 16;
    o.layers = 2;
    o.heads = 2;
    o.ffn_dim = 32;
    o.max_len = 12;
    o.cross_attention = "cross:2";
    o.memory_norm = norm;
    torch::manual_seed(4);
    TransformerDecoder dec(o, fusion::attention_factory());
    dec.eval();
    const auto params = dec.named_parameters();
    EXPECT_EQ(params.contains("memory_ln.weight"), norm);  // older models have no such tensor
    torch::NoGradGuard no_grad;
    params["feature_proj.bias"].zero_();
    const auto features = torch::rand({1, 9, kFeat}), tokens = torch::tensor({{1, 5, 7}});
    const auto a = dec.forward(features, grid(), tokens),
               b = dec.forward(features * 5, grid(), tokens);
    const double change = (a.logits - b.logits).abs().max().item<double>();
    if (norm)
      EXPECT_LT(change, 1e-4);
    else
      EXPECT_GT(change, 1e-2);
  }
}

// A token enters the Transformer at the scale of its position: the embeddings start N(0, 1/d)
// and are multiplied by √d, so each channel has unit variance, as the sine positions (in
// [-1, 1], mean square 1/2) do. With LibTorch's default N(0, 1) a token was √d = 11 times louder
// per channel and word order all but lost.
TEST(TransformerDecoder, TokensStartAtTheScaleOfTheirPositions) {
  TransformerDecoderOptions o;
  o.vocab_size = 2000;
  o.feature_dim = kFeat;
  o.d_model = 128;
  o.cross_attention = "cross:4";
  torch::manual_seed(9);
  TransformerDecoder dec(o, fusion::attention_factory());
  const auto scaled = dec.named_parameters()["embedding.weight"].detach() * std::sqrt(128.0);
  EXPECT_NEAR(scaled.std().item<double>(), 1.0, 0.02);
  EXPECT_NEAR(scaled.mean().item<double>(), 0.0, 0.01);
}

TEST(DoublyStochasticPenalty, ByHand) {
  // uniform attention over 4 cells for 2 counted steps: each cell gets 0.5, (1 - 0.5)^2 x 4 = 1
  auto alphas = torch::full({1, 1, 3, 4}, 0.25);
  auto steps = torch::tensor({true, true, false}).view({1, 3});
  EXPECT_NEAR(doubly_stochastic_penalty(alphas, steps).item<double>(), 1.0, 1e-12);
  // four steps on one cell each: coverage exactly 1 everywhere, no penalty
  auto diag = torch::eye(4).view({1, 1, 4, 4});
  EXPECT_NEAR(doubly_stochastic_penalty(diag, torch::ones({1, 4}, torch::kBool)).item<double>(),
              0.0, 1e-12);
}

}  // namespace
}  // namespace glimpse::text

#include <gtest/gtest.h>

#include "glimpse/core/safetensors.h"
#include "glimpse/core/state_dict.h"
#include "glimpse/vision/encoder.h"
#include "glimpse/vision/mobilenet_v2.h"
#include "glimpse/vision/small_cnn.h"

namespace glimpse::vision {
namespace {

TEST(GridFromMap, FlattensCellsRowMajor) {
  auto map = torch::arange(2 * 3 * 2 * 4, torch::kFloat32).view({2, 3, 2, 4});  // [B, C, H, W]
  FeatureGrid g = grid_from_map(map);
  EXPECT_EQ(g.grid_h, 2);
  EXPECT_EQ(g.grid_w, 4);
  EXPECT_EQ(g.features.sizes(), (std::vector<int64_t>{2, 8, 3}));
  // cell n = y * W + x holds channel c of map[b, c, y, x]
  EXPECT_EQ(g.features[1][6][2].item<float>(), map[1][2][1][2].item<float>());
}

TEST(SmallCnn, ProducesTheConfiguredGrid) {
  SmallCnnOptions o;
  o.width = 8;
  o.depth = 3;
  o.grid_h = 4;
  o.grid_w = 5;
  SmallCnn cnn(o);
  EXPECT_EQ(cnn.channels(), 32);
  auto g = cnn.encode(torch::randn({2, 3, 64, 64}));
  EXPECT_EQ(g.features.sizes(), (std::vector<int64_t>{2, 20, 32}));
  EXPECT_EQ(g.grid_h, 4);
  EXPECT_EQ(g.grid_w, 5);
}

TEST(SmallCnn, WithoutPoolingTheGridFollowsTheInput) {
  SmallCnnOptions o;
  o.width = 4;
  o.depth = 2;
  o.grid_h = o.grid_w = 0;
  SmallCnn cnn(o);
  auto g = cnn.encode(torch::randn({1, 3, 32, 48}));
  EXPECT_EQ(g.grid_h, 8);
  EXPECT_EQ(g.grid_w, 12);
  // stage 1: 16x24 out, 3*4*9 + 4*4*9 MACs per cell; stage 2: 8x12, 4*8*9 + 8*8*9
  EXPECT_EQ(cnn.macs(32, 48), 16 * 24 * (3 * 4 * 9 + 4 * 4 * 9) + 8 * 12 * (4 * 8 * 9 + 8 * 8 * 9));
}

TEST(SmallCnn, CoordsAppendEachCellsPosition) {
  SmallCnnOptions o;
  o.width = 4;
  o.depth = 2;
  o.grid_h = 2;
  o.grid_w = 4;
  o.coords = true;
  SmallCnn net(o);
  EXPECT_EQ(net.channels(), 8 + 2);
  const auto g = net.encode(torch::rand({3, 3, 32, 32}));
  ASSERT_EQ(g.features.sizes(), (std::vector<int64_t>{3, 8, 10}));
  // Cell (row 1, column 2): x = (2.5 * 2 / 4) - 1 = 0.25, y = (1.5 * 2 / 2) - 1 = 0.5.
  EXPECT_FLOAT_EQ(g.features[2][1 * 4 + 2][8].item<float>(), 0.25f);
  EXPECT_FLOAT_EQ(g.features[2][1 * 4 + 2][9].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(g.features[0][0][8].item<float>(), -0.75f);
}

// Without context blocks a cell of the 8x8 grid sees 43 pixels (3 stages of two 3x3 convs);
// two blocks (dilations 1 and 2) widen that past the whole 64-pixel image.
TEST(SmallCnn, ContextBlocksLetACellSeeTheFarCorner) {
  torch::manual_seed(3);
  auto far_cell_change = [](int context) {
    SmallCnnOptions o;
    o.width = 4;
    o.depth = 3;
    o.grid_h = o.grid_w = 0;
    o.context = context;
    SmallCnn net(o);
    net.eval();  // BatchNorm from running statistics: images do not mix
    torch::NoGradGuard no_grad;
    auto image = torch::rand({1, 3, 64, 64});
    const auto before = net.encode(image).features[0][8 * 8 - 1].clone();  // bottom-right cell
    image.index_put_(
        {0, torch::indexing::Slice(), torch::indexing::Slice(0, 4), torch::indexing::Slice(0, 4)},
        5.0);  // the top-left corner
    return (net.encode(image).features[0][8 * 8 - 1] - before).abs().max().item<float>();
  };
  EXPECT_EQ(far_cell_change(0), 0.0f);
  EXPECT_GT(far_cell_change(2), 0.0f);  // any change at all comes through the wider field

  SmallCnnOptions o;
  o.width = 4;
  o.depth = 2;
  o.grid_h = o.grid_w = 0;
  o.context = 1;
  SmallCnn net(o);
  EXPECT_EQ(net.channels(), 8);
  EXPECT_EQ(net.encode(torch::rand({2, 3, 32, 48})).features.sizes(),
            (std::vector<int64_t>{2, 8 * 12, 8}));
  // the block's two 3x3 convs at the last stage's 8x12 cells, 8 channels in and out
  EXPECT_EQ(net.macs(32, 48), 16 * 24 * (3 * 4 * 9 + 4 * 4 * 9) + 8 * 12 * (4 * 8 * 9 + 8 * 8 * 9) +
                                  2 * 8 * 12 * (8 * 8 * 9));
}

TEST(SmallCnn, RefusesBadOptions) {
  SmallCnnOptions o;
  o.depth = 0;
  EXPECT_THROW(SmallCnn{o}, Error);
  o = {};
  o.grid_h = 3;
  o.grid_w = 0;
  EXPECT_THROW(SmallCnn{o}, Error);
  o = {};
  o.context = 5;
  EXPECT_THROW(SmallCnn{o}, Error);
}

TEST(MobileNetV2, HasTorchvisionNamesAndShapes) {
  MobileNetV2 net;
  auto sd = core::state_dict(net);
  EXPECT_EQ(sd.size(), 314u);  // as torchvision's state dict
  std::map<std::string, torch::Tensor> m(sd.begin(), sd.end());
  EXPECT_EQ(m.at("features.0.0.weight").sizes(), (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(m.at("features.1.conv.0.0.weight").sizes(), (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(m.at("features.1.conv.1.weight").sizes(), (std::vector<int64_t>{16, 32, 1, 1}));
  EXPECT_EQ(m.at("features.2.conv.3.running_var").sizes(), (std::vector<int64_t>{24}));
  EXPECT_EQ(m.at("features.18.0.weight").sizes(), (std::vector<int64_t>{1280, 320, 1, 1}));
  EXPECT_EQ(m.at("classifier.1.weight").sizes(), (std::vector<int64_t>{1000, 1280}));
}

TEST(MobileNetV2, EncodesASevenBySevenGridAt224) {
  MobileNetV2Options o;
  o.with_classifier = false;
  MobileNetV2 net(o);
  net.eval();
  torch::InferenceMode guard;
  auto g = net.encode(torch::randn({2, 3, 224, 224}));
  EXPECT_EQ(g.features.sizes(), (std::vector<int64_t>{2, 49, 1280}));
  EXPECT_EQ(g.grid_h, 7);
  EXPECT_EQ(g.grid_w, 7);
  EXPECT_EQ(net.encode(torch::randn({1, 3, 96, 128})).features.size(1), 3 * 4);
  EXPECT_THROW(net.logits(torch::randn({1, 3, 64, 64})), Error);
}

TEST(MobileNetV2, AtOutputStride16TheEvenCellsAreTheStride32Grid) {
  MobileNetV2Options o;
  o.with_classifier = false;
  MobileNetV2 coarse(o);
  {
    // Weights that keep the activations alive through 52 layers (the default init fades them
    // to a constant map, where any two grids agree).
    torch::NoGradGuard no_grad;
    for (auto& p : coarse.named_parameters())
      if (p.value().dim() == 4)
        torch::nn::init::kaiming_normal_(p.value(), 0.0, torch::kFanIn);
  }
  o.output_stride = 16;
  MobileNetV2 fine(o);
  coarse.eval();
  fine.eval();
  auto f =
      core::SafetensorsFile::parse(core::serialize_safetensors(core::state_dict(coarse))).take();
  ASSERT_TRUE(fine.load(f).ok());  // the same tensors, names and shapes
  torch::InferenceMode guard;
  const auto x = torch::randn({2, 3, 224, 224});
  const auto a = coarse.feature_map(x);  // [2, 1280, 7, 7]
  const auto b = fine.feature_map(x);    // [2, 1280, 14, 14]
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{2, 1280, 14, 14}));
  ASSERT_GT(a.std().item<double>(), 0.1);
  const auto even = b.slice(2, 0, 14, 2).slice(3, 0, 14, 2);  // [2, 1280, 7, 7]
  EXPECT_LT((even - a).abs().max().item<double>(), 1e-4 * (1 + a.abs().max().item<double>()));
  // The odd cells are new samples in between, not copies.
  EXPECT_GT((b.slice(2, 1, 14, 2).slice(3, 1, 14, 2) - a).abs().max().item<double>(), 1e-2);
  EXPECT_EQ(fine.encode(x).grid_h, 14);
  EXPECT_EQ(MobileNetV2::features_name(16, 224, 224), "mobilenet_v2/16@224x224");
  EXPECT_EQ(MobileNetV2::features_name(32, 224, 224), "mobilenet_v2@224x224");
  o.output_stride = 8;
  EXPECT_THROW(MobileNetV2{o}, Error);
}

TEST(MobileNetV2, CountsTheMultiplyAccumulatesOfThePaper) {
  MobileNetV2 net;
  // The paper's 300M MACs at 224x224: 299.49M in the features plus 1.28M in the classifier
  // (the features' figure recomputed independently from the layer table).
  EXPECT_EQ(net.feature_macs(224, 224), 299'494'272);
}

TEST(MobileNetV2, FreezesBlocksBelowTrainableFrom) {
  MobileNetV2Options o;
  o.trainable_from = 17;
  MobileNetV2 net(o);
  for (const auto& p : net.named_parameters()) {
    const auto& name = p.key();
    const bool trainable = name.rfind("features.17.", 0) == 0 ||
                           name.rfind("features.18.", 0) == 0 || name.rfind("classifier.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), trainable) << name;
  }
  net.train();
  EXPECT_FALSE(net.named_children()["features"]->children()[16]->is_training());
  EXPECT_TRUE(net.named_children()["features"]->children()[17]->is_training());
  EXPECT_THROW(net.set_trainable_from(20), Error);
}

TEST(MobileNetV2, LoadsWhatItSavedWithIdenticalOutputs) {
  MobileNetV2 a, b;
  a.eval();
  b.eval();
  auto f = core::SafetensorsFile::parse(core::serialize_safetensors(core::state_dict(a))).take();
  ASSERT_TRUE(b.load(f).ok());
  torch::InferenceMode guard;
  auto x = torch::randn({1, 3, 64, 64});
  EXPECT_TRUE(torch::equal(a.logits(x), b.logits(x)));
}

TEST(MobileNetV2, AnEncoderWithoutClassifierLoadsAFullFile) {
  MobileNetV2 full;
  MobileNetV2Options o;
  o.with_classifier = false;
  MobileNetV2 enc(o);
  auto f = core::SafetensorsFile::parse(core::serialize_safetensors(core::state_dict(full))).take();
  EXPECT_TRUE(enc.load(f).ok());
}

}  // namespace
}  // namespace glimpse::vision

// Decoder training on feature caches, with the real MobileNetV2 weights as the encoder the model
// ships with (label model: needs ../shared).
#include <gtest/gtest.h>

#include <filesystem>

#include "glimpse/core/safetensors.h"
#include "glimpse/data/feature_cache.h"
#include "glimpse/train/trainer.h"
#include "glimpse/train/training_set.h"
#include "test_util.h"

namespace glimpse::train {
namespace {

using glimpse::testing::shared_data;
using glimpse::testing::TempDir;
using glimpse::testing::write_bytes;

const std::vector<std::string> kTrain = {"a.jpg", "b.jpg", "c.jpg", "d.jpg"};
const std::vector<std::string> kDev = {"e.jpg", "f.jpg"};

// A Flickr8k folder whose "images" are not images: training from caches must never read them.
void write_folder(const std::string& dir) {
  std::filesystem::create_directories(dir + "/images");
  std::string captions, train, dev;
  const std::vector<std::string> texts = {"a dog runs on the grass .", "a man left of a red ball .",
                                          "two dogs play in the water .", "a girl to the right"};
  for (size_t i = 0; i < kTrain.size(); ++i) {
    for (int n = 0; n < 2; ++n)
      captions += kTrain[i] + "#" + std::to_string(n) + "\t" + texts[(i + n) % texts.size()] + "\n";
    train += kTrain[i] + "\n";
  }
  for (const auto& name : kDev) {
    captions += name + "#0\ta dog runs on the grass .\n";
    dev += name + "\n";
  }
  for (const auto& name : kTrain)
    write_bytes(dir + "/images/" + name, "not an image");
  for (const auto& name : kDev)
    write_bytes(dir + "/images/" + name, "not an image");
  write_bytes(dir + "/captions.txt", captions);
  write_bytes(dir + "/train_images.txt", train);
  write_bytes(dir + "/dev_images.txt", dev);
}

void write_cache(const std::string& path, const std::vector<std::string>& keys, uint64_t seed,
                 bool mirrored = false, const std::string& backbone = "mobilenet_v2@224x224") {
  torch::manual_seed(seed);
  data::FeatureCacheWriter w(path, {backbone, 7, 7, 1280, mirrored});
  for (const auto& k : keys)
    w.add(k, torch::rand({49, 1280}) * 6).throw_if_error();
  w.finish().throw_if_error();
}

fusion::ModelConfig tiny_photo_model() {
  fusion::ModelConfig c;
  c.encoder = fusion::EncoderKind::kMobileNetV2;
  c.lstm.embed_dim = 8;
  c.lstm.hidden_dim = 16;
  c.lstm.attention_dim = 8;
  c.lstm.dropout = 0.5;
  c.tasks = {"caption"};
  return c;
}

class TrainFromFeatures : public ::testing::Test {
 protected:
  void SetUp() override {
    weights_ = shared_data("models/mobilenet_v2_imagenet.safetensors");
    if (!std::filesystem::exists(weights_))
      GTEST_SKIP() << "no ../shared models here";
    write_folder(d_.file("f"));
    write_cache(d_.file("train.cache"), kTrain, 1);
    write_cache(d_.file("mirror.cache"), kTrain, 2, /*mirrored=*/true);
    write_cache(d_.file("dev.cache"), kDev, 3);
  }
  TrainOptions options(const std::string& out) const {
    TrainOptions o;
    o.flickr8k_dir = d_.file("f");
    o.features = {d_.file("train.cache"), d_.file("mirror.cache")};
    o.dev_features = d_.file("dev.cache");
    o.backbone_weights = weights_;
    o.captions = true;
    o.questions = false;
    o.out = out;
    o.epochs = 2;
    o.batch_size = 2;  // one image (two captions) a step: 4 steps an epoch
    o.warmup_steps = 2;
    o.checkpoint_every = 3;
    return o;
  }
  TempDir d_;
  std::string weights_;
};

TEST_F(TrainFromFeatures, TrainsTheDecoderAloneAndShipsTheBackboneWithItsNotice) {
  const std::string out = d_.file("photo.safetensors");
  auto r = train(options(out), tiny_photo_model());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().steps, 8);
  EXPECT_EQ(r.value().best.images, 2);  // the dev split, read from its cache
  EXPECT_EQ(r.value().best.questions, 0);

  auto model = fusion::CaptionModel::load(out);
  ASSERT_TRUE(model) << model.error().message;
  const auto& c = model.value()->config();
  EXPECT_EQ(c.encoder, fusion::EncoderKind::kMobileNetV2);
  EXPECT_EQ(c.image.width, 224);
  EXPECT_FLOAT_EQ(c.image.mean[0], 0.5f);  // from the weights' metadata
  EXPECT_NE(c.notice.find("Apache License"), std::string::npos) << c.notice;
  EXPECT_NE(c.notice.find("MobileNetV2"), std::string::npos);
  // The backbone is the ImageNet one, untouched by training (stored as fp16).
  auto backbone = core::SafetensorsFile::open(weights_).take();
  auto file = core::SafetensorsFile::open(out).take();
  const auto before = backbone.tensor("features.18.0.weight");
  const auto after = file.tensor("encoder.features.18.0.weight").to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(before, after, 1e-3, 1e-3));
  // The vocabulary holds the training captions' words, the mirrored "right" and "left" too.
  const auto& vocab = model.value()->vocabulary();
  EXPECT_NE(vocab.id("dog"), vocab.id("zebra"));
  EXPECT_NE(vocab.id("left"), vocab.id("<unk>"));
}

TEST_F(TrainFromFeatures, AResumedRunEndsWithTheSameWeights) {
  const std::string whole = d_.file("whole.safetensors"), parts = d_.file("parts.safetensors");
  ASSERT_TRUE(train(options(whole), tiny_photo_model()));
  auto o = options(parts);
  o.stop_after_steps = 5;
  auto first = train(o, tiny_photo_model());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first.value().stopped_early);
  o.resume = true;
  o.stop_after_steps = 0;
  auto rest = train(o, tiny_photo_model());
  ASSERT_TRUE(rest) << rest.error().message;
  EXPECT_EQ(rest.value().steps, 8);
  auto a = core::SafetensorsFile::open(whole + ".ckpt/step-8/model.safetensors").take();
  auto b = core::SafetensorsFile::open(parts + ".ckpt/step-8/model.safetensors").take();
  ASSERT_EQ(a.entries().size(), b.entries().size());
  for (const auto& [name, entry] : a.entries())
    EXPECT_TRUE(torch::equal(a.tensor(name), b.tensor(name))) << name;
}

TEST_F(TrainFromFeatures, RefusesCachesThatDoNotFitWithMessagesSayingWhy) {
  auto expect_error = [&](TrainOptions o, fusion::ModelConfig c, const std::string& part) {
    auto r = train(o, c);
    ASSERT_FALSE(r) << part;
    EXPECT_NE(r.error().message.find(part), std::string::npos) << r.error().message;
  };
  const std::string out = d_.file("x.safetensors");
  write_cache(d_.file("short.cache"), {"a.jpg", "b.jpg"}, 4);
  auto o = options(out);
  o.features = {d_.file("short.cache")};
  expect_error(o, tiny_photo_model(),
               "the feature cache '" + d_.file("short.cache") +
                   "' has no features of 'c.jpg': make it from the same split with glimpse "
                   "features");
  write_cache(d_.file("other.cache"), kTrain, 5, false, "mobilenet_v2@320x320");
  o.features = {d_.file("other.cache")};
  expect_error(o, tiny_photo_model(), "holds mobilenet_v2@320x320 features");
  o = options(out);
  o.dev_features = d_.file("mirror.cache");
  expect_error(o, tiny_photo_model(), "holds mirrored mobilenet_v2@224x224 features");
  o = options(out);
  auto small = tiny_photo_model();
  small.encoder = fusion::EncoderKind::kSmallCnn;
  expect_error(o, small, "train them with --encoder mobilenet_v2");
  auto tuned = tiny_photo_model();
  tuned.mobilenet_trainable_from = 17;
  expect_error(o, tuned, "cannot train its blocks");
  o.features.clear();
  expect_error(o, tiny_photo_model(), "--dev-features goes with --features");
  o = options(out);
  o.flickr8k_dir = d_.file("nowhere");
  expect_error(o, tiny_photo_model(), "nowhere");
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(MirroredWords, LeftAndRightTradePlaces) {
  EXPECT_EQ(mirrored_words({"a", "dog", "left", "of", "the", "right", "man"}),
            (std::vector<std::string>{"a", "dog", "right", "of", "the", "left", "man"}));
  EXPECT_EQ(mirrored_words({"leftover", "rights"}),
            (std::vector<std::string>{"leftover", "rights"}));
}

}  // namespace
}  // namespace glimpse::train

// glimpse features on a three-photo Flickr8k folder with the real MobileNetV2 (label model).
#include <gtest/gtest.h>

#include <filesystem>

#include "glimpse/data/feature_cache.h"
#include "test_util.h"

namespace {

using glimpse::testing::lines;
using glimpse::testing::run_glimpse;
using glimpse::testing::shared_data;
using glimpse::testing::TempDir;
using glimpse::testing::write_bytes;

TEST(CliFeatures, EncodesASplitIntoAFeatureCacheAndRefusesABadFolder) {
  const std::string photos = shared_data("data/flickr8k/images");
  if (!std::filesystem::exists(shared_data("models/mobilenet_v2_imagenet.safetensors")))
    GTEST_SKIP() << "no ../shared models here";
  TempDir d;
  std::filesystem::create_directories(d.file("f/images"));
  const std::vector<std::string> names = {"1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg",
                                          "1002674143_1b742ab4b8.jpg"};
  std::string captions, split;
  for (const auto& n : names) {
    std::filesystem::copy_file(photos + "/" + n, d.file("f/images/" + n));
    captions += n + "#0\tA photograph .\n";
    split += n + "\n";
  }
  write_bytes(d.file("f/captions.txt"), captions);
  write_bytes(d.file("f/dev_images.txt"), split);
  auto r = run_glimpse({"--threads", "2", "features", "--flickr8k", d.file("f"), "--split", "dev",
                        "--out", d.file("dev.cache"), "--batch-size", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3/3 images"), std::string::npos) << r.out;
  auto cache = glimpse::data::FeatureCache::open(d.file("dev.cache")).take();
  EXPECT_EQ(cache->keys(), names);
  EXPECT_EQ(cache->info().backbone, "mobilenet_v2@224x224");
  EXPECT_EQ(cache->info().grid_h, 7);
  EXPECT_EQ(cache->info().channels, 1280);
  // ReLU6 features: in [0, 6], and not all zero.
  const auto f = cache->gather({0, 1, 2});
  EXPECT_GE(f.min().item<float>(), 0.0f);
  EXPECT_LE(f.max().item<float>(), 6.0f);
  EXPECT_GT(f.mean().item<float>(), 0.05f);
  EXPECT_FALSE(torch::equal(f[0], f[1]));

  // At output stride 16: a 14x14 grid whose even cells are the 7x7 grid's (fp16 in both).
  r = run_glimpse({"--threads", "2", "features", "--flickr8k", d.file("f"), "--split", "dev",
                   "--out", d.file("dev16.cache"), "--output-stride", "16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto fine = glimpse::data::FeatureCache::open(d.file("dev16.cache")).take();
  EXPECT_EQ(fine->info().backbone, "mobilenet_v2/16@224x224");
  ASSERT_EQ(fine->info().grid_h, 14);
  const auto g = fine->gather({0, 1, 2}).view({3, 14, 14, 1280});
  const auto even = g.slice(1, 0, 14, 2).slice(2, 0, 14, 2).reshape({3, 49, 1280});
  EXPECT_LT((even - f).abs().max().item<float>(), 0.05f);
  r = run_glimpse({"features", "--flickr8k", d.file("f"), "--split", "dev", "--out",
                   d.file("dev8.cache"), "--output-stride", "8"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--output-stride: 8 not in {32,16}"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(d.file("dev8.cache")));

  r = run_glimpse({"features", "--flickr8k", d.file("none"), "--out", d.file("x.cache")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("train_images.txt"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(d.file("x.cache")));
}

// Any data source: the same photos named by a COCO captions file give the same features; a file
// with no images is refused before a cache is begun.
TEST(CliFeatures, EncodesTheImagesOfACocoCaptionsFile) {
  const std::string photos = shared_data("data/flickr8k/images");
  if (!std::filesystem::exists(shared_data("models/mobilenet_v2_imagenet.safetensors")))
    GTEST_SKIP() << "no ../shared models here";
  TempDir d;
  write_bytes(d.file("c.json"), R"({"images": [{"id": 7, "file_name": "1000268201_693b08cb0e.jpg"},
    {"id": 9, "file_name": "1001773457_577c3a7d70.jpg"}],
    "annotations": [{"image_id": 7, "caption": "a child"}, {"image_id": 9, "caption": "dogs"}]})");
  auto r = run_glimpse({"--threads", "2", "features", "--coco-captions", d.file("c.json"),
                        "--images", photos, "--out", d.file("c.cache")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2/2 images"), std::string::npos) << r.out;
  auto cache = glimpse::data::FeatureCache::open(d.file("c.cache")).take();
  EXPECT_EQ(cache->keys(),
            (std::vector<std::string>{"1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg"}));
  EXPECT_EQ(cache->info().grid_h, 7);
  write_bytes(d.file("empty.json"), R"({"images": [], "annotations": []})");
  r = run_glimpse({"features", "--coco-captions", d.file("empty.json"), "--images", photos, "--out",
                   d.file("e.cache")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "glimpse: coco_captions " + d.file("empty.json") +
                       " has no images: nothing to encode\n");
  EXPECT_FALSE(std::filesystem::exists(d.file("e.cache")));
  r = run_glimpse({"features", "--coco-captions", d.file("c.json"), "--out", d.file("e.cache")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "glimpse: the dataset: a coco_captions source needs --images (it reads "
            "captions, images)\n");
}

}  // namespace

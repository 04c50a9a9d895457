// The MobileNetV2 loader and forward pass against reference outputs computed with torchvision
// on the same weights (../shared/models/mobilenet_v2_reference.json).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "glimpse/core/file_util.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/vision/imagenet.h"
#include "test_util.h"

namespace glimpse::vision {
namespace {

using glimpse::testing::shared_data;

TEST(MobileNetV2Reference, ReproducesTorchvisionOnFourImages) {
  const std::string ref_path = shared_data("models/mobilenet_v2_reference.json");
  if (!std::filesystem::exists(ref_path))
    GTEST_SKIP() << "../shared is absent (" << ref_path << "): skipping the reference check";
  const auto ref = nlohmann::json::parse(core::read_file(ref_path));
  auto net = load_imagenet_backbone(shared_data("models/mobilenet_v2_imagenet.safetensors"));
  ASSERT_TRUE(net.ok()) << net.error().message;
  auto labels = load_labels(shared_data("models/imagenet_classes.txt"), 1000);
  ASSERT_TRUE(labels.ok()) << labels.error().message;
  const PreprocessOptions pre = net.value().preprocess;
  EXPECT_EQ(pre.width, 224);
  EXPECT_FLOAT_EQ(pre.mean[1], 0.5f);
  EXPECT_FLOAT_EQ(pre.stddev[2], 0.5f);

  ASSERT_EQ(ref["results"].size(), 4u);
  for (const auto& r : ref["results"]) {
    const std::string image = r["image"];
    SCOPED_TRACE(image);
    auto img = load_image(shared_data(image));
    ASSERT_TRUE(img.ok()) << img.error().message;
    ASSERT_EQ(img.value().cols, 224);
    auto x = to_tensor(img.value(), pre);
    auto scores = classify(*net.value().model, x, labels.value(), 5)[0];
    ASSERT_EQ(scores.size(), 5u);
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(scores[k].index, r["top5"][k]["class"].get<int>()) << "rank " << k;
      EXPECT_EQ(scores[k].label, r["top5"][k]["label"].get<std::string>());
      EXPECT_NEAR(scores[k].probability, r["top5"][k]["prob"].get<double>(), 1e-3) << "rank " << k;
    }
    torch::InferenceMode guard;
    auto map = net.value().model->feature_map(x);
    EXPECT_EQ(map.sizes().vec(), r["features_shape"].get<std::vector<int64_t>>());
    EXPECT_NEAR(map.mean().item<double>(), r["features_mean"].get<double>(), 1e-3);
  }
}

}  // namespace
}  // namespace glimpse::vision

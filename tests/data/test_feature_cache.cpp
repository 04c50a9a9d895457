#include "glimpse/data/feature_cache.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace glimpse::data {
namespace {

using glimpse::testing::read_bytes;
using glimpse::testing::TempDir;
using glimpse::testing::write_bytes;

const FeatureCacheInfo kInfo{"test-backbone@32", 2, 3, 4};

TEST(FeatureCache, WritesOnePassAndReadsBackEachImageAsFp16) {
  TempDir d;
  torch::manual_seed(1);
  const auto a = torch::randn({6, 4}), b = torch::randn({1, 6, 4});  // [N, C], [1, N, C]
  {
    FeatureCacheWriter w(d.file("f.cache"), kInfo);
    ASSERT_TRUE(w.add("a.jpg", a));
    ASSERT_TRUE(w.add("b.jpg", b));
    EXPECT_FALSE(std::filesystem::exists(d.file("f.cache"))) << "appears only when finished";
    ASSERT_TRUE(w.finish());
  }
  EXPECT_FALSE(std::filesystem::exists(d.file("f.cache.partial")));
  auto c = FeatureCache::open(d.file("f.cache")).take();
  EXPECT_EQ(c->info().backbone, "test-backbone@32");
  EXPECT_EQ(c->info().grid_h, 2);
  EXPECT_EQ(c->info().channels, 4);
  EXPECT_EQ(c->keys(), (std::vector<std::string>{"a.jpg", "b.jpg"}));
  EXPECT_EQ(c->index_of("b.jpg"), 1u);
  EXPECT_FALSE(c->index_of("c.jpg"));
  // fp16 storage: exactly the values rounded to half precision.
  EXPECT_TRUE(torch::equal(c->get(0), a.to(torch::kHalf).to(torch::kFloat)));
  const auto g = c->gather({1, 0, 1});  // [3, 6, 4]
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{3, 6, 4}));
  EXPECT_TRUE(torch::equal(g[0], b[0].to(torch::kHalf).to(torch::kFloat)));
  EXPECT_TRUE(torch::equal(g[2], g[0]));
  // 64-byte preamble + 2 images x 24 values x 2 bytes + the trailer.
  EXPECT_GT(std::filesystem::file_size(d.file("f.cache")), 64u + 96u);
  EXPECT_THROW(c->gather({2}), Error);
}

TEST(FeatureCache, TheWriterRefusesWrongShapesAndRepeatsAndLeavesNothingWhenAbandoned) {
  TempDir d;
  {
    FeatureCacheWriter w(d.file("f.cache"), kInfo);
    auto bad = w.add("a.jpg", torch::zeros({5, 4}));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "features of 'a.jpg' are [5, 4], not [6, 4]");
    ASSERT_TRUE(w.add("a.jpg", torch::zeros({6, 4})));
    EXPECT_EQ(w.add("a.jpg", torch::zeros({6, 4})).error().message, "'a.jpg' is added twice");
  }  // no finish()
  EXPECT_FALSE(std::filesystem::exists(d.file("f.cache")));
  EXPECT_FALSE(std::filesystem::exists(d.file("f.cache.partial")));
  FeatureCacheWriter empty(d.file("e.cache"), kInfo);
  EXPECT_EQ(empty.finish().error().message, "the feature cache has no images");
}

TEST(FeatureCache, OpenRefusesFilesThatAreNotWholeCaches) {
  TempDir d;
  {
    FeatureCacheWriter w(d.file("f.cache"), kInfo);
    ASSERT_TRUE(w.add("a.jpg", torch::ones({6, 4})));
    ASSERT_TRUE(w.finish());
  }
  const std::string good = read_bytes(d.file("f.cache"));
  auto message = [&](const std::string& bytes) {
    write_bytes(d.file("x.cache"), bytes);
    auto c = FeatureCache::open(d.file("x.cache"));
    return c ? std::string("opened") : c.error().message;
  };
  const std::string prefix = "feature cache '" + d.file("x.cache") + "': ";
  const std::string suffix = "; make it again with the same command";
  EXPECT_EQ(message("short"), prefix + "it is 5 bytes, shorter than its preamble" + suffix);
  EXPECT_EQ(message(std::string(100, 'x')),
            prefix + "it does not start with GLFCACHE: not a glimpse feature cache" + suffix);
  EXPECT_EQ(message(good.substr(0, good.size() - 10)),
            prefix + "its trailer lies outside the file (truncated?)" + suffix);
  std::string lying = good;
  lying[8] = static_cast<char>(lying[8] - 2);  // trailer offset two bytes early
  EXPECT_NE(message(lying).find("its trailer is not valid"), std::string::npos) << message(lying);
  EXPECT_EQ(FeatureCache::open(d.file("none.cache")).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace glimpse::data

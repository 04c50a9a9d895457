// Data sources: every format read through one call, and the refusals of a source that cannot be
// read, naming what to give.
#include "glimpse/data/source.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "glimpse/data/world_export.h"
#include "test_util.h"

namespace glimpse::data {
namespace {

using glimpse::testing::TempDir;
using nlohmann::json;

std::string refusal(const json& j) {
  try {
    source_from_json(j, "data.train.0");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DataSource, EveryFormatOfAWorldExportReadsTheSameImages) {
  TempDir d;
  ShapesWorld world;
  ASSERT_TRUE(export_world(world, Split::kDev, 0, 5, d.path()).ok());
  const Dataset whole = load_world_folder(d.path(), "dev").take();
  const auto read = [](const char* text) {
    return load_source(source_from_json(json::parse(text), "test")).take();
  };
  const std::string dir = d.path();
  const Dataset world_source =
      read(json{{"format", "world"}, {"dir", dir}, {"split", "dev"}}.dump().c_str());
  EXPECT_EQ(world_source.images.size(), 5u);
  EXPECT_EQ(world_source.question_count(), whole.question_count());
  // The captions file alone, as COCO captions.
  const Dataset coco = read(json{{"format", "coco_captions"},
                                 {"captions", dir + "/captions_dev.json"},
                                 {"images", dir + "/images"}}
                                .dump()
                                .c_str());
  EXPECT_EQ(coco.caption_count(), whole.caption_count());
  EXPECT_EQ(coco.question_count(), 0u);
  // Questions and annotations alone, as VQA v2 with the files named by a pattern.
  const Dataset vqa = read(json{{"format", "vqa_v2"},
                                {"questions", dir + "/questions_dev.json"},
                                {"annotations", dir + "/annotations_dev.json"},
                                {"images", dir + "/images"},
                                {"image_pattern", "dev_{id}.png"}}
                               .dump()
                               .c_str());
  EXPECT_EQ(vqa.question_count(), whole.question_count());
  EXPECT_EQ(vqa.caption_count(), 0u);
  ASSERT_FALSE(vqa.images.empty());
  EXPECT_EQ(vqa.images[0].path, dir + "/images/dev_" + std::to_string(vqa.images[0].id) + ".png");
}

TEST(DataSource, OnlyFormatsThatReadASplitHaveSplits) {
  for (const auto& [format, splits] :
       std::vector<std::pair<std::string, bool>>{{"world", true},
                                                 {"flickr8k", true},
                                                 {"karpathy", true},
                                                 {"daquar", true},
                                                 {"coco_captions", false},
                                                 {"vqa_v2", false},
                                                 {"nonsense", false}}) {
    DataSource s;
    s.format = format;
    EXPECT_EQ(has_splits(s), splits) << format;
  }
}

TEST(DataSource, WritesOnlyTheFieldsItsFormatReads) {
  DataSource s;
  s.format = "coco_captions";
  s.captions = "c.json";
  s.images = "img";
  s.split = "train";  // not read by COCO captions
  EXPECT_EQ(to_json(s), json::parse(R"({"format": "coco_captions", "captions": "c.json",
                                        "images": "img", "weight": 1.0})"));
  EXPECT_EQ(describe(s), "coco_captions c.json");
}

TEST(DataSource, RefusesWhatItCannotReadNamingTheFieldToGive) {
  EXPECT_EQ(refusal(json::parse(R"({"dir": "w"})")),
            "data.train.0: give its \"format\": one of world, flickr8k, coco_captions, karpathy, "
            "vqa_v2, daquar");
  EXPECT_EQ(refusal(json::parse(R"({"format": "world", "dir": "w"})")),
            "data.train.0: a world source needs \"split\" (it reads dir, split)");
  EXPECT_EQ(refusal(json::parse(R"({"format": "world", "dir": "w", "split": "dev",
                                   "captions": "c.json"})")),
            "data.train.0: a world source has no \"captions\" (it reads dir, split and weight)");
  EXPECT_EQ(refusal(json::parse(R"({"format": "vqa_v2", "questions": "q", "annotations": "a",
                                   "images": "i"})")),
            "data.train.0: a vqa_v2 source names its image files by one of \"image_pattern\" "
            "(e.g. \"COCO_train2014_{id12}.jpg\") or \"coco_images\" (a COCO captions file)");
  EXPECT_EQ(refusal(json::parse(R"({"format": "flickr8k", "dir": "", "split": "dev"})")),
            "data.train.0: \"dir\" must be a non-empty string, not \"\"");
  EXPECT_EQ(refusal(json::parse(R"(["world"])")),
            "data.train.0: a data source is an object such as {\"format\": \"world\", \"dir\": "
            "\"world\", \"split\": \"train\"}, not [\"world\"]");
}

TEST(DataSource, DaquarSplitsCarveTheDevImagesOutOfTheTrainingOnes) {
  TempDir d;
  std::filesystem::create_directories(d.file("images"));
  std::string list, qa;
  for (int i = 1; i <= 20; ++i) {
    glimpse::testing::write_bytes(d.file("images/image" + std::to_string(i) + ".jpg"), "x");
    list += "image" + std::to_string(i) + "\n";
    qa += "what is on the desk in the image" + std::to_string(i) + " ?\nbook\n";
  }
  glimpse::testing::write_bytes(d.file("train_images.txt"), list);
  glimpse::testing::write_bytes(d.file("qa_train.txt"), qa);
  EXPECT_EQ(daquar_default_dev_images(d.path()).value(),
            (std::vector<std::string>{"image10", "image20"}));
  const auto read = [&](json j) {
    j["format"] = "daquar";
    j["dir"] = d.path();
    return load_source(source_from_json(j, "test")).take();
  };
  const auto dev = read({{"split", "dev"}});
  ASSERT_EQ(dev.images.size(), 2u);
  EXPECT_EQ(dev.images[0].id, 10);
  EXPECT_EQ(read({{"split", "train"}}).images.size(), 18u);
  EXPECT_EQ(read({{"split", "all"}}).images.size(), 20u);
  const auto own = read({{"split", "dev"}, {"dev_images", {"image4"}}});
  ASSERT_EQ(own.images.size(), 1u);
  EXPECT_EQ(own.images[0].id, 4);
  DataSource s = source_from_json(
      json{{"format", "daquar"}, {"dir", "q"}, {"split", "dev"}, {"dev_images", {"image4"}}}, "t");
  EXPECT_EQ(to_json(s), json::parse(R"({"format": "daquar", "dir": "q", "split": "dev",
                                        "dev_images": ["image4"], "weight": 1.0})"));
  EXPECT_EQ(describe(s), "daquar q (dev)");
  EXPECT_EQ(refusal(json::parse(R"({"format": "daquar", "dir": "q", "split": "test"})")),
            "data.train.0: a daquar source's \"split\" is train, dev (carved out of the training "
            "images) or all, not 'test'");
  EXPECT_EQ(refusal(json::parse(R"({"format": "daquar", "dir": "q", "split": "dev",
                                   "dev_images": [3]})")),
            "data.train.0: \"dev_images\" holds image names such as \"image3\", not 3");
  EXPECT_EQ(refusal(json::parse(R"({"format": "daquar", "dir": "q", "split": "dev",
                                   "dev_images": []})")),
            "data.train.0: \"dev_images\" must be a non-empty list of image names such as "
            "[\"image3\"], not []");
}

}  // namespace
}  // namespace glimpse::data

#include "glimpse/data/datasets.h"

#include <gtest/gtest.h>

#include "glimpse/data/world_export.h"
#include "test_util.h"

namespace glimpse::data {
namespace {

using glimpse::testing::TempDir;
using glimpse::testing::write_bytes;

TEST(LoadWorldFolder, ReadsBackWhatTheWorldExported) {
  TempDir d;
  ShapesWorld world;
  auto sum = export_world(world, Split::kDev, 0, 6, d.path());
  ASSERT_TRUE(sum.ok()) << sum.error().message;
  auto ds = load_world_folder(d.path(), "dev");
  ASSERT_TRUE(ds.ok()) << ds.error().message;
  ASSERT_EQ(ds.value().images.size(), 6u);
  EXPECT_EQ(ds.value().caption_count(), static_cast<size_t>(sum.value().captions));
  EXPECT_EQ(ds.value().question_count(), static_cast<size_t>(sum.value().questions));
  const Scene s = world.scene(3, Split::kDev);
  const ImageEntry& img = ds.value().images[3];
  EXPECT_EQ(img.id, 3);
  EXPECT_EQ(img.captions[0].text, s.captions[0].text);
  ASSERT_EQ(img.captions[0].word_boxes.size(), s.captions[0].word_boxes.size());
  for (size_t w = 0; w < s.captions[0].word_boxes.size(); ++w)
    EXPECT_EQ(img.captions[0].word_boxes[w], s.captions[0].word_boxes[w]);
  ASSERT_EQ(img.questions.size(), s.questions.size());
  EXPECT_EQ(img.questions[0].question, s.questions[0].question);
  EXPECT_EQ(img.questions[0].answer, s.questions[0].answer);
  EXPECT_EQ(img.questions[0].answers.size(), 10u);
  EXPECT_EQ(img.questions[0].family, to_string(s.questions[0].family));
  EXPECT_EQ(img.questions[0].boxes, s.questions[0].boxes);
  // Every question's boxes and reference boxes, what-left's among them.
  int references = 0;
  for (size_t i = 0; i < ds.value().images.size(); ++i) {
    const Scene si = world.scene(i, Split::kDev);
    ASSERT_EQ(ds.value().images[i].questions.size(), si.questions.size());
    for (size_t k = 0; k < si.questions.size(); ++k) {
      EXPECT_EQ(ds.value().images[i].questions[k].boxes, si.questions[k].boxes);
      EXPECT_EQ(ds.value().images[i].questions[k].reference_boxes, si.questions[k].reference_boxes);
      const auto& mentions = ds.value().images[i].questions[k].mentions;
      ASSERT_EQ(mentions.size(), si.questions[k].mentions.size());
      for (size_t m = 0; m < mentions.size(); ++m) {
        EXPECT_EQ(mentions[m].first, si.questions[k].mentions[m].words);
        EXPECT_EQ(mentions[m].second, si.questions[k].mentions[m].box);
      }
      references += si.questions[k].reference_boxes.empty() ? 0 : 1;
    }
  }
  EXPECT_GT(references, 0) << "no what-left question in 6 dev scenes: export more";
}

TEST(LoadKarpathy, PicksTheSplitAndCountsRestvalAsTrain) {
  TempDir d;
  for (const char* f : {"a.jpg", "b.jpg", "c.jpg"})
    write_bytes(d.file(f), "x");
  write_bytes(d.file("k.json"), R"({"images": [
    {"filename": "a.jpg", "split": "train", "imgid": 0, "sentences": [{"raw": "A dog."}, {"raw": "A pup."}]},
    {"filename": "b.jpg", "split": "restval", "imgid": 1, "sentences": [{"raw": "A cat."}]},
    {"filename": "c.jpg", "split": "test", "imgid": 2, "sentences": [{"raw": "A cow."}]}]})");
  auto train = load_karpathy(d.file("k.json"), d.path(), "train");
  ASSERT_TRUE(train.ok()) << train.error().message;
  EXPECT_EQ(train.value().images.size(), 2u);
  EXPECT_EQ(train.value().caption_count(), 3u);
  EXPECT_EQ(train.value().images[1].captions[0].text, "A cat.");
  auto val = load_karpathy(d.file("k.json"), d.path(), "val");
  ASSERT_FALSE(val.ok());
  EXPECT_NE(val.error().message.find("has no images in split 'val'"), std::string::npos);
}

TEST(LoadVqa, NamesImagesByPattern) {
  TempDir d;
  write_bytes(d.file("COCO_val2014_000000000042.jpg"), "x");
  write_bytes(d.file("q.json"),
              R"({"questions": [{"question_id": 7, "image_id": 42, "question": "Is it red?"}]})");
  write_bytes(d.file("a.json"),
              R"({"annotations": [{"question_id": 7, "image_id": 42, "answer_type": "yes/no",
    "answers": [{"answer": "yes"}, {"answer": "no"}, {"answer": "yes"}]}]})");
  auto ds = load_vqa(d.file("q.json"), d.file("a.json"), d.path(), "", "COCO_val2014_{id12}.jpg");
  ASSERT_TRUE(ds.ok()) << ds.error().message;
  ASSERT_EQ(ds.value().images.size(), 1u);
  EXPECT_EQ(ds.value().images[0].path, d.file("COCO_val2014_000000000042.jpg"));
  EXPECT_EQ(ds.value().images[0].questions[0].answer, "yes");  // the most common human answer
  EXPECT_EQ(ds.value().images[0].questions[0].answer_type, "yes/no");
}

struct BadCase {
  std::string name, captions, expect;
};

TEST(LoadCocoCaptions, RefusesInconsistentFilesNamingTheEntry) {
  TempDir d;
  write_bytes(d.file("a.png"), "x");
  const std::vector<BadCase> cases = {
      {"not json", "{", "not valid JSON"},
      {"no images", R"({"annotations": []})", "expected an object with a \"images\" array"},
      {"missing file", R"({"images": [{"id": 1, "file_name": "nope.png"}], "annotations": []})",
       "image 0: image file '" + d.file("nope.png") + "' does not exist; check the image folder"},
      {"twice",
       R"({"images": [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "a.png"}], "annotations": []})",
       "image 1: image id 1 appears twice"},
      {"unknown image",
       R"({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 2, "caption": "x"}]})",
       "annotation 0: image_id 2 is not in \"images\""},
      {"no caption",
       R"({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1}]})",
       "annotation 0 has no \"caption\""},
      {"bad box",
       R"({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "caption": "x", "word_boxes": [[1, 2]]}]})",
       "annotation 0: a box must be [x, y, width, height] or null"},
      {"bad id", R"({"images": [{"id": "one", "file_name": "a.png"}], "annotations": []})",
       "image 0: \"id\" is not an integer id"},
      {"box out of range",
       R"({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "caption": "x", "word_boxes": [[1, 2, 3e300, 4]]}]})",
       "annotation 0: a box must hold four integers"},
      {"id out of range",
       R"({"images": [{"id": 18446744073709551615, "file_name": "a.png"}], "annotations": []})",
       "image 0: \"id\" is not an integer id"},
  };
  for (const auto& c : cases) {
    write_bytes(d.file("c.json"), c.captions);
    auto r = load_coco_captions(d.file("c.json"), d.path());
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.error().message.rfind("dataset file '" + d.file("c.json") + "': ", 0), 0u)
        << c.name << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos)
        << c.name << ": " << r.error().message;
  }
}

TEST(LoadVqa, RefusesQuestionsAndAnnotationsThatDisagree) {
  TempDir d;
  write_bytes(d.file("1.png"), "x");
  write_bytes(d.file("q.json"),
              R"({"questions": [{"question_id": 1, "image_id": 1, "question": "q?"},
                                                  {"question_id": 2, "image_id": 1, "question": "r?"}]})");
  write_bytes(d.file("a.json"),
              R"({"annotations": [{"question_id": 1, "answers": [{"answer": "yes"}]}]})");
  auto r = load_vqa(d.file("q.json"), d.file("a.json"), d.path(), "", "{id}.png");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("question 2 of '" + d.file("q.json") + "' has no annotation"),
            std::string::npos)
      << r.error().message;
  write_bytes(d.file("a.json"),
              R"({"annotations": [{"question_id": 9, "answers": [{"answer": "yes"}]}]})");
  r = load_vqa(d.file("q.json"), d.file("a.json"), d.path(), "", "{id}.png");
  EXPECT_NE(r.error().message.find("annotation 0: question_id 9 is not in"), std::string::npos)
      << r.error().message;
  write_bytes(d.file("a.json"), R"({"annotations": [{"question_id": 1, "answers": []}]})");
  r = load_vqa(d.file("q.json"), d.file("a.json"), d.path(), "", "{id}.png");
  EXPECT_NE(r.error().message.find("annotation 0 has no \"answers\""), std::string::npos)
      << r.error().message;
  r = load_vqa(d.file("q.json"), d.file("a.json"), d.path(), "", "fixed.png");
  EXPECT_NE(r.error().message.find("pattern containing {id}"), std::string::npos)
      << r.error().message;
  // Boxes and reference boxes are arrays of [x, y, w, h].
  write_bytes(d.file("q.json"),
              R"({"questions": [{"question_id": 1, "image_id": 1, "question": "q?"}]})");
  write_bytes(
      d.file("a.json"),
      R"({"annotations": [{"question_id": 1, "answers": [{"answer": "yes"}], "reference_boxes": 3}]})");
  r = load_vqa(d.file("q.json"), d.file("a.json"), d.path(), "", "{id}.png");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("annotation 0: \"reference_boxes\" is not an array"),
            std::string::npos)
      << r.error().message;
  write_bytes(
      d.file("a.json"),
      R"({"annotations": [{"question_id": 1, "answers": [{"answer": "yes"}], "reference_boxes": [[1, 2, 3, 4]]}]})");
  r = load_vqa(d.file("q.json"), d.file("a.json"), d.path(), "", "{id}.png");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.value().images[0].questions[0].reference_boxes,
            (std::vector<cv::Rect>{cv::Rect(1, 2, 3, 4)}));
  EXPECT_TRUE(r.value().images[0].questions[0].boxes.empty());
  // Mentions are an array of {words, box}.
  for (const auto& [mentions, message] : std::vector<std::pair<std::string, std::string>>{
           {R"("square")", "annotation 0: \"mentions\" is not an array"},
           {R"([{"box": [1, 2, 3, 4]}])", "annotation 0 mention 0 has no \"words\""},
           {R"([{"words": "red square"}])", "annotation 0 mention 0 has no \"box\""},
           {R"([{"words": "red square", "box": [1, 2]}])",
            "annotation 0 mention 0: a box must be [x, y, width, height] or null"}}) {
    write_bytes(
        d.file("a.json"),
        R"({"annotations": [{"question_id": 1, "answers": [{"answer": "yes"}], "mentions": )" +
            mentions + "}]}");
    r = load_vqa(d.file("q.json"), d.file("a.json"), d.path(), "", "{id}.png");
    ASSERT_FALSE(r.ok()) << mentions;
    EXPECT_NE(r.error().message.find(message), std::string::npos) << r.error().message;
  }
}

TEST(LoadWorldFolder, SaysWhatIsMissing) {
  TempDir d;
  auto r = load_world_folder(d.path(), "train");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(
      r.error().message.find("has no captions_train.json: is it a folder written by glimpse world"),
      std::string::npos);
}

}  // namespace
TEST(LoadFlickr8k, ReadsTheSplitsImagesInOrderWithTheirCaptions) {
  TempDir d;
  for (const char* f : {"b.jpg", "a.jpg", "c.jpg"})
    write_bytes(d.file(f), "x");
  write_bytes(d.file("captions.txt"),
              "a.jpg#0\tA dog runs .\r\na.jpg#1\tA brown dog .\nb.jpg#0\tTwo people sit .\n"
              "c.jpg#0\tNot in this split .\n\n");
  write_bytes(d.file("split.txt"), "b.jpg\na.jpg\n");
  auto ds = load_flickr8k(d.file("captions.txt"), d.file("split.txt"), d.path());
  ASSERT_TRUE(ds) << ds.error().message;
  ASSERT_EQ(ds.value().images.size(), 2u);
  EXPECT_EQ(ds.value().images[0].id, 0);
  EXPECT_EQ(ds.value().images[0].path, d.file("b.jpg"));
  ASSERT_EQ(ds.value().images[0].captions.size(), 1u);
  EXPECT_EQ(ds.value().images[0].captions[0].text, "Two people sit .");
  EXPECT_EQ(ds.value().images[1].path, d.file("a.jpg"));
  ASSERT_EQ(ds.value().images[1].captions.size(), 2u);
  EXPECT_EQ(ds.value().images[1].captions[1].text, "A brown dog .");
  EXPECT_EQ(ds.value().caption_count(), 3u);
}

TEST(LoadFlickr8k, RefusesMalformedFilesNamingTheLine) {
  TempDir d;
  write_bytes(d.file("a.jpg"), "x");
  struct Case {
    std::string captions, split, message;
  };
  const std::string tokens = "'" + d.file("t.txt") + "': ";
  const std::string split = "'" + d.file("s.txt") + "': ";
  const std::vector<Case> cases = {
      {"a.jpg#0 no tab", "a.jpg", tokens + "line 1: no tab between 'IMAGE.jpg#N' and the caption"},
      {"a.jpg\tA dog .", "a.jpg", tokens + "line 1: 'a.jpg' is not 'IMAGE.jpg#N'"},
      {"a.jpg#x\tA dog .", "a.jpg", tokens + "line 1: 'a.jpg#x' is not 'IMAGE.jpg#N'"},
      {"a.jpg#0\t  ", "a.jpg", tokens + "line 1: the caption of 'a.jpg#0' is empty"},
      {"a.jpg#0\tA .\na.jpg#0\tB .", "a.jpg", tokens + "line 2: 'a.jpg#0' appears twice"},
      {"b.jpg#0\tA .", "a.jpg",
       tokens + "has no caption for 'a.jpg', listed in '" + d.file("s.txt") + "'"},
      {"a.jpg#0\tA .", "", split + "lists no images"},
      {"a.jpg#0\tA .", "a.jpg\na.jpg", split + "line 2: 'a.jpg' is listed twice"},
      {"a.jpg#0\tA .", "a.jpg#0", split + "line 1: 'a.jpg#0' is not an image file name"},
      {"a.jpg#0\tA .", "a.jpg\nmissing.jpg",
       split + "line 2: image file '" + d.file("missing.jpg") +
           "' does not exist; check the image folder"},
  };
  for (const auto& c : cases) {
    write_bytes(d.file("t.txt"), c.captions);
    write_bytes(d.file("s.txt"), c.split);
    auto ds = load_flickr8k(d.file("t.txt"), d.file("s.txt"), d.path());
    ASSERT_FALSE(ds) << c.message;
    EXPECT_EQ(ds.error().message, "dataset file " + c.message);
  }
  write_bytes(d.file("s.txt"), "a.jpg\n");
  auto missing = load_flickr8k(d.file("none.txt"), d.file("s.txt"), d.path());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("none.txt"), std::string::npos) << missing.error().message;
}

TEST(LoadFlickr8k, ReadsTheSharedDevAndTrainSplits) {
  const std::string dir = glimpse::testing::shared_data("data/flickr8k");
  if (!std::filesystem::exists(dir + "/captions.txt"))
    GTEST_SKIP() << "no ../shared/data/flickr8k here";
  auto dev = load_flickr8k(dir + "/captions.txt", dir + "/dev_images.txt", dir + "/images");
  ASSERT_TRUE(dev) << dev.error().message;
  EXPECT_EQ(dev.value().images.size(), 1000u);
  EXPECT_EQ(dev.value().caption_count(), 5000u);
  auto train = load_flickr8k(dir + "/captions.txt", dir + "/train_images.txt", dir + "/images");
  ASSERT_TRUE(train) << train.error().message;
  EXPECT_EQ(train.value().images.size(), 6000u);
  EXPECT_EQ(train.value().caption_count(), 30000u);
}

TEST(LoadDaquar, ReadsQuestionsWithoutTheirImageReferenceByImage) {
  TempDir d;
  for (const char* f : {"image3.jpg", "image10.jpg"})
    write_bytes(d.file(f), "x");
  write_bytes(d.file("qa.txt"),
              "what is on the desk in the image3 ?\r\nbook, scissor, papers\n"
              "how many chairs are there in the image10 ?\n2\n"
              "what is the largest brown objects in this image3 ?\ncarton\n"
              "what colour is the sofa of the image10 ?\nred\n"
              "where is the lamp on the table image10 ?\ntable\n\n");
  auto ds = load_daquar(d.file("qa.txt"), d.path(), {}, {});
  ASSERT_TRUE(ds) << ds.error().message;
  ASSERT_EQ(ds.value().images.size(), 2u);
  const auto& a = ds.value().images[0];
  EXPECT_EQ(a.id, 3);
  EXPECT_EQ(a.path, d.file("image3.jpg"));
  ASSERT_EQ(a.questions.size(), 2u);
  EXPECT_EQ(a.questions[0].question, "what is on the desk?");
  EXPECT_EQ(a.questions[0].answer, "book, scissor, papers");
  EXPECT_EQ(a.questions[0].answers, std::vector<std::string>(10, "book, scissor, papers"));
  EXPECT_EQ(a.questions[0].family, "object");
  EXPECT_EQ(a.questions[1].question, "what is the largest brown objects?");
  EXPECT_EQ(a.questions[1].question_id, 2);
  const auto& b = ds.value().images[1];
  EXPECT_EQ(b.questions[0].question, "how many chairs are there?");
  EXPECT_EQ(b.questions[0].family, "number");
  EXPECT_EQ(b.questions[1].question, "what colour is the sofa?");
  EXPECT_EQ(b.questions[1].family, "colour");
  EXPECT_EQ(b.questions[2].question, "where is the lamp on the table?");
  EXPECT_EQ(b.questions[2].family, "location");
  // only / except select images by name
  auto only = load_daquar(d.file("qa.txt"), d.path(), {"image10"}, {});
  ASSERT_TRUE(only) << only.error().message;
  ASSERT_EQ(only.value().images.size(), 1u);
  EXPECT_EQ(only.value().question_count(), 3u);
  auto except = load_daquar(d.file("qa.txt"), d.path(), {}, {"image10"});
  ASSERT_TRUE(except) << except.error().message;
  EXPECT_EQ(except.value().question_count(), 2u);
}

TEST(LoadDaquar, RefusesMalformedFilesNamingTheLine) {
  TempDir d;
  write_bytes(d.file("image3.jpg"), "x");
  const std::string qa = "dataset file '" + d.file("qa.txt") + "': ";
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {"what is this?\nchair\n",
       qa + "line 1: 'what is this?' is not a DAQUAR question (a question line ends 'in the "
            "imageN ?', its answer on the next line)"},
      {"what is on the desk in the image3 ?\nbook\nwhat is it in the image3 ?\n",
       qa + "line 3: the question has no answer on the line after it"},
      {"what is on the desk in the image3 ?\n\nchair\n",
       qa + "line 1: the question has no answer on the line after it"},
      {"what is on the desk in the image4 ?\nbook\n",
       qa + "line 1: image file '" + d.file("image4.jpg") +
           "' does not exist; check the image folder"},
      {"", qa + "has no questions (of the images asked for)"},
  };
  for (const auto& c : cases) {
    write_bytes(d.file("qa.txt"), c.text);
    auto ds = load_daquar(d.file("qa.txt"), d.path(), {}, {});
    ASSERT_FALSE(ds) << c.message;
    EXPECT_EQ(ds.error().message, c.message);
  }
  write_bytes(d.file("qa.txt"), "what is on the desk in the image3 ?\nbook\n");
  auto unknown = load_daquar(d.file("qa.txt"), d.path(), {"image3", "image9"}, {});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message,
            qa + "'image9' is named for this split but has no question in the file");
}

TEST(LoadDaquar, ReadsTheSharedTrainingSplit) {
  const std::string dir = glimpse::testing::shared_data("data/daquar");
  if (!std::filesystem::exists(dir + "/qa_train.txt"))
    GTEST_SKIP() << "no ../shared/data/daquar here";
  auto all = load_daquar(dir + "/qa_train.txt", dir + "/images", {}, {});
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all.value().question_count(), 6795u);
  EXPECT_EQ(all.value().images.size(), 794u);  // one listed training image has no question
}

}  // namespace glimpse::data

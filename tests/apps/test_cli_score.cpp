// glimpse score on COCO and VQA files: figures, JSON output, and every malformed file refused
// with one line naming the file, the entry and the problem.
#include <gtest/gtest.h>

#include "test_util.h"

namespace {

using glimpse::testing::lines;
using glimpse::testing::run_glimpse;
using glimpse::testing::TempDir;
using glimpse::testing::write_bytes;

// The corpus of test_caption_metrics.cpp, written as people write captions (capitals, full stops).
const char* kAnnotations = R"({"images": [{"id": 1}, {"id": 2}, {"id": 3}], "annotations": [
 {"image_id": 1, "id": 1, "caption": "A dog runs on the grass."},
 {"image_id": 1, "id": 2, "caption": "Dog running!"},
 {"image_id": 1, "id": 3, "caption": "A brown dog runs across a field of grass."},
 {"image_id": 2, "id": 4, "caption": "Two people are riding bicycles down the road."},
 {"image_id": 2, "id": 5, "caption": "People ride bikes."},
 {"image_id": 2, "id": 6, "caption": "Two cyclists on a road"},
 {"image_id": 3, "id": 7, "caption": "A man wearing a red shirt."},
 {"image_id": 3, "id": 8, "caption": "The man in red stands."},
 {"image_id": 3, "id": 9, "caption": "A man in a red shirt smiles."}]})";
const char* kResults = R"([{"image_id": 1, "caption": "A dog runs on grass."},
 {"image_id": 2, "caption": "Two people ride bikes on a road."},
 {"image_id": 3, "caption": "a man in a red shirt"}])";

TEST(CliScore, CaptionMetricsAsCocoCaption) {
  TempDir d;
  write_bytes(d.file("ann.json"), kAnnotations);
  write_bytes(d.file("res.json"), kResults);
  auto r =
      run_glimpse({"score", "--results", d.file("res.json"), "--annotations", d.file("ann.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "images: 3\nBleu_1: 0.8948\nBleu_2: 0.8331\nBleu_3: 0.7453\nBleu_4: 0.6370\nROUGE_L: "
            "0.8566\nCIDEr: 3.5881\n");
  r = run_glimpse(
      {"score", "--json", "--results", d.file("res.json"), "--annotations", d.file("ann.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"CIDEr\": 3.58805830"), std::string::npos) << r.out;
}

TEST(CliScore, VqaAccuracyOverallAndPerAnswerType) {
  TempDir d;
  write_bytes(d.file("q.json"),
              R"({"questions": [{"question_id": 10, "image_id": 1, "question": "Is it a dog?"},
                                   {"question_id": 11, "image_id": 1, "question": "How many?"}]})");
  write_bytes(d.file("a.json"), R"({"annotations": [
    {"question_id": 10, "answer_type": "yes/no", "answers": [{"answer": "yes"},{"answer": "yes"},{"answer": "yes"},
      {"answer": "yes"},{"answer": "yes"},{"answer": "yes"},{"answer": "yes"},{"answer": "yes"},{"answer": "yes"},{"answer": "yes"}]},
    {"question_id": 11, "answer_type": "number", "answers": [{"answer": "2"},{"answer": "2"},{"answer": "3"},
      {"answer": "3"},{"answer": "3"},{"answer": "3"},{"answer": "3"},{"answer": "3"},{"answer": "3"},{"answer": "3"}]}]})");
  write_bytes(d.file("r.json"),
              R"([{"question_id": 10, "answer": "Yes."}, {"question_id": 11, "answer": "two"}])");
  auto r = run_glimpse({"score", "--vqa", "--results", d.file("r.json"), "--questions",
                        d.file("q.json"), "--annotations", d.file("a.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 10: the ten humans agree, so neither side is normalised (the official vqaEval.py): "Yes."
  // is not "yes", 0. 11: they disagree, both sides are: "two" -> "2", two humans said 2:
  // (2 x 1/3 + 8 x 2/3) / 10 = 0.6.
  EXPECT_EQ(r.out,
            "questions: 2\noverall accuracy: 30.00\n  number: 60.00 (1 questions)\n  yes/no: "
            "0.00 (1 questions)\n");
}

struct BadCase {
  std::string name, results, annotations, expect;
};

TEST(CliScore, MalformedFilesAreOneLineErrors) {
  TempDir d;
  write_bytes(d.file("ann.json"), kAnnotations);
  const std::vector<BadCase> cases = {
      {"not json", "[{\"image_id\": 1,", kAnnotations, "res.json': not valid JSON"},
      {"not an array", "{\"image_id\": 1}", kAnnotations,
       "res.json': expected a JSON array of results"},
      {"unknown image", R"([{"image_id": 9, "caption": "x"}])", kAnnotations,
       "res.json': result 0: image 9 has no reference caption in"},
      {"twice", R"([{"image_id": 1, "caption": "x"}, {"image_id": 1, "caption": "y"}])",
       kAnnotations, "res.json': result 1: image 1 has a second caption; give one per image"},
      {"no caption", R"([{"image_id": 1}])", kAnnotations,
       "res.json': result 0 has no \"caption\""},
      {"caption not text", R"([{"image_id": 1, "caption": 5}])", kAnnotations,
       "res.json': result 0: \"caption\" has the wrong type"},
      {"empty", "[]", kAnnotations, "res.json': holds no results"},
      {"annotations not coco", R"([{"image_id": 1, "caption": "x"}])", "[]",
       "ann.json': expected an object with a \"annotations\" array"},
  };
  for (const auto& c : cases) {
    write_bytes(d.file("res.json"), c.results);
    write_bytes(d.file("ann.json"), c.annotations);
    auto r = run_glimpse(
        {"score", "--results", d.file("res.json"), "--annotations", d.file("ann.json")});
    EXPECT_EQ(r.exit_code, 1) << c.name;
    ASSERT_EQ(lines(r.err).size(), 1u) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.name << ": " << r.err;
  }
  auto r = run_glimpse(
      {"score", "--vqa", "--results", d.file("res.json"), "--annotations", d.file("ann.json")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "glimpse: --vqa needs --questions (the VQA v2 questions file)\n");
  r = run_glimpse(
      {"score", "--results", d.file("missing.json"), "--annotations", d.file("ann.json")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("No such file"), std::string::npos) << r.err;
}

TEST(CliScore, VqaResultsMustAnswerEveryQuestionOnce) {
  TempDir d;
  write_bytes(d.file("q.json"), R"({"questions": [{"question_id": 1}, {"question_id": 2}]})");
  write_bytes(d.file("a.json"),
              R"({"annotations": [{"question_id": 1, "answers": [{"answer": "yes"}]},
                                                    {"question_id": 2, "answers": [{"answer": "no"}]}]})");
  auto run = [&](const std::string& results) {
    write_bytes(d.file("r.json"), results);
    return run_glimpse({"score", "--vqa", "--results", d.file("r.json"), "--questions",
                        d.file("q.json"), "--annotations", d.file("a.json")});
  };
  auto r = run(R"([{"question_id": 1, "answer": "yes"}])");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("answers 1 of the 2 annotated questions; question 2 has no answer"),
            std::string::npos)
      << r.err;
  r = run(
      R"([{"question_id": 1, "answer": "yes"}, {"question_id": 1, "answer": "no"}, {"question_id": 2, "answer": "no"}])");
  EXPECT_NE(r.err.find("question 1 is answered twice"), std::string::npos) << r.err;
  r = run(R"([{"question_id": 7, "answer": "yes"}])");
  EXPECT_NE(r.err.find("question 7 is not in the annotations"), std::string::npos) << r.err;
  r = run(R"([{"question_id": 1, "answer": "yes"}, {"question_id": 2, "answer": "No"}])");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("overall accuracy: 0.00"), std::string::npos)
      << "a single human answer can give at most 0";
}

}  // namespace

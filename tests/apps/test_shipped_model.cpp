// The shipped shapes model: what models/README.md says of it keeps holding (label model).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace {

using glimpse::testing::run_glimpse;
using glimpse::testing::TempDir;
using nlohmann::json;

const std::string kExamples = std::string(GLIMPSE_SOURCE_DIR) + "/models/examples/";

TEST(ShippedModel, CaptionsAndAnswersAnExampleSceneByDefault) {
  // The scene: a small blue hexagon above a small green square, a large purple triangle.
  // `caption`'s default decoding (beam 3) gives the most probable template, a relation.
  auto r = run_glimpse(
      {"--threads", "2", "caption", "--model", "shapes", kExamples + "scene_2.png", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::string(json::parse(r.out)[0]["text"]),
            "a small blue hexagon above a small green square");
  // Greedy decoding of another scene: a small orange square below a large green diamond, and a
  // small yellow diamond to the right.
  r = run_glimpse({"--threads", "2", "caption", "--model", "shapes", kExamples + "scene_4.png",
                   "--beam", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::string(json::parse(r.out)[0]["text"]),
            "a small orange square below a large green diamond");
  // Questions in the world's own forms (a size question names colour and shape).
  r = run_glimpse({"--threads", "2", "ask", kExamples + "scene_2.png",
                   "what shape is the purple object?", "what size is the purple triangle?",
                   "is the blue hexagon above the green square?",
                   "is the blue hexagon left of the green square?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "what shape is the purple object? triangle\nwhat size is the purple triangle? "
            "large\nis the blue hexagon above the green square? yes\nis the blue hexagon left of "
            "the green square? no\n");
}

// `glimpse eval --json` of a model on scenes 0..149 of the world's test stream (models/README.md
// quotes 1000 of them): the figures (null when a command failed, the failure reported) and the
// printed text, for failure messages.
struct Scored {
  json figures;
  std::string printed;
};

Scored eval_on_fresh_test_scenes(const std::string& model) {
  TempDir d;
  auto r = run_glimpse(
      {"world", "--out", d.file("w"), "--seed", "11", "--split", "test", "--count", "150"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_glimpse({"--threads", "2", "eval", "--model", model, "--data", d.file("w"), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0)
    return {json(), r.err};
  Scored s{json::parse(r.out), r.out};
  EXPECT_EQ(s.figures["images"], 150);
  return s;
}

TEST(ShippedModel, KeepsItsTestFiguresOnFreshScenesOfItsWorld) {
  const auto [j, out] = eval_on_fresh_test_scenes("shapes");
  ASSERT_FALSE(j.is_null());
  // Floors a few points under what these 150 scenes score (98.2%, BLEU-4 0.885, attention
  // correctness 0.83 caption and 0.89 answer, against 0.037 uniform).
  EXPECT_GT(j["vqa_accuracy"].get<double>(), 0.96) << out;
  EXPECT_GT(j["bleu"][3].get<double>(), 0.85) << out;
  EXPECT_GT(j["attention_correctness"]["caption"].get<double>(), 0.80) << out;
  EXPECT_GT(j["attention_correctness"]["answer"].get<double>(), 0.86) << out;
  EXPECT_LT(j["attention_correctness"]["caption_uniform"].get<double>(), 0.06) << out;
}

// The answer-only model (models/README.md, shapes-answers.safetensors): trained with no box, it
// keeps its figures, and its attention, measured against the boxes it never saw, beats uniform.
TEST(ShippedModel, TheAnswerOnlyModelKeepsItsTestFiguresOnFreshScenes) {
  const auto [j, out] = eval_on_fresh_test_scenes("shapes-answers");
  ASSERT_FALSE(j.is_null());
  // Floors a few points under what these 150 scenes score (95.3%, BLEU-4 0.882, attention
  // correctness 0.187 caption and 0.145 answer, against 0.037 and 0.043 uniform).
  EXPECT_GT(j["vqa_accuracy"].get<double>(), 0.93) << out;
  EXPECT_GT(j["bleu"][3].get<double>(), 0.85) << out;
  EXPECT_GT(j["attention_correctness"]["answer"].get<double>(), 0.12) << out;
  EXPECT_LT(j["attention_correctness"]["answer_uniform"].get<double>(), 0.06) << out;
}

}  // namespace

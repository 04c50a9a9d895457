// glimpse train --recipe: the shipped recipes are the commands models/README.md records, a recipe
// trains on a VQA v2 folder and on a COCO captions file, --set and --resume, and the refusals.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "glimpse/core/safetensors.h"
#include "test_util.h"

namespace glimpse::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// glimpse run in `dir` with GLIMPSE_SHARED_DIR=/S, so that paths compare as written.
CommandResult glimpse_in(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"-C", dir, "GLIMPSE_SHARED_DIR=/S", kGlimpseBinary});
  return run_command("/usr/bin/env", args);
}

// The steps a finished run says it trained.
int steps(const std::string& out) {
  const auto at = out.find("trained ");
  return at == std::string::npos ? -1 : std::stoi(out.substr(at + 8));
}

json printed(const CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out) : json();
}

TEST(CliRecipe, TheShippedRecipesAreTheCommandsModelsReadmeRecords) {
  TempDir d;
  for (const char* cache : {"train16.cache", "train16-mirror.cache", "dev16.cache"})
    write_bytes(d.file(cache), "");
  const std::string recipes = std::string(GLIMPSE_SOURCE_DIR) + "/recipes/";
  const json shapes = printed(glimpse_in(d.path(), {"train",
                                                    "--data",
                                                    "world12w",
                                                    "--out",
                                                    "shapes.safetensors",
                                                    "--epochs",
                                                    "3",
                                                    "--batch-size",
                                                    "128",
                                                    "--lr",
                                                    "1e-3",
                                                    "--warmup",
                                                    "200",
                                                    "--image-size",
                                                    "128",
                                                    "--cnn-width",
                                                    "32",
                                                    "--cnn-depth",
                                                    "3",
                                                    "--cnn-context",
                                                    "2",
                                                    "--grid",
                                                    "16",
                                                    "--decoder",
                                                    "transformer",
                                                    "--attention",
                                                    "cross:4+pos-values+xy-values+sink",
                                                    "--d-model",
                                                    "128",
                                                    "--layers",
                                                    "3",
                                                    "--heads",
                                                    "4",
                                                    "--ffn",
                                                    "256",
                                                    "--dropout",
                                                    "0.1",
                                                    "--attention-supervision",
                                                    "4",
                                                    "--supervise-each-head",
                                                    "--supervise-mentions",
                                                    "--target-power",
                                                    "4",
                                                    "--grounding",
                                                    "4",
                                                    "--eval-images",
                                                    "200",
                                                    "--seed",
                                                    "1",
                                                    "--pair-heads",
                                                    "--reference-first",
                                                    "--count-centres",
                                                    "--data-parallel",
                                                    "2",
                                                    "--print-recipe"}));
  EXPECT_EQ(printed(glimpse_in(d.path(),
                               {"train", "--recipe", recipes + "shapes.json", "--print-recipe"})),
            shapes);
  const json flickr8k = printed(glimpse_in(d.path(), {"train",
                                                      "--flickr8k",
                                                      "/S/data/flickr8k",
                                                      "--features",
                                                      "train16.cache",
                                                      "--features",
                                                      "train16-mirror.cache",
                                                      "--dev-features",
                                                      "dev16.cache",
                                                      "--encoder",
                                                      "mobilenet_v2",
                                                      "--output-stride",
                                                      "16",
                                                      "--tasks",
                                                      "caption",
                                                      "--min-count",
                                                      "5",
                                                      "--batch-size",
                                                      "64",
                                                      "--max-caption-words",
                                                      "24",
                                                      "--eval-images",
                                                      "500",
                                                      "--checkpoint-every",
                                                      "100",
                                                      "--decoder",
                                                      "lstm",
                                                      "--embed",
                                                      "256",
                                                      "--hidden",
                                                      "512",
                                                      "--attention-dim",
                                                      "256",
                                                      "--attention",
                                                      "additive+gate",
                                                      "--dropout",
                                                      "0.5",
                                                      "--lr",
                                                      "5e-4",
                                                      "--warmup",
                                                      "300",
                                                      "--epochs",
                                                      "8",
                                                      "--out",
                                                      "flickr8k-lstm16.safetensors",
                                                      "--data-parallel",
                                                      "1",
                                                      "--print-recipe"}));
  EXPECT_EQ(printed(glimpse_in(d.path(),
                               {"train", "--recipe", recipes + "flickr8k.json", "--print-recipe"})),
            flickr8k);
  EXPECT_EQ(flickr8k["backbone_weights"], "/S/models/mobilenet_v2_imagenet.safetensors");
}

// The answer-only recipe learns from answers and captions alone: no objective reads a box.
TEST(CliRecipe, TheAnswerOnlyRecipeUsesNoBoxDerivedObjective) {
  TempDir d;
  const json r = printed(glimpse_in(
      d.path(),
      {"train", "--recipe", std::string(GLIMPSE_SOURCE_DIR) + "/recipes/shapes-answers-only.json",
       "--print-recipe"}));
  ASSERT_EQ(r["objectives"].size(), 1u) << r.dump(1);
  EXPECT_EQ(r["objectives"][0]["name"], "cross_entropy");
  EXPECT_EQ(r["model"]["fusion"]["kind"], "film");
  EXPECT_EQ(r["model"]["blind"], false);
  EXPECT_EQ(r["data"]["train"][0]["dir"], "world12w");
}

// --attention and --dropout go to the decoder chosen; the other keeps its defaults, and neither
// decoder's attention is rewritten into the other's.
TEST(CliRecipe, AttentionAndDropoutFlagsGoToTheChosenDecoderOnly) {
  TempDir d;
  auto decoder = [&](std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"train", "--data", "w"});
    flags.push_back("--print-recipe");
    return printed(glimpse_in(d.path(), flags))["model"]["decoder"];
  };
  json t = decoder({"--decoder", "transformer"});
  EXPECT_EQ(t["attention"], "cross:4");
  EXPECT_EQ(t["dropout"], 0.1);
  t = decoder({"--decoder", "transformer", "--dropout", "0.3", "--attention", "multihead:2"});
  EXPECT_EQ(t["attention"], "multihead:2");
  EXPECT_EQ(t["dropout"], 0.3);
  json l = decoder({});
  EXPECT_EQ(l["kind"], "lstm");
  EXPECT_EQ(l["attention"], "additive+gate");
  EXPECT_EQ(l["dropout"], 0.5);
  l = decoder({"--dropout", "0.2", "--attention", "general"});
  EXPECT_EQ(l["attention"], "general");
  EXPECT_EQ(l["dropout"], 0.2);
  const auto r = glimpse_in(d.path(), {"train", "--data", "w", "--decoder", "gru"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--decoder: gru not in {lstm,transformer}"), std::string::npos) << r.err;
}

// A tiny world, exported in the VQA v2 and COCO formats, and a recipe over it.
class RecipeRun : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [split, count] : {std::pair{"train", "8"}, std::pair{"dev", "3"}}) {
      const auto r = run_glimpse({"world", "--out", d_.file("w"), "--count", count, "--split",
                                  split, "--image-size", "32", "--seed", "2"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  json tiny_recipe(const json& train, const json& dev, const json& tasks) const {
    return {{"data", {{"train", {train}}, {"dev", {dev}}}},
            {"model",
             {{"tasks", tasks},
              {"encoder",
               {{"kind", "small_cnn"}, {"width", 4}, {"depth", 2}, {"grid_h", 4}, {"grid_w", 4}}},
              {"decoder",
               {{"kind", "lstm"}, {"embed_dim", 8}, {"hidden_dim", 16}, {"attention_dim", 8}}},
              {"image", {{"width", 32}, {"height", 32}}}}},
            {"optimisation", {{"epochs", 2}, {"batch_size", 8}, {"warmup_steps", 2}}},
            {"evaluation", {{"eval_images", 3}}},
            {"output", {{"out", d_.file("m.safetensors")}}}};
  }
  json vqa_source(const std::string& split) const {
    return {{"format", "vqa_v2"},
            {"questions", d_.file("w/questions_" + split + ".json")},
            {"annotations", d_.file("w/annotations_" + split + ".json")},
            {"images", d_.file("w/images")},
            {"image_pattern", split + "_{id}.png"}};
  }
  json coco_source(const std::string& split) const {
    return {{"format", "coco_captions"},
            {"captions", d_.file("w/captions_" + split + ".json")},
            {"images", d_.file("w/images")}};
  }
  std::string write_recipe(const json& recipe) const {
    write_bytes(d_.file("r.json"), recipe.dump(1));
    return d_.file("r.json");
  }
  std::map<std::string, std::string> training_facts() const {
    const auto file = core::SafetensorsFile::open(d_.file("m.safetensors")).take();
    const auto config = json::parse(file.metadata().at("glimpse"));
    return config["training"].get<std::map<std::string, std::string>>();
  }
  TempDir d_;
};

TEST_F(RecipeRun, TrainsOnAVqaV2FolderWithoutCaptionsAndEvalScoresIt) {
  fs::remove(d_.file("w/captions_train.json"));
  fs::remove(d_.file("w/captions_dev.json"));
  const std::string recipe =
      write_recipe(tiny_recipe(vqa_source("train"), vqa_source("dev"), {"vqa"}));
  auto r = run_glimpse({"--threads", "1", "train", "--recipe", recipe, "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("trained 8 steps"), std::string::npos) << r.out;  // 4 an epoch
  const auto facts = training_facts();
  const json stored = json::parse(facts.at("recipe"));
  EXPECT_EQ(stored["data"]["train"][0]["format"], "vqa_v2");
  EXPECT_EQ(facts.at("data"), "vqa_v2 " + d_.file("w/questions_train.json"));
  r = run_glimpse({"eval", "--model", d_.file("m.safetensors"), "--vqa-questions",
                   d_.file("w/questions_dev.json"), "--vqa-annotations",
                   d_.file("w/annotations_dev.json"), "--images", d_.file("w/images"),
                   "--image-pattern", "dev_{id}.png", "--json", "--no-attention"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json scored = json::parse(r.out);
  EXPECT_EQ(scored["images"], 3);
  EXPECT_GT(scored["questions"].get<int>(), 0);
  EXPECT_GE(scored["vqa_accuracy"].get<double>(), 0.0);
  EXPECT_LE(scored["vqa_accuracy"].get<double>(), 1.0);
  // The same questions named without their pattern are refused, saying what to give.
  r = run_glimpse({"eval", "--model", d_.file("m.safetensors"), "--vqa-questions",
                   d_.file("w/questions_dev.json"), "--vqa-annotations",
                   d_.file("w/annotations_dev.json"), "--images", d_.file("w/images")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "glimpse: the dataset: a vqa_v2 source names its image files by one of "
            "--image-pattern (e.g. \"COCO_train2014_{id12}.jpg\") or --coco-images (a COCO "
            "captions file)\n");
}

TEST_F(RecipeRun, ATrainedFilmModelAnswersAndEvalSetsTheAnswerPriorBesideIt) {
  json recipe = tiny_recipe(vqa_source("train"), vqa_source("dev"), {"caption", "vqa"});
  recipe["data"]["train"][0] = {{"format", "world"}, {"dir", d_.file("w")}, {"split", "train"}};
  recipe["data"]["dev"][0] = {{"format", "world"}, {"dir", d_.file("w")}, {"split", "dev"}};
  recipe["model"]["fusion"] = {{"kind", "film"}, {"blocks", 1}, {"channels", 6}};
  auto r = run_glimpse({"--threads", "1", "train", "--recipe", write_recipe(recipe), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto file = core::SafetensorsFile::open(d_.file("m.safetensors")).take();
  EXPECT_EQ(file.entries().count("fusion.blocks.0.to_film.weight"), 1u);
  EXPECT_EQ(json::parse(file.metadata().at("glimpse"))["fusion"]["channels"], 6);
  r = run_glimpse({"eval", "--model", d_.file("m.safetensors"), "--data", d_.file("w"), "--split",
                   "dev", "--prior-split", "train", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  const json& prior = j["answer_prior"];
  EXPECT_EQ(prior["training_questions"], 48);  // 8 training scenes, 6 questions each
  EXPECT_GE(prior["accuracy"].get<double>(), 0.0);
  EXPECT_LE(prior["accuracy"].get<double>(), 1.0);
  int scored = 0;
  for (const auto& [family, by] : prior["by_type"].items())
    scored += by["questions"].get<int>();
  EXPECT_EQ(scored, j["questions"].get<int>());
  // A source without splits needs its training data named.
  r = run_glimpse({"eval", "--model", d_.file("m.safetensors"), "--vqa-questions",
                   d_.file("w/questions_dev.json"), "--vqa-annotations",
                   d_.file("w/annotations_dev.json"), "--images", d_.file("w/images"),
                   "--image-pattern", "dev_{id}.png", "--prior-split", "train"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "glimpse: --prior-split: a vqa_v2 source has no splits; give the training data with "
            "--prior-source JSON\n");
  r = run_glimpse({"eval", "--model", d_.file("m.safetensors"), "--vqa-questions",
                   d_.file("w/questions_dev.json"), "--vqa-annotations",
                   d_.file("w/annotations_dev.json"), "--images", d_.file("w/images"),
                   "--image-pattern", "dev_{id}.png", "--no-attention", "--prior-source",
                   vqa_source("train").dump()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("answer prior "), std::string::npos) << r.out;
}

TEST_F(RecipeRun, TrainsOnACocoCaptionsFileAndMixesSourcesByWeight) {
  json recipe = tiny_recipe(coco_source("train"), coco_source("dev"), {"caption"});
  auto r = run_glimpse({"--threads", "1", "train", "--recipe", write_recipe(recipe), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int captions_only = steps(r.out);
  EXPECT_EQ(captions_only, 8) << r.out;  // 4 an epoch: two images fill a step of 8 captions
  // Captions from the COCO file and questions from the VQA v2 files, the questions' images
  // read twice an epoch: more steps.
  json vqa = vqa_source("train");
  vqa["weight"] = 2;
  recipe["data"]["train"].push_back(vqa);
  recipe["model"]["tasks"] = {"caption", "vqa"};
  r = run_glimpse({"--threads", "1", "train", "--recipe", write_recipe(recipe), "--quiet", "--out",
                   d_.file("mixed.safetensors")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("model written to " + d_.file("mixed.safetensors")), std::string::npos)
      << r.out;
  EXPECT_GT(steps(r.out), captions_only + 4) << r.out;
}

TEST_F(RecipeRun, ResumeRefusesAChangedLossWeightNamingTheKey) {
  const std::string recipe =
      write_recipe(tiny_recipe(coco_source("train"), coco_source("dev"), {"caption"}));
  auto r = run_glimpse({"--threads", "1", "train", "--recipe", recipe, "--stop-after", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("stopped after step 1"), std::string::npos) << r.out;
  r = run_glimpse({"--threads", "1", "train", "--recipe", recipe, "--resume", "--set",
                   "objectives.0.weight=2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "glimpse: --resume: the run in '" + d_.file("m.safetensors.ckpt") +
                       "' was made with objectives.0.weight = 1.0, not 2.0; resume with the "
                       "recipe it started with (only output.* and backbone_weights may change), "
                       "or start a new run with another output.out\n");
  // What may change: the log.
  r = run_glimpse({"--threads", "1", "train", "--recipe", recipe, "--resume", "--quiet", "--set",
                   "output.log=" + d_.file("other.log")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(d_.file("other.log")));
}

TEST_F(RecipeRun, RefusesFlagsBesideARecipeAndKeysItDoesNotKnow) {
  json recipe = tiny_recipe(coco_source("train"), coco_source("dev"), {"caption"});
  const std::string path = write_recipe(recipe);
  auto r = run_glimpse({"train", "--recipe", path, "--epochs", "3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "glimpse: --epochs goes into the recipe with --recipe: give it as --set KEY=VALUE "
            "(glimpse train --print-recipe shows the keys)\n");
  r = run_glimpse({"train", "--recipe", path, "--set", "optimisation.epoch=3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "glimpse: '" + path +
                       "': recipe: optimisation.epoch is not a key of the recipe (a typo?): "
                       "remove it or see recipes/README.md\n");
  recipe["objectives"] = {{{"name", "attention_supervision"}, {"params", {{"power", 4}}}}};
  r = run_glimpse({"train", "--recipe", write_recipe(recipe)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "glimpse: '" + path +
                       "': objective 'attention_supervision' has no parameter 'power' (its "
                       "parameters: count_centres, each_head, heads_may_split, mentions, "
                       "pair_heads, reference_first, target_power)\n");
  // A source the format cannot read: its position in the recipe and what to give.
  recipe = tiny_recipe(coco_source("train"), {{"format", "karpathy"}, {"captions", "k.json"}},
                       {"caption"});
  r = run_glimpse({"train", "--recipe", write_recipe(recipe)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "glimpse: '" + path +
                       "': recipe: data.dev.0: a karpathy source needs \"images\" (it reads "
                       "captions, images, split)\n");
}

}  // namespace
}  // namespace glimpse::testing

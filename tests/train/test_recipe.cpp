// Recipes: what they resolve to, what they refuse, --set, the resume comparison, and the images of
// an epoch with weighted sources.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>

#include "glimpse/train/recipe.h"
#include "glimpse/train/training_set.h"
#include "test_util.h"
#include "tiny_model.h"

namespace glimpse::train {
namespace {

using nlohmann::json;

json minimal() {
  return json::parse(R"({
    "data": {"train": [{"format": "world", "dir": "w", "split": "train"}],
             "dev": [{"format": "world", "dir": "w", "split": "dev"}]}
  })");
}

// The message of the Error `f` throws ("" when it throws none).
template <class F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Recipe, AMinimalRecipeResolvesEveryKeyToItsDefault) {
  const Recipe r = Recipe::from_json(minimal());
  EXPECT_EQ(r.optimisation.epochs, 10);
  EXPECT_EQ(r.optimisation.batch_size, 32);
  EXPECT_DOUBLE_EQ(r.optimisation.lr, 1e-3);
  ASSERT_EQ(r.objectives.size(), 1u);
  EXPECT_EQ(r.objectives[0].name, "cross_entropy");
  EXPECT_EQ(r.model.encoder, fusion::EncoderKind::kSmallCnn);
  EXPECT_EQ(r.model.decoder, fusion::DecoderKind::kLstm);
  EXPECT_TRUE(r.captions());
  EXPECT_TRUE(r.questions());
  EXPECT_EQ(r.checkpoint_dir(), "model.safetensors.ckpt");
  const json all = r.to_json();
  EXPECT_EQ(all["data"]["train"][0], json::parse(R"({"format": "world", "dir": "w",
                                                     "split": "train", "weight": 1.0})"));
  // The resolved recipe reads back as itself.
  EXPECT_EQ(Recipe::from_json(all).to_json(), all);
}

TEST(Recipe, AModelSectionTakesTheDefaultsOfTheKindsItNames) {
  json j = minimal();
  j["model"] = json::parse(R"({"decoder": {"kind": "transformer", "layers": 3},
                               "tasks": ["vqa"]})");
  const Recipe r = Recipe::from_json(j);
  EXPECT_EQ(r.model.decoder, fusion::DecoderKind::kTransformer);
  EXPECT_EQ(r.model.transformer.layers, 3);
  EXPECT_EQ(r.model.transformer.heads, fusion::ModelConfig().transformer.heads);
  EXPECT_FALSE(r.captions());
  EXPECT_TRUE(r.questions());
}

TEST(Recipe, RefusesUnknownKeysWrongTypesAndRangesNamingTheKey) {
  auto refused = [](const char* patch) {
    json j = minimal();
    j.merge_patch(json::parse(patch));
    return refusal([&] { Recipe::from_json(j); });
  };
  EXPECT_EQ(refused(R"({"optimization": {"lr": 0.1}})"),
            "recipe: optimization is not a key of the recipe (a typo?): remove it or see "
            "recipes/README.md");
  EXPECT_EQ(refused(R"({"optimisation": {"lr": "fast"}})"),
            "recipe: optimisation.lr must be a number, not \"fast\"");
  EXPECT_EQ(refused(R"({"optimisation": {"epochs": 2.5}})"),
            "recipe: optimisation.epochs must be a whole number, not 2.5");
  EXPECT_EQ(refused(R"({"optimisation": {"epochs": 4294967297}})"),  // would wrap to 1 as an int
            "recipe: optimisation.epochs must be between 1 and 100000, not 4294967297");
  EXPECT_EQ(refused(R"({"optimisation": {"seed": -1}})"),
            "recipe: optimisation.seed must be a whole number, 0 or more, not -1");
  EXPECT_EQ(refused(R"({"optimisation": {"batch_size": 0}})"),
            "recipe: optimisation.batch_size must be between 1 and 100000, not 0");
  EXPECT_EQ(refused(R"({"model": {"decoder": {"hiden_dim": 8}}})"),
            "recipe: model.decoder.hiden_dim is not a key of the model (a typo?): remove it");
  EXPECT_EQ(refused(R"({"model": {"decoder": {"kind": "gru"}}})"),
            "recipe: model.decoder.kind: unknown decoder 'gru' (lstm or transformer)");
  // The model config's own refusal, whole (its message has a colon of its own).
  EXPECT_EQ(refused(R"({"model": {"format_version": 99}})"),
            "recipe: model: model format 99 was written by a newer glimpse; this build reads up "
            "to 1: upgrade glimpse");
  EXPECT_EQ(refused(R"({"model": {"image": {"width": 8}}})"),
            "recipe: model: image size must be 16..4096");
  EXPECT_EQ(refused(R"({"model": {"tasks": []}})"),
            "recipe: model.tasks is empty: give [\"caption\"], [\"vqa\"] or both");
  EXPECT_EQ(refused(R"({"objectives": [{"name": "focal"}]})"),
            "no objective named 'focal'; the objectives are attention_supervision, "
            "cross_entropy, doubly_stochastic, grounding");
  EXPECT_EQ(refused(R"({"objectives": [{"name": "grounding", "params": {"power": 2}}]})"),
            "objective 'grounding' has no parameter 'power' (its parameters: target_power)");
  EXPECT_EQ(refused(R"({"objectives": [{"name": "attention_supervision",
                                         "params": {"each_head": 1}}]})"),
            "objective 'attention_supervision': parameter 'each_head' must be true or false, "
            "not 1");
  EXPECT_EQ(refused(R"({"data": {"dev": []}})"),
            "recipe: data.dev is empty: list at least one data source to score after every "
            "epoch");
  EXPECT_EQ(refused(R"({"data": {"train": [{"format": "coco", "captions": "c.json"}]}})"),
            "recipe: data.train.0: unknown format 'coco': give one of world, flickr8k, "
            "coco_captions, karpathy, vqa_v2, daquar");
  EXPECT_EQ(refused(R"({"data": {"train": [{"format": "world", "dir": "w", "split": "train",
                                            "weight": 0}]}})"),
            "recipe: data.train.0: \"weight\" must be a number above 0 (how many times an epoch "
            "reads each image), not 0");
}

TEST(Recipe, ObjectiveParametersResolveToTheirDefaults) {
  const ObjectiveSpec s = resolve_objective({"grounding", 2.0, json::object()});
  EXPECT_EQ(s.params, json::parse(R"({"target_power": 1.0})"));
  // A whole number stands for the same double, so recipes that differ only so compare equal.
  EXPECT_EQ(resolve_objective({"grounding", 2.0, {{"target_power", 4}}}).params,
            resolve_objective({"grounding", 2.0, {{"target_power", 4.0}}}).params);
}

TEST(Recipe, SetWritesAnyKeyAsJsonOrAsAString) {
  json j = Recipe::from_json(minimal()).to_json();
  apply_set(j, "optimisation.lr=5e-4");
  apply_set(j, "output.out=m.safetensors");
  apply_set(j, "objectives.0.weight=2");
  apply_set(j, "objectives.1={\"name\": \"grounding\", \"weight\": 1}");
  apply_set(j, "data.train.0.weight=0.5");
  const Recipe r = Recipe::from_json(j);
  EXPECT_DOUBLE_EQ(r.optimisation.lr, 5e-4);
  EXPECT_EQ(r.output.out, "m.safetensors");
  EXPECT_DOUBLE_EQ(r.objectives[0].weight, 2.0);
  EXPECT_EQ(r.objectives[1].name, "grounding");
  EXPECT_DOUBLE_EQ(r.data.train[0].weight, 0.5);
  EXPECT_EQ(refusal([&] { apply_set(j, "optimisation.lr"); }),
            "--set 'optimisation.lr': write key=value, e.g. optimisation.lr=5e-4");
  EXPECT_EQ(refusal([&] { apply_set(j, "optimisaton.lr=1"); }),
            "--set optimisaton.lr: the recipe has no 'optimisaton'");
  EXPECT_EQ(refusal([&] { apply_set(j, "objectives.5.weight=1"); }),
            "--set objectives.5.weight: 'objectives.5' is not an index of a list of 2");
  EXPECT_EQ(refusal([&] { apply_set(j, "objectives.99999999999999999999999.weight=1"); }),
            "--set objectives.99999999999999999999999.weight: 'objectives.99999999999999999999999'"
            " is not an index of a list of 2");
  EXPECT_EQ(refusal([&] { apply_set(j, "optimisation.lr.x=1"); }),
            "--set optimisation.lr.x: 'optimisation.lr' is a value, not a section");
}

// A FiLM recipe shows its relational keys whether or not it has relational blocks, so --set can
// take the blocks away from a resolved recipe (and put them back) without a refusal.
TEST(Recipe, SetCanTurnTheRelationalBlocksOffAndOn) {
  json j = minimal();
  j["model"] = json::parse(R"({"fusion": {"kind": "film", "channels": 8, "relations": 1}})");
  json resolved = Recipe::from_json(j).to_json();
  apply_set(resolved, "model.fusion.relations=0");
  const Recipe off = Recipe::from_json(resolved);
  EXPECT_EQ(off.model.fusion.relations, 0);
  json again = off.to_json();
  EXPECT_EQ(again["model"]["fusion"]["relation_heads"], 4);
  apply_set(again, "model.fusion.relations=2");
  apply_set(again, "model.fusion.relation_pool=2");
  const Recipe on = Recipe::from_json(again);
  EXPECT_EQ(on.model.fusion.relations, 2);
  EXPECT_EQ(on.model.fusion.relation_pool, 2);
}

// No JSON can write a string that is not UTF-8 (the fuzzer found a --set value that made one):
// such a value is refused where it comes in, naming it.
TEST(Recipe, RefusesTextThatIsNotUtf8) {
  json j = Recipe::from_json(minimal()).to_json();
  EXPECT_EQ(refusal([&] { apply_set(j, "model.tasks=[\"v\xf1\"]"); }),
            "--set 'model.tasks=[\"v\xEF\xBF\xBD\"]' is not UTF-8 text: write it in UTF-8");
  j["output"]["out"] = "m\xff.safetensors";
  EXPECT_EQ(refusal([&] { Recipe::from_json(j); }),
            "recipe: output.out is not UTF-8 text ('m\xEF\xBF\xBD.safetensors'): write it in "
            "UTF-8");
}

TEST(Recipe, LoadExpandsEnvironmentVariablesAndNamesTheFile) {
  testing::TempDir d;
  setenv("GLIMPSE_TEST_ROOT", "/data/root", 1);
  json j = minimal();
  j["data"]["train"][0]["dir"] = "${GLIMPSE_TEST_ROOT}/w";
  testing::write_bytes(d.file("r.json"), j.dump());
  const Recipe r = Recipe::load(d.file("r.json"), {"optimisation.epochs=2"});
  EXPECT_EQ(r.data.train[0].dir, "/data/root/w");
  EXPECT_EQ(r.optimisation.epochs, 2);
  j["data"]["train"][0]["dir"] = "${GLIMPSE_NOT_SET_ANYWHERE}/w";
  testing::write_bytes(d.file("r.json"), j.dump());
  EXPECT_EQ(refusal([&] { Recipe::load(d.file("r.json")); }),
            "'" + d.file("r.json") +
                "': '${GLIMPSE_NOT_SET_ANYWHERE}/w' names ${GLIMPSE_NOT_SET_ANYWHERE}, an "
                "environment variable that is not set: set it, or write the path out");
  testing::write_bytes(d.file("r.json"), "{\"data\": ");
  EXPECT_NE(refusal([&] { Recipe::load(d.file("r.json")); }).find("' is not a JSON recipe ("),
            std::string::npos);
}

TEST(Recipe, ResumeComparesEveryKeyButTheOutput) {
  const json was = Recipe::from_json(minimal()).to_json();
  json now = was;
  now["output"]["out"] = "elsewhere.safetensors";
  now["backbone_weights"] = "other.safetensors";
  check_same_recipe(was, now, "ckpt");  // may change
  now["objectives"][0]["weight"] = 0.5;
  EXPECT_EQ(refusal([&] { check_same_recipe(was, now, "ckpt"); }),
            "--resume: the run in 'ckpt' was made with objectives.0.weight = 1.0, not 0.5; "
            "resume with the recipe it started with (only output.* and backbone_weights may "
            "change), or start a new run with another output.out");
  now = was;
  now["objectives"].push_back({{"name", "grounding"}, {"weight", 1.0}, {"params", json::object()}});
  EXPECT_EQ(refusal([&] { check_same_recipe(was, now, "ckpt"); }).substr(0, 70),
            "--resume: the run in 'ckpt' was made with objectives.1.name = \"(none)\"");
}

TEST(TrainingSet, EachEpochReadsEverySourceAsOftenAsItsWeightSays) {
  TrainingSet t;
  t.sources = {{0, 4, 1.0}, {4, 10, 0.5}, {10, 12, 2.0}};
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto images = epoch_images(t, 7, epoch);
    ASSERT_EQ(images.size(), 4u + 3u + 4u);
    for (size_t i = 0; i < 4; ++i)
      EXPECT_EQ(std::count(images.begin(), images.end(), i), 1);
    for (size_t i = 10; i < 12; ++i)
      EXPECT_EQ(std::count(images.begin(), images.end(), i), 2);
    size_t half = 0;
    for (size_t i = 4; i < 10; ++i) {
      const auto n = std::count(images.begin(), images.end(), i);
      EXPECT_LE(n, 1);
      half += static_cast<size_t>(n);
    }
    EXPECT_EQ(half, 3u);
  }
  // The half is chosen anew each epoch, from (seed, epoch).
  EXPECT_NE(epoch_images(t, 7, 0), epoch_images(t, 7, 1));
  EXPECT_EQ(epoch_images(t, 7, 1), epoch_images(t, 7, 1));
  // Weights of 1: every image once, in order (the steps are those of an unweighted run).
  t.sources = {{0, 3, 1.0}, {3, 5, 1.0}};
  EXPECT_EQ(epoch_images(t, 7, 0), (std::vector<size_t>{0, 1, 2, 3, 4}));
}

// captions_per_image keeps each image's first N captions (the question after them); the
// sources say which caption each sequence is.
TEST(TrainingSet, CaptionsPerImageKeepsTheFirstCaptionsOfEachImage) {
  json j = minimal();
  j["data"]["features"] = {"train.cache"};  // cached: no image is decoded
  j["data"]["captions_per_image"] = 2;
  Recipe r = Recipe::from_json(j);
  EXPECT_EQ(r.to_json()["data"]["captions_per_image"], 2);
  auto model = fusion::CaptionModel::create(testing::tiny_model_config("transformer", "cross:2"));
  data::Dataset set;
  set.images.resize(2);
  for (const char* c : {"a red circle", "a blue square", "two shapes"})
    set.images[0].captions.push_back({c, {}});
  set.images[1].captions.push_back({"one star", {}});
  set.images[0].questions.push_back({});
  set.images[0].questions.back().question = "what colour is the circle?";
  set.images[0].questions.back().answer = "red";
  const auto kept = prepare_images(r, set, *model.value(), false);
  ASSERT_EQ(kept[0].sequences.size(), 3u) << "two captions and the question";
  EXPECT_TRUE(kept[0].sources[1].caption);
  EXPECT_EQ(kept[0].sources[1].index, 1u);
  EXPECT_FALSE(kept[0].sources[2].caption);
  EXPECT_EQ(kept[1].sequences.size(), 1u) << "an image of fewer captions keeps them all";
  r.data.captions_per_image = 0;
  EXPECT_EQ(prepare_images(r, set, *model.value(), false)[0].sequences.size(), 4u) << "0: all";
  j["data"]["captions_per_image"] = -1;
  EXPECT_EQ(refusal([&] { Recipe::from_json(j); }),
            "recipe: data.captions_per_image must be between 0 and 1000, not -1");
}

}  // namespace
}  // namespace glimpse::train

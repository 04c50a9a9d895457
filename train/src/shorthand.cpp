#include "glimpse/train/shorthand.h"

#include <torch/torch.h>

#include <tuple>

#include "glimpse/train/checkpoint.h"

namespace glimpse::train {

using nlohmann::json;

namespace {

// The objectives the flags ask for, in the order their terms are summed.
std::vector<ObjectiveSpec> objectives_from_options(const TrainOptions& o,
                                                   const fusion::ModelConfig& config) {
  // The options that shape attention supervision need it on.
  for (const auto& [on, name, what] :
       {std::tuple{o.pair_heads, "--pair-heads", "divides attention supervision between heads"},
        std::tuple{o.reference_first, "--reference-first",
                   "divides attention supervision between layers"},
        std::tuple{o.supervise_mentions, "--supervise-mentions",
                   "is a part of attention supervision"},
        std::tuple{o.count_centres, "--count-centres", "is a part of attention supervision"}})
    if (on && o.attention_supervision <= 0)
      throw Error(
          ErrorCode::kInvalidArgument,
          std::string(name) + " " + what + ": give --attention-supervision a weight above 0");
  std::vector<ObjectiveSpec> specs = {{"cross_entropy", 1.0, json::object()}};
  if (config.decoder == fusion::DecoderKind::kLstm && o.doubly_stochastic > 0)
    specs.push_back({"doubly_stochastic", o.doubly_stochastic, json::object()});
  if (o.attention_supervision > 0)
    specs.push_back({"attention_supervision",
                     o.attention_supervision,
                     {{"target_power", o.target_power},
                      {"each_head", o.supervise_each_head},
                      {"heads_may_split", o.heads_may_split},
                      {"mentions", o.supervise_mentions},
                      {"pair_heads", o.pair_heads},
                      {"reference_first", o.reference_first},
                      {"count_centres", o.count_centres}}});
  if (o.grounding > 0)
    specs.push_back({"grounding", o.grounding, {{"target_power", o.target_power}}});
  return specs;
}

// The checks that name flags: each a message saying what to give instead.
void check_options(const TrainOptions& o) {
  if (o.epochs < 1 || o.batch_size < 1 || !(o.lr > 0))
    throw Error(ErrorCode::kInvalidArgument, "--epochs, --batch-size and --lr must be positive");
  if (!o.captions && !o.questions)
    throw Error(ErrorCode::kInvalidArgument, "train on captions, questions or both");
  if (o.train_dir.empty() == o.flickr8k_dir.empty())
    throw Error(ErrorCode::kInvalidArgument,
                "give one training set: a glimpse world folder (--data) or a Flickr8k folder "
                "(--flickr8k)");
  if (!o.dev_features.empty() && o.features.empty())
    throw Error(ErrorCode::kInvalidArgument,
                "--dev-features goes with --features (the training split's caches)");
}

data::DataSource source(const TrainOptions& o, const std::string& dir, const std::string& split) {
  data::DataSource s;
  s.format = o.flickr8k_dir.empty() ? "world" : "flickr8k";
  s.dir = dir;
  s.split = split;
  return s;
}

// The options checkpoints of earlier versions recorded: one missing from such a checkpoint was
// made with its default (the checkpoint predates it). Any other option a checkpoint lacks was
// not recorded then, and is taken as unchanged.
json recorded_defaults() {
  json all = legacy_run(TrainOptions{}), out = json::object();
  for (const char* key : {"epochs",
                          "batch_size",
                          "lr",
                          "warmup_steps",
                          "seed",
                          "max_train_images",
                          "captions",
                          "questions",
                          "train_dir",
                          "flickr8k_dir",
                          "features",
                          "max_caption_words",
                          "grounding",
                          "target_power",
                          "supervise_each_head",
                          "heads_may_split",
                          "pair_heads",
                          "reference_first",
                          "supervise_mentions",
                          "count_centres",
                          "train_split"})
    out[key] = all[key];
  return out;
}

}  // namespace

Recipe recipe_from_options(const TrainOptions& o, const fusion::ModelConfig& config) {
  check_options(o);
  Recipe r;
  const std::string root = o.flickr8k_dir.empty() ? o.train_dir : o.flickr8k_dir;
  r.data.train = {source(o, root, o.train_split)};
  r.data.dev = {source(o, o.dev_dir.empty() ? root : o.dev_dir, o.dev_split)};
  r.data.max_train_images = o.max_train_images;
  r.data.max_caption_words = o.max_caption_words;
  r.data.min_count = o.min_count;
  r.data.features = o.features;
  r.data.dev_features = o.dev_features;
  r.model = config;
  r.model.tasks.clear();
  if (o.captions)
    r.model.tasks.push_back("caption");
  if (o.questions)
    r.model.tasks.push_back("vqa");
  r.backbone_weights = o.backbone_weights;
  r.optimisation = {o.epochs, o.batch_size, o.lr, o.warmup_steps, o.clip, o.seed, o.data_parallel};
  r.objectives = objectives_from_options(o, config);  // resolved by from_json below
  r.eval_images = o.eval_images;
  r.output = {o.out, o.checkpoint_dir, o.log, o.checkpoint_every};
  return Recipe::from_json(r.to_json());  // checked as a recipe file is
}

json legacy_run(const TrainOptions& o) {
  return json{{"train_dir", o.train_dir},
              {"flickr8k_dir", o.flickr8k_dir},
              {"train_split", o.train_split},
              {"max_train_images", o.max_train_images},
              {"dev_dir", o.dev_dir},
              {"dev_split", o.dev_split},
              {"features", o.features},
              {"dev_features", o.dev_features},
              {"captions", o.captions},
              {"questions", o.questions},
              {"max_caption_words", o.max_caption_words},
              {"min_count", o.min_count},
              {"epochs", o.epochs},
              {"batch_size", o.batch_size},
              {"lr", o.lr},
              {"warmup_steps", o.warmup_steps},
              {"clip", o.clip},
              {"seed", o.seed},
              {"data_parallel", o.data_parallel > 0 ? o.data_parallel : torch::get_num_threads()},
              {"eval_images", o.eval_images},
              {"doubly_stochastic", o.doubly_stochastic},
              {"attention_supervision", o.attention_supervision},
              {"grounding", o.grounding},
              {"target_power", o.target_power},
              {"supervise_each_head", o.supervise_each_head},
              {"heads_may_split", o.heads_may_split},
              {"pair_heads", o.pair_heads},
              {"reference_first", o.reference_first},
              {"supervise_mentions", o.supervise_mentions},
              {"count_centres", o.count_centres}};
}

void check_legacy_run(const json& was, const json& now, const std::string& checkpoint_dir) {
  check_same_run(was, now, recorded_defaults(), checkpoint_dir);
}

}  // namespace glimpse::train

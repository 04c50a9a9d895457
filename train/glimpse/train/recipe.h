// A recipe: what is trained on what, in one JSON file, stored whole in every checkpoint and in
// the model file.
//
//   {
//     "data": {"train": [{"format": "world", "dir": "world", "split": "train"}],
//              "dev":   [{"format": "world", "dir": "world", "split": "dev"}]},
//     "model": {"encoder": {"kind": "small_cnn", "width": 32}, "decoder": {"kind": "transformer"}},
//     "optimisation": {"epochs": 10, "lr": 0.001},
//     "objectives": [{"name": "cross_entropy", "weight": 1}]
//   }
//
// Every key left out takes its default, and the resolved recipe (every key) is what is stored and
// compared. A key the recipe does not know is an error naming it. Sections:
//   data          train and dev sources (data/source.h), feature caches, vocabulary threshold
//   model         the model's shape, as a model file's config has it (tasks: what it learns)
//   optimisation  epochs, batch size, learning rate, warm-up, clipping, seed, data parallelism
//   objectives    the loss terms, each {name, weight, params} (objective.h)
//   evaluation    dev images per epoch
//   output        where the model, the checkpoints and the log go (may change on resume)
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "glimpse/data/source.h"
#include "glimpse/fusion/model_config.h"
#include "glimpse/train/objective.h"

namespace glimpse::train {

struct DataSection {
  std::vector<data::DataSource> train, dev;  // dev: scored after every epoch (at least one)
  int max_train_images = 0;    // the first N images of the training sources only (0 = all)
  int max_caption_words = 0;   // captions of at most this many words (0 = all)
  int captions_per_image = 0;  // the first N captions of each training image (0 = all)
  int min_count = 1;           // words seen fewer times become <unk>
  // Feature caches (glimpse features) of the training images, found by file name: the decoder
  // trains on them with the backbone frozen. A cache of mirrored images is flip augmentation.
  std::vector<std::string> features;
  std::string dev_features;
};

struct Optimisation {
  int epochs = 10;
  int batch_size = 32;  // sequences per step (whole images: all of an image's sequences at once)
  double lr = 1e-3;
  int warmup_steps = 100;  // linear warm-up, then cosine decay to 5% of lr
  double clip = 5.0;       // gradient norm clipping (0 = off)
  uint64_t seed = 1;
  int data_parallel = 0;  // parts of each step run at once (0 = the thread count; stored resolved)
};

struct OutputSection {
  std::string out = "model.safetensors";
  std::string checkpoint_dir;  // default: out + ".ckpt"
  std::string log;             // default: out + ".log.jsonl"
  int checkpoint_every = 200;  // steps (and every epoch's end)
};

struct Recipe {
  DataSection data;
  fusion::ModelConfig model;     // its vocabulary comes from the training data
  std::string backbone_weights;  // mobilenet_v2: the ImageNet weights a new encoder starts from
  Optimisation optimisation;
  std::vector<ObjectiveSpec> objectives = {{"cross_entropy", 1.0, nlohmann::json::object()}};
  int eval_images = 300;  // dev images scored after every epoch (0 = all)
  OutputSection output;

  bool captions() const;   // the model learns captions (model.tasks)
  bool questions() const;  // and answers
  std::string checkpoint_dir() const;
  std::string log_path() const;

  // Every key, resolved.
  nlohmann::json to_json() const;
  // Throws glimpse::Error (kInvalidArgument) naming the key that is unknown, of the wrong type
  // or out of range.
  static Recipe from_json(const nlohmann::json& j);
  // A recipe file (${NAME} in its strings replaced by the environment variable NAME, e.g.
  // ${GLIMPSE_SHARED_DIR}/data/flickr8k) with `sets` ("key=value", key a dotted path such as
  // optimisation.lr or objectives.1.weight; value JSON, or else a string) applied in order.
  static Recipe load(const std::string& path, const std::vector<std::string>& sets = {});
};

// Applies one "key=value" to a recipe's JSON; the key's parent must exist (an object or an
// array), its name is checked when the recipe is read.
void apply_set(nlohmann::json& recipe, const std::string& assignment);

// The keys of a recipe that may differ between a run and its resumption.
const std::vector<std::string>& resumable_keys();

// Refuses (kInvalidArgument) a resumption whose recipe differs from the checkpoint's in any key
// outside resumable_keys(), naming the key and both values.
void check_same_recipe(const nlohmann::json& was, const nlohmann::json& now,
                       const std::string& checkpoint_dir);

}  // namespace glimpse::train

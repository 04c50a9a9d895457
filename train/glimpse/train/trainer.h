// Training of a CaptionModel from a recipe (recipe.h): captions and questions of any mix of data
// sources in one stream.
//
//   auto recipe = Recipe::load("recipes/shapes.json", {"optimisation.epochs=2"});
//   auto report = train(recipe, RunOptions{}, progress).take();
//
// Every epoch ends with an evaluation on the dev sources (BLEU, CIDEr-D, VQA accuracy); the best
// model is kept. Checkpoints hold the model, the optimiser, the tensor library's RNG, the position
// in the data and the whole recipe, so a run killed at any point and resumed ends with the same
// weights as an uninterrupted one (same machine, same thread count, same data_parallel).
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/data/datasets.h"
#include "glimpse/data/feature_cache.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/train/attention_supervision.h"
#include "glimpse/train/evaluate.h"
#include "glimpse/train/recipe.h"
#include "glimpse/train/shorthand.h"

namespace glimpse::train {

// What a run does besides its recipe: none of it is compared on resume.
struct RunOptions {
  bool resume = false;       // continue from the latest checkpoint of the recipe's output
  int stop_after_steps = 0;  // stop (as if killed, after a checkpoint) after this many steps
  std::string command;       // recorded in the model file
  // The flags a run of `glimpse train` was given, flat (legacy_run), when it was given flags:
  // a checkpoint written before recipes resumes when they match what it recorded.
  nlohmann::json flags;
};

// The learning rate of step `step` (0-based) of `total`: linear warm-up to o.lr over
// o.warmup_steps, then cosine decay to 5% of it at the last step.
double learning_rate(const Optimisation& o, int64_t step, int64_t total);

struct Progress {
  int epoch = 0, epochs = 0;
  int64_t step = 0, steps_per_epoch = 0, global_step = 0, total_steps = 0;
  double loss = 0, lr = 0, examples_per_second = 0, eta_seconds = 0;
};

struct TrainReport {
  int64_t steps = 0;
  int64_t steps_this_run = 0;
  double step_seconds = 0;  // time inside the steps of this run (no evaluation, no loading)
  int epochs_done = 0;
  double seconds = 0;
  EvalReport best;
  int best_epoch = 0;
  bool stopped_early = false;  // stop_after_steps reached
};

using ProgressCallback = std::function<void(const Progress&)>;
using EpochCallback = std::function<void(int, const EvalReport&, bool)>;

// Builds the vocabulary from the training data, creates (or resumes) the recipe's model, trains,
// evaluates, writes the best model to recipe.output.out. `on_progress` is called after every
// step, `on_epoch(epoch, dev_report, is_best)` after every evaluation.
Result<TrainReport> train(const Recipe& recipe, const RunOptions& run,
                          const ProgressCallback& on_progress = {},
                          const EpochCallback& on_epoch = {});

// The same from the flags' shorthand (shorthand.h).
Result<TrainReport> train(const TrainOptions& options, const fusion::ModelConfig& config,
                          const ProgressCallback& on_progress = {},
                          const EpochCallback& on_epoch = {});

}  // namespace glimpse::train

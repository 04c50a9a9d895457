// Checkpoints: a folder per saved step (step-N/) holding the model, the optimizer, the tensor
// library's RNG, the grounding probe when there is one, and where the run is (state.json); the
// file LATEST names the current one and is rewritten last, so a run killed while saving resumes
// from the checkpoint before.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "glimpse/fusion/caption_model.h"
#include "glimpse/train/evaluate.h"

namespace glimpse::train {

// Where a run is, and what it must not change when resumed.
struct Position {
  int epoch = 0;
  int64_t step_in_epoch = 0, global_step = 0;
  double best = -1;
  int best_epoch = 0;
  EvalReport best_report;
  nlohmann::json run;  // the options that must not change on --resume
  double seconds = 0;  // training time of the runs before this one
};

// Writes step-<global_step>/ under `dir` (and whatever `save_more` writes into that folder), makes
// it LATEST and removes the one before.
void save_checkpoint(const std::string& dir, const fusion::CaptionModel& model,
                     torch::optim::Optimizer& opt, const Position& p, double elapsed,
                     const std::function<void(const std::string&)>& save_more);

// The folder of the latest checkpoint under `dir`, or "" when there is none.
std::string latest_checkpoint(const std::string& dir);

// The position saved in `checkpoint`, whose `run` is kept in the returned `run`'s place: the
// options of the run that wrote it.
Position read_position(const std::string& checkpoint);

// Refuses to resume when an option of `now` differs from the one the checkpoint was made with,
// naming it and both values. An option the checkpoint lacks counts with its value in `defaults`
// when it is there (the checkpoint predates the option), and is skipped when not (the version
// that wrote the checkpoint did not record it).
void check_same_run(const nlohmann::json& was, const nlohmann::json& now,
                    const nlohmann::json& defaults, const std::string& dir);

// Loads the optimizer's state and the tensor library's RNG from `checkpoint`.
void restore_optimizer_and_rng(const std::string& checkpoint, torch::optim::Optimizer& opt);

}  // namespace glimpse::train

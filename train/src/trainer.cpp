#include "glimpse/train/trainer.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "glimpse/core/file_util.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/train/checkpoint.h"
#include "glimpse/train/objective.h"
#include "glimpse/train/parallel_step.h"
#include "glimpse/train/step_plan.h"
#include "glimpse/train/training_set.h"
#include "glimpse/vision/imagenet.h"
#include "glimpse/vision/mobilenet_v2.h"

namespace glimpse::train {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double learning_rate(const Optimisation& o, int64_t step, int64_t total) {
  if (o.warmup_steps > 0 && step < o.warmup_steps)
    return o.lr * double(step + 1) / o.warmup_steps;
  const double t = total > o.warmup_steps + 1
                       ? double(step - o.warmup_steps) / double(total - o.warmup_steps - 1)
                       : 1.0;
  return o.lr * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * std::min(1.0, t))));
}

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The checks of a recipe that need its sections together: each a message saying what to give.
void check_recipe(const Recipe& r) {
  const bool cached = !r.data.features.empty();
  if (cached && r.model.encoder != fusion::EncoderKind::kMobileNetV2)
    throw Error(ErrorCode::kInvalidArgument,
                "feature caches are MobileNetV2 features: train them with --encoder mobilenet_v2 "
                "(model.encoder.kind in a recipe)");
  if (cached && r.model.mobilenet_trainable_from < vision::MobileNetV2::kBlocks)
    throw Error(ErrorCode::kInvalidArgument,
                "feature caches hold a frozen backbone's output: they cannot train its blocks "
                "(fine-tune from the images, without --features)");
}

// A model of the recipe with a vocabulary from the training data, its encoder starting from the
// backbone's ImageNet weights when it is a MobileNetV2 (their notice goes into the model).
std::shared_ptr<fusion::CaptionModel> new_model(const Recipe& r, const TrainingSet& train_set) {
  fusion::ModelConfig config = r.model;
  std::vector<std::vector<std::string>> sentences;
  for (const auto& img : train_set.set.images) {
    if (r.captions())
      for (const auto& c : img.captions)
        sentences.push_back(text::tokenize(c.text));
    if (r.questions())
      for (const auto& q : img.questions) {
        sentences.push_back(text::tokenize(q.question));
        sentences.push_back(text::tokenize(q.answer));
      }
  }
  config.vocabulary = text::Vocabulary::build(sentences, r.data.min_count).words();
  config.training["data"] = train_set.name;
  std::optional<core::SafetensorsFile> backbone;
  if (config.encoder == fusion::EncoderKind::kMobileNetV2) {
    if (r.backbone_weights.empty())
      throw Error(ErrorCode::kInvalidArgument,
                  "a mobilenet_v2 encoder starts from ImageNet weights: give their file");
    backbone = core::SafetensorsFile::open(r.backbone_weights).take();
    config.image = vision::preprocess_from_metadata(*backbone).take();
    const fs::path license = fs::path(r.backbone_weights).parent_path() / "LICENSE.mobilenet_v2";
    config.notice =
        "The image encoder's weights derive from Google's MobileNetV2 ImageNet weights "
        "(mobilenet_v2_1.0_224), licensed under the Apache License, Version 2.0 "
        "(http://www.apache.org/licenses/LICENSE-2.0); the decoder was trained by glimpse.";
    if (fs::exists(license))
      config.notice += "\n\n" + core::read_file(license.string());
  }
  torch::manual_seed(r.optimisation.seed);
  auto model = fusion::CaptionModel::create(config).take();
  if (backbone) {
    auto& mobilenet = dynamic_cast<vision::MobileNetV2&>(*model->net().encoder);
    if (auto st = mobilenet.load(*backbone); !st)
      throw Error(st.error().code, "'" + r.backbone_weights + "': " + st.error().message);
  }
  return model;
}

// Refuses to resume a checkpoint whose run differs: its whole recipe, or for a checkpoint from
// before recipes the flags it recorded.
void check_resumable(const json& was, const json& recipe, const RunOptions& run,
                     const std::string& dir) {
  // The stored recipe resolved anew: a key added since takes its default on both sides.
  if (was.contains("recipe_version"))
    return check_same_recipe(Recipe::from_json(was).to_json(), recipe, dir);
  if (run.flags.is_null())
    throw Error(ErrorCode::kInvalidArgument,
                "--resume: the checkpoint in '" + dir +
                    "' was written before recipes: resume it with the glimpse train flags it was "
                    "started with");
  check_legacy_run(was, run.flags, dir);
}

// The encoder's grid (cells across, down), from the first image.
cv::Size encoder_grid(fusion::CaptionModel& model, const std::vector<PreparedImage>& images) {
  if (images.empty())
    return {};
  torch::NoGradGuard no_grad;
  model.net().eval();
  const auto g = model.net().encode(vision::to_batch({images[0].image}, model.config().image));
  return cv::Size(static_cast<int>(g.grid_w), static_cast<int>(g.grid_h));
}

std::vector<torch::Tensor> trainable(fusion::CaptionNet& net) {
  std::vector<torch::Tensor> out;
  for (auto& p : net.parameters())
    if (p.requires_grad())
      out.push_back(p);
  return out;
}

void log_step(std::ostream& log, const Progress& p) {
  log << json{{"step", p.global_step},
              {"epoch", p.epoch},
              {"loss", p.loss},
              {"lr", p.lr},
              {"examples_per_second", p.examples_per_second}}
             .dump()
      << std::endl;  // flushed: the log is read while training runs
}

void log_epoch(std::ostream& log, int epoch, const EvalReport& ev) {
  log << json{{"epoch", epoch + 1},        {"dev_bleu", ev.bleu},
              {"dev_rouge_l", ev.rouge_l}, {"dev_bleu4", ev.bleu4()},
              {"dev_cider_d", ev.cider_d}, {"dev_vqa_accuracy", ev.vqa_accuracy},
              {"dev_images", ev.images}}
             .dump()
      << std::endl;
}

// One run of a recipe: built in the order that fixes every random draw (the model's weights, then
// the objectives' own), then stepped through its epochs.
class TrainingRun {
 public:
  TrainingRun(Recipe recipe, RunOptions run, const ProgressCallback& on_progress,
              const EpochCallback& on_epoch);
  TrainReport run();

 private:
  void open_model();
  void prepare();
  void make_optimizer();
  bool train_step(int epoch, int64_t step, const std::vector<std::vector<size_t>>& steps);
  void end_epoch(int epoch);
  void write_best(int epoch);
  void save() const;
  std::vector<std::vector<size_t>> steps_of(int epoch) const;

  Recipe r_;
  RunOptions run_;
  const ProgressCallback& on_progress_;
  const EpochCallback& on_epoch_;
  const Clock::time_point t0_ = Clock::now();
  TrainingSet train_;
  data::Dataset dev_;
  Position pos_;
  std::string resume_from_;
  std::shared_ptr<fusion::CaptionModel> model_;
  std::vector<FeatureView> views_;
  std::shared_ptr<data::FeatureCache> dev_cache_;
  std::vector<PreparedImage> prepared_;
  std::vector<size_t> sequences_;  // per image
  std::vector<std::unique_ptr<Objective>> objectives_;
  std::vector<torch::Tensor> net_params_, params_;
  std::unique_ptr<torch::optim::Adam> opt_;
  std::unique_ptr<ParallelStep> stepper_;
  int64_t total_steps_ = 0, run_steps_ = 0;
  std::ofstream log_;
  TrainReport report_;
  Clock::time_point last_ = Clock::now();
  double smoothed_step_ = 0;  // seconds, for the ETA
};

TrainingRun::TrainingRun(Recipe recipe, RunOptions run, const ProgressCallback& on_progress,
                         const EpochCallback& on_epoch)
    : r_(std::move(recipe)), run_(std::move(run)), on_progress_(on_progress), on_epoch_(on_epoch) {
  check_recipe(r_);
  if (r_.optimisation.data_parallel <= 0)  // recorded resolved: it shapes the steps
    r_.optimisation.data_parallel = torch::get_num_threads();
  train_ = load_training_set(r_.data);
  dev_ = load_dev_set(r_.data);
  open_model();
  prepare();
  make_optimizer();
  log_.open(r_.log_path(), std::ios::app);
}

// The model: from the latest checkpoint, or new with a vocabulary from the training data.
void TrainingRun::open_model() {
  pos_.run = r_.to_json();
  const std::string dir = r_.checkpoint_dir();
  resume_from_ = run_.resume ? latest_checkpoint(dir) : "";
  if (run_.resume && resume_from_.empty())
    throw Error(ErrorCode::kNotFound,
                "--resume: no checkpoint in '" + dir + "' (is --out the same as before?)");
  if (resume_from_.empty()) {
    model_ = new_model(r_, train_);
    return;
  }
  model_ = fusion::CaptionModel::load(resume_from_ + "/model.safetensors").take();
  const json now = pos_.run;
  pos_ = read_position(resume_from_);
  check_resumable(pos_.run, now, run_, dir);
  pos_.run = now;
}

// The images' sequences (and decoded pixels), the feature views, and the objectives' targets.
void TrainingRun::prepare() {
  views_ = open_views(r_.data, train_.set, *model_);
  const bool mirrored = std::any_of(views_.begin(), views_.end(),
                                    [](const FeatureView& v) { return v.cache->info().mirrored; });
  dev_cache_ = open_dev_cache(r_.data, *model_);
  prepared_ = prepare_images(r_, train_.set, *model_, mirrored);
  size_t sequences = 0;
  for (const auto& p : prepared_) {
    sequences_.push_back(p.sequences.size());
    sequences += p.sequences.size();
  }
  if (sequences == 0)
    throw Error(ErrorCode::kInvalidArgument, "'" + train_.name + "' has nothing to train on");
  const bool cached = !r_.data.features.empty();
  const TrainingData data{train_.set, prepared_,
                          *model_,    train_.name,
                          cached,     cached ? cv::Size() : encoder_grid(*model_, prepared_)};
  for (const auto& spec : r_.objectives)
    objectives_.push_back(make_objective(spec));
  for (auto& objective : objectives_)
    objective->prepare(data);
  for (int e = 0; e < r_.optimisation.epochs; ++e)
    total_steps_ += static_cast<int64_t>(steps_of(e).size());
}

// Adam over the model's trainable tensors, then the objectives' own (a probe), restored from the
// checkpoint when resuming.
void TrainingRun::make_optimizer() {
  net_params_ = trainable(model_->net());
  params_ = net_params_;
  for (auto& objective : objectives_) {
    auto own = objective->parameters(*model_);
    if (!own.empty() && !resume_from_.empty())
      objective->load(resume_from_);
    for (auto& t : own) {
      t.set_requires_grad(true);
      params_.push_back(t);
    }
  }
  opt_ =
      std::make_unique<torch::optim::Adam>(params_, torch::optim::AdamOptions(r_.optimisation.lr));
  if (!resume_from_.empty())
    restore_optimizer_and_rng(resume_from_, *opt_);
  stepper_ = std::make_unique<ParallelStep>(*model_, objectives_, net_params_,
                                            r_.optimisation.data_parallel);
}

std::vector<std::vector<size_t>> TrainingRun::steps_of(int epoch) const {
  const auto& o = r_.optimisation;
  return epoch_steps(sequences_, epoch_images(train_, o.seed, epoch), o.batch_size, o.seed, epoch);
}

TrainReport TrainingRun::run() {
  report_.best_epoch = pos_.best_epoch;
  for (int epoch = pos_.epoch; epoch < r_.optimisation.epochs; ++epoch) {
    const auto steps = steps_of(epoch);
    const auto n = static_cast<int64_t>(steps.size());
    for (int64_t step = (epoch == pos_.epoch ? pos_.step_in_epoch : 0); step < n; ++step)
      if (!train_step(epoch, step, steps)) {  // stopped after stop_after_steps
        report_.steps = pos_.global_step;
        report_.epochs_done = epoch;
        report_.stopped_early = true;
        report_.seconds = seconds_since(t0_);
        return report_;
      }
    end_epoch(epoch);
  }
  report_.steps = pos_.global_step;
  report_.best_epoch = pos_.best_epoch;
  report_.best = pos_.best_report;
  report_.seconds = pos_.seconds + seconds_since(t0_);
  return report_;
}

// One step, logged and reported, checkpointed when due; false when the run stops after it.
bool TrainingRun::train_step(int epoch, int64_t step,
                             const std::vector<std::vector<size_t>>& steps) {
  const auto start = Clock::now();
  const auto& images = steps[static_cast<size_t>(step)];
  size_t step_sequences = 0;
  for (size_t i : images)
    step_sequences += sequences_[i];
  opt_->zero_grad();
  const double loss =
      stepper_->run({prepared_, views_, r_.optimisation.seed}, images, epoch, pos_.global_step);
  const double lr = learning_rate(r_.optimisation, pos_.global_step, total_steps_);
  if (r_.optimisation.clip > 0)
    torch::nn::utils::clip_grad_norm_(params_, r_.optimisation.clip);
  for (auto& group : opt_->param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  opt_->step();

  ++pos_.global_step;
  ++run_steps_;
  pos_.epoch = epoch;
  pos_.step_in_epoch = step + 1;
  report_.step_seconds += seconds_since(start);
  ++report_.steps_this_run;
  const double dt = seconds_since(last_);
  last_ = Clock::now();
  smoothed_step_ = run_steps_ == 1 ? dt : 0.9 * smoothed_step_ + 0.1 * dt;
  const Progress p{epoch + 1,
                   r_.optimisation.epochs,
                   step + 1,
                   static_cast<int64_t>(steps.size()),
                   pos_.global_step,
                   total_steps_,
                   loss,
                   lr,
                   dt > 0 ? double(step_sequences) / dt : 0,
                   smoothed_step_ * double(total_steps_ - pos_.global_step)};
  log_step(log_, p);
  if (on_progress_)
    on_progress_(p);
  const bool stop = run_.stop_after_steps > 0 && run_steps_ >= run_.stop_after_steps;
  const int every = r_.output.checkpoint_every;
  if (stop || (every > 0 && pos_.global_step % every == 0))
    save();
  return !stop;
}

// The end of an epoch: evaluates on dev, keeps the best model, checkpoints.
void TrainingRun::end_epoch(int epoch) {
  EvalOptions eo;
  eo.max_images = r_.eval_images;
  eo.features = dev_cache_;
  eo.workers = r_.optimisation.data_parallel;
  model_->net().eval();
  const EvalReport ev = evaluate(*model_, dev_, eo).take();
  log_epoch(log_, epoch, ev);
  const bool better = ev.selection() > pos_.best;
  if (better) {
    pos_.best = ev.selection();
    pos_.best_epoch = epoch + 1;
    report_.best = ev;
    pos_.best_report = ev;
    write_best(epoch);
  }
  if (on_epoch_)
    on_epoch_(epoch + 1, ev, better);
  pos_.epoch = epoch + 1;
  pos_.step_in_epoch = 0;
  save();
  report_.epochs_done = epoch + 1;
}

// Writes the model, the best so far, with its dev figures and the recipe it was trained by.
void TrainingRun::write_best(int epoch) {
  const auto& ev = pos_.best_report;
  model_->set_metrics({{"dev_bleu4", ev.bleu4()},
                       {"dev_cider_d", ev.cider_d},
                       {"dev_vqa_accuracy", ev.vqa_accuracy}});
  model_->set_training_fact("command", run_.command);
  model_->set_training_fact("recipe", pos_.run.dump());
  model_->set_training_fact(
      "epoch", std::to_string(epoch + 1) + " of " + std::to_string(r_.optimisation.epochs));
  model_->set_training_fact(
      "seconds", std::to_string(static_cast<int64_t>(pos_.seconds + seconds_since(t0_))));
  model_->save(r_.output.out, /*fp16=*/true).throw_if_error();
}

void TrainingRun::save() const {
  save_checkpoint(r_.checkpoint_dir(), *model_, *opt_, pos_, seconds_since(t0_),
                  [&](const std::string& dir) {
                    for (const auto& objective : objectives_)
                      objective->save(dir);
                  });
}

}  // namespace

Result<TrainReport> train(const Recipe& recipe, const RunOptions& run,
                          const ProgressCallback& on_progress, const EpochCallback& on_epoch) {
  return catch_as_result([&] { return TrainingRun(recipe, run, on_progress, on_epoch).run(); });
}

Result<TrainReport> train(const TrainOptions& options, const fusion::ModelConfig& config,
                          const ProgressCallback& on_progress, const EpochCallback& on_epoch) {
  return catch_as_result([&] {
    RunOptions run;
    run.resume = options.resume;
    run.stop_after_steps = options.stop_after_steps;
    run.command = options.command;
    run.flags = legacy_run(options);
    return train(recipe_from_options(options, config), run, on_progress, on_epoch).take();
  });
}

}  // namespace glimpse::train

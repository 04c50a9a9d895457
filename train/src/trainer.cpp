#include "glimpse/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <tuple>

#include "glimpse/core/file_util.h"
#include "glimpse/core/parallel.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/fusion/attention.h"
#include "glimpse/fusion/overlay.h"
#include "glimpse/text/caption_metrics.h"
#include "glimpse/text/decoder.h"
#include "glimpse/text/sequence.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/text/vqa_accuracy.h"
#include "glimpse/train/checkpoint.h"
#include "glimpse/train/objective.h"
#include "glimpse/train/parallel_step.h"
#include "glimpse/train/step_plan.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/vision/imagenet.h"
#include "glimpse/vision/mobilenet_v2.h"
#include "glimpse/vision/preprocess.h"

namespace glimpse::train {

using nlohmann::json;
namespace fs = std::filesystem;

double learning_rate(const TrainOptions& o, int64_t step, int64_t total) {
  if (o.warmup_steps > 0 && step < o.warmup_steps)
    return o.lr * double(step + 1) / o.warmup_steps;
  const double t = total > o.warmup_steps + 1
                       ? double(step - o.warmup_steps) / double(total - o.warmup_steps - 1)
                       : 1.0;
  return o.lr * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * std::min(1.0, t))));
}

namespace {

// Every option of a run that shapes what it trains, as its checkpoints record it: resuming
// refuses a change to any of them. Only these may change between a run and its resumption: out,
// checkpoint_dir, log, checkpoint_every, stop_after_steps, command and backbone_weights (the
// backbone is in the checkpoint). data_parallel is recorded resolved (0: the thread count).
json run_options(const TrainOptions& o) {
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

// The options the checkpoints of earlier versions recorded: one missing from such a checkpoint
// was made with its default (the checkpoint predates it). Any other option a checkpoint lacks
// was not recorded then, and is taken as unchanged.
json recorded_defaults() {
  json all = run_options(TrainOptions{}), out = json::object();
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

data::Dataset load_split(const TrainOptions& o, const std::string& dir, const std::string& split) {
  if (!o.flickr8k_dir.empty())
    return data::load_flickr8k(dir + "/captions.txt", dir + "/" + split + "_images.txt",
                               dir + "/images")
        .take();
  return data::load_world_folder(dir, split).take();
}

// The objectives the flags of glimpse train ask for, in the order their terms are summed.
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
  if (config.decoder == "lstm" && o.doubly_stochastic > 0)
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

std::vector<FeatureView> open_views(const TrainOptions& o, const data::Dataset& set,
                                    const fusion::CaptionModel& model,
                                    const std::string& backbone) {
  std::vector<FeatureView> views;
  const int64_t channels = model.net().encoder->channels();
  for (const auto& path : o.features) {
    FeatureView v;
    v.cache = data::FeatureCache::open(path).take();
    const auto& info = v.cache->info();
    if (info.backbone != backbone || info.channels != channels)
      throw Error(ErrorCode::kInvalidArgument,
                  "the feature cache '" + path + "' holds " + info.backbone + " features (" +
                      std::to_string(info.channels) + " channels), not the model's " + backbone +
                      " (" + std::to_string(channels) + ")");
    v.rows = data::cache_rows(*v.cache, "'" + path + "'", set, set.images.size());
    views.push_back(std::move(v));
  }
  return views;
}

std::shared_ptr<data::FeatureCache> open_dev_cache(const TrainOptions& o,
                                                   const std::string& backbone) {
  if (o.dev_features.empty())
    return nullptr;
  auto cache = data::FeatureCache::open(o.dev_features).take();
  if (cache->info().backbone != backbone || cache->info().mirrored)
    throw Error(ErrorCode::kInvalidArgument,
                "the dev feature cache '" + o.dev_features + "' holds " +
                    (cache->info().mirrored ? "mirrored " : "") + cache->info().backbone +
                    " features, not the model's " + backbone);
  return cache;
}

// One training image's sequences: its captions (up to max_caption_words words), then its
// questions with their answers, each also read for the mirrored image when `mirrored`.
PreparedImage prepare_image(const TrainOptions& o, const data::ImageEntry& img,
                            const text::Vocabulary& vocab, bool mirrored) {
  PreparedImage p;
  auto add = [&](text::Sequence seq, text::Sequence flipped, PreparedImage::Source source) {
    p.tokens += seq.tokens.size();
    p.sequences.push_back(std::move(seq));
    if (mirrored)
      p.mirrored.push_back(std::move(flipped));
    p.sources.push_back(source);
  };
  for (size_t c = 0; o.captions && c < img.captions.size(); ++c) {
    const auto words = text::tokenize(img.captions[c].text);
    if (o.max_caption_words > 0 && words.size() > static_cast<size_t>(o.max_caption_words))
      continue;
    add(text::caption_sequence(vocab, words),
        mirrored ? text::caption_sequence(vocab, mirrored_words(words)) : text::Sequence{},
        {true, c});
  }
  for (size_t q = 0; o.questions && q < img.questions.size(); ++q) {
    const auto question = text::tokenize(img.questions[q].question);
    const auto answer = text::tokenize(img.questions[q].answer);
    add(text::qa_sequence(vocab, question, answer),
        mirrored ? text::qa_sequence(vocab, mirrored_words(question), mirrored_words(answer))
                 : text::Sequence{},
        {false, q});
  }
  return p;
}

// Every training image: its sequences, and (without feature caches) the image decoded once at
// the model's input size.
std::vector<PreparedImage> prepare_images(const TrainOptions& o, const data::Dataset& set,
                                          const fusion::CaptionModel& model, bool cached,
                                          bool mirrored) {
  std::vector<PreparedImage> out;
  out.reserve(set.images.size());
  for (const auto& img : set.images) {
    out.push_back(prepare_image(o, img, model.vocabulary(), mirrored));
    if (cached)
      continue;
    const cv::Mat full = vision::load_image(img.path).take();
    out.back().size = full.size();
    out.back().image = vision::resize_for_model(full, model.config().image);
  }
  return out;
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

// A model of `config` with a vocabulary from the training data, its encoder starting from the
// backbone's ImageNet weights when it is a MobileNetV2 (their notice goes into the model).
std::shared_ptr<fusion::CaptionModel> new_model(const TrainOptions& o, fusion::ModelConfig config,
                                                const data::Dataset& train_set,
                                                const std::string& train_root) {
  std::vector<std::vector<std::string>> sentences;
  for (const auto& img : train_set.images) {
    if (o.captions)
      for (const auto& c : img.captions)
        sentences.push_back(text::tokenize(c.text));
    if (o.questions)
      for (const auto& q : img.questions) {
        sentences.push_back(text::tokenize(q.question));
        sentences.push_back(text::tokenize(q.answer));
      }
  }
  config.vocabulary = text::Vocabulary::build(sentences, o.min_count).words();
  config.training["data"] = train_root + " (" + o.train_split + ")";
  std::optional<core::SafetensorsFile> backbone;
  if (config.encoder == "mobilenet_v2") {
    if (o.backbone_weights.empty())
      throw Error(ErrorCode::kInvalidArgument,
                  "a mobilenet_v2 encoder starts from ImageNet weights: give their file");
    backbone = core::SafetensorsFile::open(o.backbone_weights).take();
    config.image = vision::preprocess_from_metadata(*backbone).take();
    const fs::path license = fs::path(o.backbone_weights).parent_path() / "LICENSE.mobilenet_v2";
    config.notice =
        "The image encoder's weights derive from Google's MobileNetV2 ImageNet weights "
        "(mobilenet_v2_1.0_224), licensed under the Apache License, Version 2.0 "
        "(http://www.apache.org/licenses/LICENSE-2.0); the decoder was trained by glimpse.";
    if (fs::exists(license))
      config.notice += "\n\n" + core::read_file(license.string());
  }
  torch::manual_seed(o.seed);
  auto model = fusion::CaptionModel::create(config).take();
  if (backbone) {
    auto& mobilenet = dynamic_cast<vision::MobileNetV2&>(*model->net().encoder);
    if (auto st = mobilenet.load(*backbone); !st)
      throw Error(st.error().code, "'" + o.backbone_weights + "': " + st.error().message);
  }
  return model;
}

// The checks of the options that need no data: each a message saying what to give instead.
void check_options(const TrainOptions& o, const fusion::ModelConfig& config) {
  if (o.epochs < 1 || o.batch_size < 1 || !(o.lr > 0))
    throw Error(ErrorCode::kInvalidArgument, "--epochs, --batch-size and --lr must be positive");
  if (!o.captions && !o.questions)
    throw Error(ErrorCode::kInvalidArgument, "train on captions, questions or both");
  if (o.train_dir.empty() == o.flickr8k_dir.empty())
    throw Error(ErrorCode::kInvalidArgument,
                "give one training set: a glimpse world folder (--data) or a Flickr8k folder "
                "(--flickr8k)");
  const bool cached = !o.features.empty();
  if (cached && config.encoder != "mobilenet_v2")
    throw Error(ErrorCode::kInvalidArgument,
                "feature caches are MobileNetV2 features: train them with --encoder mobilenet_v2");
  if (cached && config.mobilenet_trainable_from < vision::MobileNetV2::kBlocks)
    throw Error(ErrorCode::kInvalidArgument,
                "feature caches hold a frozen backbone's output: they cannot train its blocks "
                "(fine-tune from the images, without --features)");
  if (!o.dev_features.empty() && !cached)
    throw Error(ErrorCode::kInvalidArgument,
                "--dev-features goes with --features (the training split's caches)");
}

// Clips the gradients' norm (clip > 0), sets the learning rate and takes an Adam step.
void optimizer_step(torch::optim::Adam& opt, std::vector<torch::Tensor>& params, double clip,
                    double lr) {
  if (clip > 0)
    torch::nn::utils::clip_grad_norm_(params, clip);
  for (auto& group : opt.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  opt.step();
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

// The dev evaluation of an epoch's end, logged.
EvalReport evaluate_epoch(fusion::CaptionModel& model, const data::Dataset& dev,
                          const EvalOptions& eo, int epoch, std::ostream& log) {
  model.net().eval();
  const EvalReport ev = evaluate(model, dev, eo).take();
  log << json{{"epoch", epoch + 1},        {"dev_bleu", ev.bleu},
              {"dev_rouge_l", ev.rouge_l}, {"dev_bleu4", ev.bleu4()},
              {"dev_cider_d", ev.cider_d}, {"dev_vqa_accuracy", ev.vqa_accuracy},
              {"dev_images", ev.images}}
             .dump()
      << "\n";
  log.flush();
  return ev;
}

// Writes the model, the best so far, with its dev figures and how it was trained.
void write_best(fusion::CaptionModel& model, const TrainOptions& o, const Position& pos, int epoch,
                double seconds) {
  const auto& ev = pos.best_report;
  model.set_metrics({{"dev_bleu4", ev.bleu4()},
                     {"dev_cider_d", ev.cider_d},
                     {"dev_vqa_accuracy", ev.vqa_accuracy}});
  model.set_training_fact("command", o.command);
  model.set_training_fact("options", pos.run.dump());
  model.set_training_fact("epoch", std::to_string(epoch + 1) + " of " + std::to_string(o.epochs));
  model.set_training_fact("seconds", std::to_string(static_cast<int64_t>(seconds)));
  model.save(o.out, /*fp16=*/true).throw_if_error();
}

// The model of a checkpoint, and its position; refuses a run whose options differ (one written
// before an option existed was made with that option's default).
std::shared_ptr<fusion::CaptionModel> resumed_model(const std::string& checkpoint,
                                                    const std::string& dir, Position& pos) {
  auto model = fusion::CaptionModel::load(checkpoint + "/model.safetensors").take();
  const json now = pos.run;
  pos = read_position(checkpoint);
  check_same_run(pos.run, now, recorded_defaults(), dir);
  pos.run = now;
  return model;
}

std::vector<torch::Tensor> trainable(fusion::CaptionNet& net) {
  std::vector<torch::Tensor> out;
  for (auto& p : net.parameters())
    if (p.requires_grad())
      out.push_back(p);
  return out;
}

// The tensors the objectives train besides the model's, from the checkpoint when resuming.
std::vector<torch::Tensor> objective_parameters(std::vector<std::unique_ptr<Objective>>& objectives,
                                                const fusion::CaptionModel& model,
                                                const std::string& resume_from) {
  std::vector<torch::Tensor> out;
  for (auto& objective : objectives) {
    auto own = objective->parameters(model);
    if (!own.empty() && !resume_from.empty())
      objective->load(resume_from);
    for (auto& t : own) {
      t.set_requires_grad(true);
      out.push_back(t);
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> mirrored_words(std::vector<std::string> words) {
  for (auto& w : words)
    if (w == "left")
      w = "right";
    else if (w == "right")
      w = "left";
  return words;
}

Result<TrainReport> train(const TrainOptions& o, fusion::ModelConfig config,
                          const std::function<void(const Progress&)>& on_progress,
                          const std::function<void(int, const EvalReport&, bool)>& on_epoch) {
  return catch_as_result([&] {
    check_options(o, config);
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] {  // seconds of this run
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const std::string ckpt_dir = o.checkpoint_dir.empty() ? o.out + ".ckpt" : o.checkpoint_dir;
    const std::string log_path = o.log.empty() ? o.out + ".log.jsonl" : o.log;
    const std::string train_root = o.flickr8k_dir.empty() ? o.train_dir : o.flickr8k_dir;
    data::Dataset train_set = load_split(o, train_root, o.train_split);
    if (o.max_train_images > 0 && train_set.images.size() > static_cast<size_t>(o.max_train_images))
      train_set.images.resize(static_cast<size_t>(o.max_train_images));
    const data::Dataset dev_set =
        load_split(o, o.dev_dir.empty() ? train_root : o.dev_dir, o.dev_split);
    const bool cached = !o.features.empty();
    const std::vector<ObjectiveSpec> objective_specs = objectives_from_options(o, config);

    // The model: from the latest checkpoint, or new with a vocabulary from the training data.
    Position pos;
    pos.run = run_options(o);
    const std::string resume_from = o.resume ? latest_checkpoint(ckpt_dir) : "";
    if (o.resume && resume_from.empty())
      throw Error(ErrorCode::kNotFound,
                  "--resume: no checkpoint in '" + ckpt_dir + "' (is --out the same as before?)");
    const auto model = resume_from.empty() ? new_model(o, config, train_set, train_root)
                                           : resumed_model(resume_from, ckpt_dir, pos);
    auto& net = model->net();

    const std::string backbone_name = vision::MobileNetV2::features_name(
        model->config().mobilenet_output_stride, model->config().image.width,
        model->config().image.height);
    const std::vector<FeatureView> views = open_views(o, train_set, *model, backbone_name);
    const bool any_mirrored = std::any_of(
        views.begin(), views.end(), [](const FeatureView& v) { return v.cache->info().mirrored; });
    const auto dev_cache = open_dev_cache(o, backbone_name);
    const std::vector<PreparedImage> prepared =
        prepare_images(o, train_set, *model, cached, any_mirrored);
    size_t sequences = 0;
    std::vector<size_t> image_sequences(prepared.size());
    for (size_t i = 0; i < prepared.size(); ++i) {
      image_sequences[i] = prepared[i].sequences.size();
      sequences += image_sequences[i];
    }
    if (sequences == 0)
      throw Error(ErrorCode::kInvalidArgument, "'" + o.train_dir + "' has nothing to train on");
    const TrainingData training{train_set, prepared,
                                *model,    train_root,
                                cached,    cached ? cv::Size() : encoder_grid(*model, prepared)};
    std::vector<std::unique_ptr<Objective>> objectives;
    for (const auto& spec : objective_specs)
      objectives.push_back(make_objective(spec));
    for (auto& objective : objectives)
      objective->prepare(training);
    auto epoch_steps = [&](int epoch) {
      return train::epoch_steps(image_sequences, o.batch_size, o.seed, epoch);
    };
    int64_t total_steps = 0;
    for (int e = 0; e < o.epochs; ++e)
      total_steps += static_cast<int64_t>(epoch_steps(e).size());

    // The model's trainable tensors, then the objectives' own (a probe).
    const std::vector<torch::Tensor> net_params = trainable(net);
    std::vector<torch::Tensor> params = net_params;
    for (auto& t : objective_parameters(objectives, *model, resume_from))
      params.push_back(t);
    torch::optim::Adam opt(params, torch::optim::AdamOptions(o.lr));
    // Data parallelism: every step's decoder work cut into this many parts, run at once.
    const int shards = o.data_parallel > 0 ? o.data_parallel : torch::get_num_threads();
    if (!resume_from.empty())
      restore_optimizer_and_rng(resume_from, opt);
    auto save = [&](const Position& p) {
      save_checkpoint(ckpt_dir, *model, opt, p, elapsed(), [&](const std::string& dir) {
        for (const auto& objective : objectives)
          objective->save(dir);
      });
    };

    ParallelStep stepper(*model, objectives, net_params, shards);
    const StepSource source{prepared, views, o.seed};

    std::ofstream log(log_path, std::ios::app);
    TrainReport report;
    report.best_epoch = pos.best_epoch;
    int64_t run_steps = 0;
    auto last = std::chrono::steady_clock::now();
    double step_seconds = 0;
    for (int epoch = pos.epoch; epoch < o.epochs; ++epoch) {
      const auto steps = epoch_steps(epoch);
      const auto steps_per_epoch = static_cast<int64_t>(steps.size());
      for (int64_t step = (epoch == pos.epoch ? pos.step_in_epoch : 0); step < steps_per_epoch;
           ++step) {
        const auto step_start = std::chrono::steady_clock::now();
        const auto& step_images = steps[static_cast<size_t>(step)];
        size_t step_sequences = 0;
        for (size_t i : step_images)
          step_sequences += prepared[i].sequences.size();
        opt.zero_grad();
        const double step_loss = stepper.run(source, step_images, epoch, pos.global_step);
        const double lr = learning_rate(o, pos.global_step, total_steps);
        optimizer_step(opt, params, o.clip, lr);

        ++pos.global_step;
        ++run_steps;
        pos.epoch = epoch;
        pos.step_in_epoch = step + 1;
        const auto now = std::chrono::steady_clock::now();
        report.step_seconds += std::chrono::duration<double>(now - step_start).count();
        ++report.steps_this_run;
        const double dt = std::chrono::duration<double>(now - last).count();
        last = now;
        step_seconds = run_steps == 1 ? dt : 0.9 * step_seconds + 0.1 * dt;  // smoothed for the ETA
        Progress p;
        p.epoch = epoch + 1;
        p.epochs = o.epochs;
        p.step = step + 1;
        p.steps_per_epoch = steps_per_epoch;
        p.global_step = pos.global_step;
        p.total_steps = total_steps;
        p.loss = step_loss;
        p.lr = lr;
        p.examples_per_second = dt > 0 ? double(step_sequences) / dt : 0;
        p.eta_seconds = step_seconds * double(total_steps - pos.global_step);
        log_step(log, p);
        if (on_progress)
          on_progress(p);
        const bool stop = o.stop_after_steps > 0 && run_steps >= o.stop_after_steps;
        if (stop || (o.checkpoint_every > 0 && pos.global_step % o.checkpoint_every == 0))
          save(pos);
        if (stop) {
          report.steps = pos.global_step;
          report.epochs_done = epoch;
          report.stopped_early = true;
          report.seconds = elapsed();
          return report;
        }
      }
      // End of epoch: evaluate on dev, keep the best.
      EvalOptions eo;
      eo.max_images = o.eval_images;
      eo.features = dev_cache;
      eo.workers = shards;
      const EvalReport ev = evaluate_epoch(*model, dev_set, eo, epoch, log);
      const bool better = ev.selection() > pos.best;
      if (better) {
        pos.best = ev.selection();
        pos.best_epoch = epoch + 1;
        report.best = ev;
        pos.best_report = ev;
        write_best(*model, o, pos, epoch, pos.seconds + elapsed());
      }
      if (on_epoch)
        on_epoch(epoch + 1, ev, better);
      pos.epoch = epoch + 1;
      pos.step_in_epoch = 0;
      save(pos);
      report.epochs_done = epoch + 1;
    }
    report.steps = pos.global_step;
    report.best_epoch = pos.best_epoch;
    report.best = pos.best_report;
    report.seconds = pos.seconds + elapsed();
    return report;
  });
}

}  // namespace glimpse::train

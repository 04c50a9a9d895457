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

// One part of a step (data parallelism): its images are the step's [first, first + images).
struct Shard {
  int64_t first = 0, images = 0;
  std::vector<text::Sequence> seqs;
  std::vector<int64_t> image_index;  // per sequence, within the part
  text::SequenceBatch batch;
  double words = 0;  // target words
};

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

// A feature cache as a view of the training split: plain or mirrored.
struct View {
  std::shared_ptr<data::FeatureCache> cache;
  std::vector<size_t> rows;  // per training image
};

std::vector<View> open_views(const TrainOptions& o, const data::Dataset& set,
                             const fusion::CaptionModel& model, const std::string& backbone) {
  std::vector<View> views;
  const int64_t channels = model.net().encoder->channels();
  for (const auto& path : o.features) {
    View v;
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
    if (o.epochs < 1 || o.batch_size < 1 || !(o.lr > 0))
      throw Error(ErrorCode::kInvalidArgument, "--epochs, --batch-size and --lr must be positive");
    if (!o.captions && !o.questions)
      throw Error(ErrorCode::kInvalidArgument, "train on captions, questions or both");
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] {  // seconds of this run
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const std::string ckpt_dir = o.checkpoint_dir.empty() ? o.out + ".ckpt" : o.checkpoint_dir;
    const std::string log_path = o.log.empty() ? o.out + ".log.jsonl" : o.log;
    if (o.train_dir.empty() == o.flickr8k_dir.empty())
      throw Error(ErrorCode::kInvalidArgument,
                  "give one training set: a glimpse world folder (--data) or a Flickr8k folder "
                  "(--flickr8k)");
    const std::string train_root = o.flickr8k_dir.empty() ? o.train_dir : o.flickr8k_dir;
    data::Dataset train_set = load_split(o, train_root, o.train_split);
    if (o.max_train_images > 0 && train_set.images.size() > static_cast<size_t>(o.max_train_images))
      train_set.images.resize(static_cast<size_t>(o.max_train_images));
    const data::Dataset dev_set =
        load_split(o, o.dev_dir.empty() ? train_root : o.dev_dir, o.dev_split);
    const bool cached = !o.features.empty();
    if (cached && config.encoder != "mobilenet_v2")
      throw Error(ErrorCode::kInvalidArgument,
                  "feature caches are MobileNetV2 features: train them with --encoder "
                  "mobilenet_v2");
    if (cached && config.mobilenet_trainable_from < vision::MobileNetV2::kBlocks)
      throw Error(ErrorCode::kInvalidArgument,
                  "feature caches hold a frozen backbone's output: they cannot train its blocks "
                  "(fine-tune from the images, without --features)");
    const std::vector<ObjectiveSpec> objective_specs = objectives_from_options(o, config);
    if (!o.dev_features.empty() && !cached)
      throw Error(ErrorCode::kInvalidArgument,
                  "--dev-features goes with --features (the training split's caches)");

    // The model: from the latest checkpoint, or new with a vocabulary from the training data.
    std::shared_ptr<fusion::CaptionModel> model;
    Position pos;
    pos.run = run_options(o);
    const std::string resume_from = o.resume ? latest_checkpoint(ckpt_dir) : "";
    if (o.resume && resume_from.empty())
      throw Error(ErrorCode::kNotFound,
                  "--resume: no checkpoint in '" + ckpt_dir + "' (is --out the same as before?)");
    if (!resume_from.empty()) {
      model = fusion::CaptionModel::load(resume_from + "/model.safetensors").take();
      const json now = pos.run;
      pos = read_position(resume_from);
      // A checkpoint written before an option existed was made with that option's default.
      check_same_run(pos.run, now, recorded_defaults(), ckpt_dir);
      pos.run = now;
    } else {
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
        const fs::path license =
            fs::path(o.backbone_weights).parent_path() / "LICENSE.mobilenet_v2";
        config.notice =
            "The image encoder's weights derive from Google's MobileNetV2 ImageNet weights "
            "(mobilenet_v2_1.0_224), licensed under the Apache License, Version 2.0 "
            "(http://www.apache.org/licenses/LICENSE-2.0); the decoder was trained by glimpse.";
        if (fs::exists(license))
          config.notice += "\n\n" + core::read_file(license.string());
      }
      torch::manual_seed(o.seed);
      model = fusion::CaptionModel::create(config).take();
      if (backbone) {
        auto& mobilenet = dynamic_cast<vision::MobileNetV2&>(*model->net().encoder);
        if (auto st = mobilenet.load(*backbone); !st)
          throw Error(st.error().code, "'" + o.backbone_weights + "': " + st.error().message);
      }
    }
    auto& net = model->net();

    const std::string backbone_name = vision::MobileNetV2::features_name(
        model->config().mobilenet_output_stride, model->config().image.width,
        model->config().image.height);
    const std::vector<View> views = open_views(o, train_set, *model, backbone_name);
    const bool any_mirrored = std::any_of(views.begin(), views.end(),
                                          [](const View& v) { return v.cache->info().mirrored; });
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
    std::vector<torch::Tensor> params;
    for (auto& p : net.parameters())
      if (p.requires_grad())
        params.push_back(p);
    const std::vector<torch::Tensor> net_params = params;
    for (auto& objective : objectives) {
      auto own = objective->parameters(*model);
      if (!own.empty() && !resume_from.empty())
        objective->load(resume_from);
      for (auto& t : own) {
        t.set_requires_grad(true);
        params.push_back(t);
      }
    }
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
        // The step's images cut into parts of about equal numbers of tokens, one per shard.
        size_t step_sequences = 0;
        std::vector<size_t> step_tokens;
        for (size_t i : step_images) {
          step_sequences += prepared[i].sequences.size();
          step_tokens.push_back(prepared[i].tokens);
        }
        const size_t parts = std::min(static_cast<size_t>(shards), step_images.size());
        const auto part_of = step_parts(step_tokens, parts);
        std::vector<Shard> shard(parts);
        std::vector<cv::Mat> batch_images;
        std::vector<torch::Tensor> batch_features;
        for (auto& objective : objectives)
          objective->begin_step(parts);
        for (size_t j = 0; j < step_images.size(); ++j) {
          const size_t i = step_images[j];
          Shard& s = shard[part_of[j]];
          if (s.images == 0)
            s.first = static_cast<int64_t>(j);
          bool mirrored = false;
          if (cached) {
            const size_t v = mix(mix(o.seed, static_cast<uint64_t>(epoch)), i) % views.size();
            batch_features.push_back(views[v].cache->get(views[v].rows[i]));
            mirrored = views[v].cache->info().mirrored;
          } else {
            batch_images.push_back(prepared[i].image);
          }
          for (auto& objective : objectives)
            objective->add_image(part_of[j], i, j, static_cast<int64_t>(s.seqs.size()));
          for (const auto& seq : mirrored ? prepared[i].mirrored : prepared[i].sequences) {
            s.seqs.push_back(seq);
            s.image_index.push_back(s.images);
          }
          ++s.images;
        }
        // Each loss is a mean over the whole step (of target words, supervised positions,
        // sequences), so a part's share of it is weighted by its share of what is averaged.
        double words = 0;
        for (auto& s : shard) {
          s.batch = text::collate(s.seqs);
          s.words = s.batch.loss_mask.sum().item<double>();
          words += s.words;
        }
        net.train();
        torch::Tensor features;  // [I, N, C]
        text::AttentionContext grid_of;
        if (cached) {
          features = torch::stack(batch_features);
          grid_of.grid_h = views[0].cache->info().grid_h;
          grid_of.grid_w = views[0].cache->info().grid_w;
        } else {
          const auto g = net.encode(vision::to_batch(batch_images, model->config().image));
          features = g.features;
          grid_of.grid_h = g.grid_h;
          grid_of.grid_w = g.grid_w;
        }
        // The decoder runs on each part at once, from its images' features cut off the
        // encoder's graph; the encoder's gradient is then taken once, from theirs.
        const bool encoder_learns = features.requires_grad();
        std::vector<std::vector<torch::Tensor>> shard_grads(parts);
        std::vector<double> shard_loss(parts, 0.0);
        core::run_parallel(static_cast<int>(parts), [&](int part) {
          Shard& s = shard[static_cast<size_t>(part)];
          // Dropout draws from (seed, step, part): the same masks whichever thread runs first.
          core::ThreadGenerator rng(mix(mix(o.seed, static_cast<uint64_t>(pos.global_step)),
                                        static_cast<uint64_t>(part)));
          auto f = features.narrow(0, s.first, s.images);
          if (encoder_learns)
            f = f.detach().requires_grad_(true);
          const auto out = net.decoder->forward(f, torch::tensor(s.image_index, torch::kLong),
                                                grid_of, s.batch.input);
          const PartOutput po{out,
                              s.batch,
                              static_cast<size_t>(part),
                              s.words,
                              words,
                              static_cast<double>(s.seqs.size()),
                              static_cast<double>(step_sequences)};
          torch::Tensor loss;
          for (const auto& objective : objectives) {
            const auto term = objective->part_loss(po);
            if (term.defined())
              loss = loss.defined() ? loss + term : term;
          }
          if (!loss.defined())
            loss = out.logits.sum() * 0.0;  // no objective reads this part
          auto inputs = net_params;
          if (encoder_learns)
            inputs.push_back(f);
          shard_grads[static_cast<size_t>(part)] =
              torch::autograd::grad({loss}, inputs, {}, false, false, /*allow_unused=*/true);
          shard_loss[static_cast<size_t>(part)] = loss.item<double>();
        });
        opt.zero_grad();
        double step_loss = 0;
        for (double l : shard_loss)
          step_loss += l;
        // The encoder (and the objectives' own tensors) from the parts' feature gradients and
        // the terms on the whole step.
        std::vector<torch::Tensor> roots, root_grads;
        if (encoder_learns) {
          std::vector<torch::Tensor> pieces;
          for (size_t part = 0; part < parts; ++part) {
            const auto& g = shard_grads[part].back();
            pieces.push_back(g.defined() ? g
                                         : torch::zeros_like(features.narrow(0, shard[part].first,
                                                                             shard[part].images)));
          }
          roots.push_back(features);
          root_grads.push_back(torch::cat(pieces));
        }
        for (auto& objective : objectives) {
          const auto term = objective->step_loss(features);
          if (!term.defined())
            continue;
          step_loss += term.item<double>();
          roots.push_back(term);
          root_grads.push_back(torch::ones_like(term));
        }
        if (!roots.empty())
          torch::autograd::backward(roots, root_grads);
        // The decoder's gradient: the parts' summed in their order.
        for (size_t j = 0; j < net_params.size(); ++j) {
          torch::Tensor sum;
          for (const auto& g : shard_grads)
            if (g[j].defined())
              sum = sum.defined() ? sum + g[j] : g[j];
          if (!sum.defined())
            continue;
          auto& grad = net_params[j].mutable_grad();
          if (grad.defined())
            grad.add_(sum);
          else
            grad = sum.clone();  // not a view: zero_grad detaches it in place
        }
        if (o.clip > 0)
          torch::nn::utils::clip_grad_norm_(params, o.clip);
        const double lr = learning_rate(o, pos.global_step, total_steps);
        for (auto& group : opt.param_groups())
          static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
        opt.step();

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
        log << json{{"step", p.global_step},
                    {"epoch", p.epoch},
                    {"loss", p.loss},
                    {"lr", lr},
                    {"examples_per_second", p.examples_per_second}}
                   .dump()
            << std::endl;  // flushed: the log is read while training runs
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
      net.eval();
      EvalOptions eo;
      eo.max_images = o.eval_images;
      eo.features = dev_cache;
      eo.workers = shards;
      const EvalReport ev = evaluate(*model, dev_set, eo).take();
      log << json{{"epoch", epoch + 1},        {"dev_bleu", ev.bleu},
                  {"dev_rouge_l", ev.rouge_l}, {"dev_bleu4", ev.bleu4()},
                  {"dev_cider_d", ev.cider_d}, {"dev_vqa_accuracy", ev.vqa_accuracy},
                  {"dev_images", ev.images}}
                 .dump()
          << "\n";
      log.flush();
      const bool better = ev.selection() > pos.best;
      if (better) {
        pos.best = ev.selection();
        pos.best_epoch = epoch + 1;
        report.best = ev;
        pos.best_report = ev;
        model->set_metrics({{"dev_bleu4", ev.bleu4()},
                            {"dev_cider_d", ev.cider_d},
                            {"dev_vqa_accuracy", ev.vqa_accuracy}});
        model->set_training_fact("command", o.command);
        model->set_training_fact("options", pos.run.dump());
        model->set_training_fact("epoch",
                                 std::to_string(epoch + 1) + " of " + std::to_string(o.epochs));
        model->set_training_fact("seconds",
                                 std::to_string(static_cast<int64_t>(pos.seconds + elapsed())));
        model->save(o.out, /*fp16=*/true).throw_if_error();
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

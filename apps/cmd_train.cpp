// glimpse train: train a captioning + question-answering model on a dataset folder.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "common.h"
#include "glimpse/fusion/attention.h"
#include "glimpse/train/trainer.h"
#include "model_flags.h"

namespace glimpse::app {

namespace {

struct TrainCommandOptions {
  train::TrainOptions train;
  fusion::ModelConfig model = [] {
    fusion::ModelConfig m;
    m.small_cnn.coords = true;
    return m;
  }();
  ModelShape shape;  // image 128, grid 8
  std::string tasks = "caption,vqa";
  std::string recipe;             // a recipe file: the flags that shape the run are refused
  std::vector<std::string> sets;  // key=value over the recipe
  bool print_recipe = false;
  bool quiet = false;
};

// The flags a recipe file leaves to the command line: the rest would shape the run beside it.
bool allowed_with_recipe(const std::string& name) {
  for (const char* allowed : {"--recipe", "--set", "--out", "--resume", "--stop-after", "--quiet",
                              "--print-recipe", "--help"})
    if (name == allowed)
      return true;
  return false;
}

// The recipe the command stands for: the file with --set and --out over it, or the flags'.
train::Recipe command_recipe(CLI::App& cmd, TrainCommandOptions& o) {
  if (!o.recipe.empty()) {
    for (const CLI::Option* opt : cmd.get_options())
      if (opt->count() > 0 && !allowed_with_recipe(opt->get_name()))
        throw Error(ErrorCode::kInvalidArgument,
                    opt->get_name() +
                        " goes into the recipe with --recipe: give it as --set KEY=VALUE "
                        "(glimpse train --print-recipe shows the keys)");
    setenv("GLIMPSE_SHARED_DIR", shared_dir().c_str(), /*overwrite=*/0);
    nlohmann::json j = train::Recipe::load(o.recipe, o.sets).to_json();
    if (j["backbone_weights"] == "")
      j["backbone_weights"] = o.train.backbone_weights;
    if (cmd.count("--out") > 0)
      j["output"]["out"] = o.train.out;
    return train::Recipe::from_json(j);  // checks the paths given here as the file's
  }
  auto& t = o.train;
  auto& m = o.model;
  t.captions = o.tasks.find("caption") != std::string::npos;
  t.questions = o.tasks.find("vqa") != std::string::npos;
  apply_model_shape(o.shape, m);
  if (auto spec = fusion::parse_attention_spec(m.attention()); !spec)
    throw Error(ErrorCode::kInvalidArgument, spec.error().message);
  train::Recipe recipe = train::recipe_from_options(t, m);
  if (o.sets.empty())
    return recipe;
  nlohmann::json j = recipe.to_json();
  for (const auto& set : o.sets)
    train::apply_set(j, set);
  return train::Recipe::from_json(j);
}

std::string clock_text(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

// A one-line bar redrawn in place on a terminal; plain lines (one every ~5% of the run) otherwise.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(isatty(fileno(stderr)) != 0) {}
  void step(const train::Progress& p) {
    if (quiet_)
      return;
    const std::string figures = fmt::format(
        "epoch {}/{} step {}/{} loss {:.3f} lr {:.2e} {:.0f} seq/s ETA {}", p.epoch, p.epochs,
        p.step, p.steps_per_epoch, p.loss, p.lr, p.examples_per_second, clock_text(p.eta_seconds));
    if (tty_) {
      const int width = 24;
      const int done =
          static_cast<int>(width * p.global_step / std::max<int64_t>(1, p.total_steps));
      std::cerr << "\r[" << std::string(static_cast<size_t>(done), '#')
                << std::string(static_cast<size_t>(width - done), '.') << "] " << figures
                << "\033[K" << std::flush;
      dirty_ = true;
    } else if (p.global_step == 1 ||
               p.global_step * 20 / std::max<int64_t>(1, p.total_steps) !=
                   (p.global_step - 1) * 20 / std::max<int64_t>(1, p.total_steps)) {
      std::cout << figures << "\n" << std::flush;
    }
  }
  void epoch(int epoch, const train::EvalReport& r, bool best) {
    if (quiet_)
      return;
    if (dirty_)
      std::cerr << "\n";
    dirty_ = false;
    std::cout << fmt::format("epoch {} dev: {}  ({} images, {} questions){}", epoch, r.headline(),
                             r.images, r.questions, best ? "  best so far: saved" : "")
              << "\n"
              << std::flush;
  }

 private:
  bool quiet_, tty_, dirty_ = false;
};

}  // namespace

void add_train_command(CLI::App& app, CommonOptions& /*common*/, Action& action) {
  auto o = std::make_shared<TrainCommandOptions>();
  auto& to = o->train;
  auto& mo = o->model;
  CLI::App* cmd = app.add_subcommand(
      "train", "Train a model that captions images and answers questions about them");
  cmd->add_option("--recipe", o->recipe,
                  "A recipe file (JSON: data sources, model, optimisation, objectives; see "
                  "recipes/README.md): the run it describes")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", o->sets,
                  "KEY=VALUE over the recipe (or the flags' recipe), e.g. optimisation.lr=5e-4 or "
                  "objectives.0.weight=2; VALUE is JSON, or else a string");
  cmd->add_flag("--print-recipe", o->print_recipe,
                "Print the resolved recipe (of --recipe, or of the flags) and stop");
  cmd->add_option("--data", to.train_dir,
                  "Dataset folder in the layout glimpse world writes (captions_<split>.json, "
                  "questions_<split>.json, annotations_<split>.json, images/)");
  cmd->add_option("--flickr8k", to.flickr8k_dir,
                  "Or a Flickr8k folder: captions.txt, <split>_images.txt and images/");
  cmd->add_option("--features", to.features,
                  "Feature caches of the training split (glimpse features; give a --mirror one "
                  "too for flip augmentation): trains the decoder on the frozen backbone's "
                  "features")
      ->check(CLI::ExistingFile);
  cmd->add_option("--dev-features", to.dev_features,
                  "Feature cache of the dev split, for the evaluation after every epoch")
      ->check(CLI::ExistingFile);
  to.backbone_weights = shared_dir() + "/models/mobilenet_v2_imagenet.safetensors";
  cmd->add_option("--backbone-weights", to.backbone_weights,
                  "mobilenet_v2: the ImageNet weights the encoder starts from")
      ->capture_default_str();
  cmd->add_option("--max-caption-words", to.max_caption_words,
                  "Train on captions of at most this many words (0 = all)")
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--train-split", to.train_split, "Split to train on");
  cmd->add_option("--dev", to.dev_dir, "Dataset folder of the dev split (default: --data)");
  cmd->add_option("--dev-split", to.dev_split, "Split evaluated after every epoch");
  cmd->add_option("--out", to.out, "The best model (by dev VQA accuracy + BLEU-4) is written here");
  cmd->add_option("--checkpoint-dir", to.checkpoint_dir, "Checkpoints (default: OUT.ckpt)");
  cmd->add_option("--log", to.log, "JSONL log of every figure (default: OUT.log.jsonl)");
  cmd->add_option_function<std::string>(
         "--encoder",
         [&mo](const std::string& name) { mo.encoder = fusion::parse_encoder_kind(name).take(); },
         "Image encoder: small_cnn or mobilenet_v2")
      ->check(CLI::IsMember({"small_cnn", "mobilenet_v2"}));
  cmd->add_option("--output-stride", mo.mobilenet_output_stride,
                  "mobilenet_v2: 32 (a 7x7 grid at 224x224) or 16 (14x14, the same weights run "
                  "à trous); feature caches must be made with the same stride")
      ->check(CLI::IsMember(std::vector<int64_t>{32, 16}))
      ->capture_default_str();
  add_model_shape_flags(*cmd, mo, o->shape);
  cmd->add_option("--attention", o->shape.attention,
                  "Attention variant (see docs/attention.md), e.g. additive+gate, general, "
                  "multihead:4, general+local:2; for the transformer, its cross attention "
                  "(default: additive+gate for the lstm, cross:4 for the transformer)");
  cmd->add_option("--tasks", o->tasks, "What to train on: caption, vqa or caption,vqa")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            if (v == "caption" || v == "vqa" || v == "caption,vqa" || v == "vqa,caption")
              return "";
            return "'" + v + "' is not a task list: give caption, vqa or caption,vqa";
          },
          "caption|vqa|caption,vqa", "tasks"));
  cmd->add_option("--epochs", to.epochs, "Passes over the training split")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--batch-size", to.batch_size,
                  "Sequences per step (whole images: an image's captions and questions share a "
                  "step)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--lr", to.lr, "Peak learning rate (Adam)")->check(CLI::Range(1e-7, 1.0));
  cmd->add_option("--warmup", to.warmup_steps, "Linear warm-up steps, then cosine decay to 5%")
      ->check(CLI::Range(0, 10'000'000));
  cmd->add_option("--clip", to.clip, "Gradient norm clipping (0 = off)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--doubly-stochastic", to.doubly_stochastic,
                  "lstm: weight of the doubly stochastic attention penalty")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--attention-supervision", to.attention_supervision,
                  "Weight of attention supervision from the data's object boxes (Liu et al. "
                  "2017); 0 = off")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--grounding", to.grounding,
                  "Weight of word grounding: a probe on the encoder grid learns where each boxed "
                  "caption word is (needs the data's word boxes); 0 = off")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_flag("--supervise-each-head", to.supervise_each_head,
                "Attention supervision pulls every layer's every head onto the boxes, not only "
                "their average");
  cmd->add_flag("--heads-may-split", to.heads_may_split,
                "With --supervise-each-head: answers about several objects (counts, relations) "
                "supervise only the average, so heads may split between the objects");
  cmd->add_flag("--pair-heads", to.pair_heads,
                "Relation questions (the shapes world's) hold half of every layer's heads on "
                "the first object they name and half on the second");
  cmd->add_flag("--count-centres", to.count_centres,
                "Count questions (the shapes world's) hold the answer's attention on each counted "
                "object's centre cell, an equal share each, so a sink (+sink) can count");
  cmd->add_flag("--supervise-mentions", to.supervise_mentions,
                "Attention supervision also holds the attention at the last word of each "
                "question phrase that names one object (the shapes world's) on that object");
  cmd->add_flag("--reference-first", to.reference_first,
                "What-left questions (the shapes world's) hold the first layer's heads on the "
                "object they name and the later layers' on the answer");
  cmd->add_option("--target-power", to.target_power,
                  "Attention supervision and grounding pull each cell's attention in proportion "
                  "to (its share inside the box)^this: 1 spreads it over every cell the box "
                  "touches, larger values keep it inside the object")
      ->check(CLI::Range(1.0, 16.0))
      ->capture_default_str();
  cmd->add_option("--min-count", to.min_count, "Words seen fewer times become <unk>")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", to.seed, "Seed of the weights and of the data order");
  cmd->add_option("--checkpoint-every", to.checkpoint_every, "Steps between checkpoints")
      ->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--eval-images", to.eval_images, "Dev images evaluated per epoch (0 = all)")
      ->check(CLI::Range(0, 10'000'000));
  cmd->add_option("--data-parallel", to.data_parallel,
                  "Cut each step's images into this many parts whose decoder passes run at once, "
                  "one thread each (0 = as many as --threads, 1 = none)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  cmd->add_flag("--resume", to.resume,
                "Continue from the latest checkpoint, exactly (with the same --threads and "
                "--data-parallel)");
  cmd->add_option("--stop-after", to.stop_after_steps,
                  "Stop after this many steps in this run, checkpointed (0 = run to the end)")
      ->check(CLI::Range(0, 10'000'000));
  cmd->add_flag("--quiet", o->quiet, "No progress output");
  cmd->callback([o, cmd, &action] {
    action = [o, cmd]() -> int {
      std::optional<train::Recipe> recipe;
      try {
        recipe = command_recipe(*cmd, *o);
      } catch (const Error& e) {
        return report_error(e.what());
      }
      if (o->print_recipe) {
        std::cout << recipe->to_json().dump(2) << "\n";
        return 0;
      }
      train::RunOptions run;
      run.resume = o->train.resume;
      run.stop_after_steps = o->train.stop_after_steps;
      run.command = command_line();
      if (o->recipe.empty())
        run.flags = train::legacy_run(o->train);
      ProgressPrinter printer(o->quiet);
      auto r = train::train(
          *recipe, run, [&](const train::Progress& p) { printer.step(p); },
          [&](int e, const train::EvalReport& ev, bool best) { printer.epoch(e, ev, best); });
      if (!r)
        return report_error(r.error().message);
      const auto& rep = r.value();
      if (rep.stopped_early) {
        std::cout << fmt::format("stopped after step {} ({:.0f} s); continue with --resume\n",
                                 rep.steps, rep.seconds);
        return 0;
      }
      std::cout << fmt::format(
          "trained {} steps in {}; best epoch {}: dev {}; model written to {}\n", rep.steps,
          clock_text(rep.seconds), rep.best_epoch, rep.best.headline(), recipe->output.out);
      return 0;
    };
  });
}

}  // namespace glimpse::app

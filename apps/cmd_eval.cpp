// glimpse eval: every metric of a model on a dataset split, with attention correctness.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>

#include "common.h"
#include "glimpse/data/datasets.h"
#include "glimpse/train/trainer.h"
#include "source_flags.h"

namespace glimpse::app {

namespace {

struct EvalCommandOptions {
  std::string model;  // default: the Flickr8k model on Flickr8k, else the shapes model
  SourceFlags source;
  train::EvalOptions eval;
  bool json = false;
  bool no_attention = false;
};

}  // namespace

void add_eval_command(CLI::App& app, CommonOptions& /*common*/, Action& action) {
  auto o = std::make_shared<EvalCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Score a model on a dataset split: BLEU, ROUGE-L, CIDEr-D, VQA accuracy and "
      "attention correctness");
  cmd->add_option("--model", o->model,
                  "Model name (a file in models/) or path of a .safetensors model file "
                  "(default: flickr8k with --flickr8k, else shapes)");
  add_source_flags(*cmd, o->source, "test");
  cmd->add_option("--beam", o->eval.beam, "Beam width (1 = greedy)")->check(CLI::Range(1, 20));
  cmd->add_option("--length-penalty", o->eval.length_penalty,
                  "Beam search: scores are divided by length^this")
      ->check(CLI::Range(0.0, 5.0));
  cmd->add_option("--max-len", o->eval.max_len, "Most words a caption or answer may have")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--max-images", o->eval.max_images, "Score only the first N images (0 = all)")
      ->check(CLI::Range(0, 10'000'000));
  cmd->add_option("--batch-size", o->eval.batch_size, "Sequences generated together")
      ->check(CLI::Range(1, 4096));
  cmd->add_flag("--no-attention", o->no_attention, "Skip attention correctness");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->callback([o, &action] {
    action = [o]() -> int {
      if (o->model.empty())
        o->model = o->source.flickr8k.empty() ? kDefaultQuestionModel : kDefaultModel;
      auto path = resolve_model(o->model);
      if (!path)
        return report_error(path.error().message);
      auto model = fusion::CaptionModel::load(path.value());
      if (!model)
        return report_error(model.error().message);
      auto ds = [&] {
        QuietStderr quiet;
        auto source = source_from_flags(o->source);
        return source ? data::load_source(source.value()) : Result<data::Dataset>(source.error());
      }();
      if (!ds)
        return report_error(ds.error().message);
      o->eval.attention = !o->no_attention;
      o->eval.workers = torch::get_num_threads();  // batches at once, one thread each
      const auto t0 = std::chrono::steady_clock::now();
      auto r = [&] {
        QuietStderr quiet;
        return train::evaluate(*model.value(), ds.value(), o->eval);
      }();
      if (!r)
        return report_error(r.error().message);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto& e = r.value();
      if (o->json) {
        nlohmann::json by_type = nlohmann::json::object();
        for (const auto& [type, by] : e.vqa_by_type)
          by_type[type] = {{"accuracy", by.first}, {"questions", by.second}};
        nlohmann::json j = {{"model", path.value()},
                            {"images", e.images},
                            {"questions", e.questions},
                            {"beam", o->eval.beam},
                            {"length_penalty", o->eval.length_penalty},
                            {"bleu", e.bleu},
                            {"rouge_l", e.rouge_l},
                            {"cider_d", e.cider_d},
                            {"vqa_accuracy", e.vqa_accuracy},
                            {"seconds", seconds}};
        if (o->eval.attention)
          j["attention_correctness"] = {
              {"caption_words", e.caption_words},     {"caption", e.caption_attention},
              {"caption_uniform", e.caption_uniform}, {"answer_words", e.answer_words},
              {"answer", e.answer_attention},         {"answer_uniform", e.answer_uniform}};
        std::cout << j.dump(1) << "\n";
        return 0;
      }
      std::cout << fmt::format(
          "{} on {} images, {} questions; beam {}{}; {:.1f} s\n", path.value(), e.images,
          e.questions, o->eval.beam,
          o->eval.beam > 1 ? fmt::format(" (length penalty {})", o->eval.length_penalty) : "",
          seconds);
      if (e.questions > 0) {
        std::cout << fmt::format("  VQA accuracy           {:.2f}%\n", 100 * e.vqa_accuracy);
        for (const auto& [type, by] : e.vqa_by_type)
          std::cout << fmt::format("    {:<20} {:.2f}% of {}\n", type, 100 * by.first, by.second);
      }
      if (e.images > e.questions || e.bleu[0] > 0) {
        std::cout << fmt::format("  BLEU-1..4              {:.4f} {:.4f} {:.4f} {:.4f}\n",
                                 e.bleu[0], e.bleu[1], e.bleu[2], e.bleu[3]);
        std::cout << fmt::format("  ROUGE-L                {:.4f}\n", e.rouge_l);
        std::cout << fmt::format("  CIDEr-D                {:.4f}\n", e.cider_d);
      }
      if (o->eval.attention) {
        auto line = [](const char* what, int n, double value, double uniform) {
          if (n == 0)
            return fmt::format(
                "  attention correctness  - (no emitted {} word names a boxed object)\n", what);
          return fmt::format(
              "  attention correctness  {:.4f} over {} {} words (uniform attention: {:.4f})\n",
              value, n, what, uniform);
        };
        std::cout << line("caption", e.caption_words, e.caption_attention, e.caption_uniform)
                  << line("answer", e.answer_words, e.answer_attention, e.answer_uniform);
      }
      return 0;
    };
  });
}

}  // namespace glimpse::app

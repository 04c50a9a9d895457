// glimpse eval: every metric of a model on a dataset split, with attention correctness.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <optional>

#include "common.h"
#include "glimpse/core/file_util.h"
#include "glimpse/data/datasets.h"
#include "glimpse/text/wups.h"
#include "glimpse/train/answer_prior.h"
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
  std::string prior_split, prior_source;  // the answer prior's training data
  std::string predictions;                // where each question's answer goes, a line each
};

// One predicted answer a line, aligned with the evaluated questions (the format DAQUAR's
// calculate_wups.py reads).
Status write_predictions(const std::string& path, const std::vector<std::string>& answers) {
  std::string text;
  for (const auto& a : answers)
    text += a + "\n";
  try {
    core::write_file_atomic(path, text);
  } catch (const Error& e) {
    return ErrorInfo{e.code(), std::string("--predictions: ") + e.what()};
  }
  return {};
}

// The training data the answer prior is fitted on: the evaluated source at another split, or a
// source of its own; none when neither flag is given.
Result<std::optional<data::Dataset>> prior_data(const EvalCommandOptions& o,
                                                const data::DataSource& evaluated) {
  if (o.prior_split.empty() && o.prior_source.empty())
    return std::optional<data::Dataset>();
  data::DataSource s = evaluated;
  if (!o.prior_source.empty()) {
    try {
      s = data::source_from_json(nlohmann::json::parse(o.prior_source), "--prior-source");
    } catch (const nlohmann::json::exception& e) {
      return ErrorInfo{ErrorCode::kInvalidArgument,
                       std::string("--prior-source is not JSON: ") + e.what()};
    } catch (const Error& e) {
      return ErrorInfo{e.code(), e.what()};
    }
  } else if (!data::has_splits(s)) {
    return ErrorInfo{ErrorCode::kInvalidArgument,
                     "--prior-split: a " + s.format +
                         " source has no splits; give the training data with --prior-source JSON"};
  } else {
    s.split = o.prior_split;
  }
  QuietStderr quiet;
  auto ds = data::load_source(s);
  if (!ds)
    return ds.error();
  if (ds.value().question_count() == 0)
    return ErrorInfo{ErrorCode::kInvalidArgument,
                     "the answer prior's data (" + data::describe(s) + ") has no questions"};
  return std::optional<data::Dataset>(std::move(ds.value()));
}

void print_prior(const train::AnswerPrior& prior, const train::PriorReport& r) {
  std::cout << fmt::format(
      "  answer prior           {:.2f}% (each family's most frequent answer of {} training "
      "questions)\n",
      100 * r.accuracy, prior.trained_on());
  for (const auto& [type, by] : r.by_type)
    std::cout << fmt::format("    {:<20} {:.2f}% of {} ({})\n", type, 100 * by.first, by.second,
                             prior.answer_of(type));
}

// DAQUAR's figures (accuracy, WUPS@0.9, WUPS@0.0) of the scored questions, the model's and, when
// fitted, the question-type prior's; nullopt for another format.
struct DaquarFigures {
  text::DaquarReport model;
  std::optional<text::DaquarReport> prior;
};

Result<std::optional<DaquarFigures>> daquar_figures(
    const data::DataSource& source, const data::Dataset& ds, const train::EvalReport& e,
    const std::optional<train::AnswerPrior>& prior) {
  if (source.format != "daquar")
    return std::optional<DaquarFigures>();
  const auto wordnet = text::WordNetNouns::load(text::WordNetNouns::kDefaultDir);
  if (!wordnet)
    return wordnet.error();
  std::vector<std::string> truths, prior_answers;
  for (const auto& image : ds.images)
    for (const auto& q : image.questions)
      if (truths.size() < e.answers.size()) {
        truths.push_back(q.answer);
        if (prior)
          prior_answers.push_back(prior->answer(q));
      }
  DaquarFigures f{text::daquar_report(wordnet.value(), truths, e.answers), std::nullopt};
  if (prior)
    f.prior = text::daquar_report(wordnet.value(), truths, prior_answers);
  return std::optional<DaquarFigures>(f);
}

nlohmann::json daquar_json(const text::DaquarReport& r) {
  nlohmann::json j;
  for (const auto& [name, f] : {std::pair{"all", r.all}, std::pair{"single_word", r.single_word}})
    j[name] = {{"questions", f.questions},
               {"accuracy", f.accuracy},
               {"wups_0.9", f.wups_09},
               {"wups_0.0", f.wups_00}};
  return j;
}

void print_daquar(const char* whose, const text::DaquarReport& r) {
  std::cout << fmt::format("  {:<22} accuracy  WUPS@0.9  WUPS@0.0\n", whose);
  for (const auto& [name, f] :
       {std::pair{"all answers", r.all}, std::pair{"single-word answers", r.single_word}})
    std::cout << fmt::format("    {:<20} {:6.2f}%   {:6.2f}    {:6.2f}   of {}\n", name,
                             100 * f.accuracy, 100 * f.wups_09, 100 * f.wups_00, f.questions);
}

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
  cmd->add_option("--prior-split", o->prior_split,
                  "Also score the answer prior (each question family's most frequent answer) "
                  "fitted on this split of the same data, e.g. train");
  cmd->add_option("--prior-source", o->prior_source,
                  "The same, fitted on this data source (JSON, as a recipe's data.train entry)");
  cmd->add_flag("--json", o->json, "Print JSON");
  cmd->add_option("--predictions", o->predictions,
                  "Write each question's predicted answer to this file, one a line, in the "
                  "dataset's order");
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
      auto source = source_from_flags(o->source);
      if (!source)
        return report_error(source.error().message);
      auto ds = [&] {
        QuietStderr quiet;
        return data::load_source(source.value());
      }();
      if (!ds)
        return report_error(ds.error().message);
      auto prior_set = prior_data(*o, source.value());
      if (!prior_set)
        return report_error(prior_set.error().message);
      std::optional<train::PriorReport> prior_report;
      std::optional<train::AnswerPrior> prior;
      if (prior_set.value()) {
        prior = train::AnswerPrior::fit(*prior_set.value());
        prior_report = prior->score(ds.value(), o->eval.max_images);
      }
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
      auto daquar = daquar_figures(source.value(), ds.value(), e, prior);
      if (!daquar)
        return report_error(daquar.error().message);
      if (!o->predictions.empty())
        if (auto w = write_predictions(o->predictions, e.answers); !w.ok())
          return report_error(w.error().message);
      if (o->json) {
        nlohmann::json by_type = nlohmann::json::object();
        for (const auto& [type, by] : e.vqa_by_type)
          by_type[type] = {{"accuracy", by.first}, {"questions", by.second}};
        // A figure of a task not scored is null, not 0.
        auto scored = [](bool was, const auto& figure) {
          return was ? nlohmann::json(figure) : nlohmann::json();
        };
        nlohmann::json j = {{"model", path.value()},
                            {"images", e.images},
                            {"questions", e.questions},
                            {"beam", o->eval.beam},
                            {"length_penalty", o->eval.length_penalty},
                            {"captions", e.captions},
                            {"bleu", scored(e.captions > 0, e.bleu)},
                            {"rouge_l", scored(e.captions > 0, e.rouge_l)},
                            {"cider_d", scored(e.captions > 0, e.cider_d)},
                            {"vqa_accuracy", scored(e.questions > 0, e.vqa_accuracy)},
                            {"seconds", seconds}};
        if (prior) {
          const auto& pr = *prior_report;
          j["answer_prior"] = {{"accuracy", pr.accuracy},
                               {"training_questions", prior->trained_on()}};
          for (const auto& [type, by] : pr.by_type)
            j["answer_prior"]["by_type"][type] = {{"accuracy", by.first},
                                                  {"questions", by.second},
                                                  {"answer", prior->answer_of(type)}};
        }
        if (const auto& d = daquar.value()) {
          j["daquar"] = daquar_json(d->model);
          if (d->prior)
            j["daquar"]["question_type_prior"] = daquar_json(*d->prior);
        }
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
        if (prior)
          print_prior(*prior, *prior_report);
        if (const auto& d = daquar.value()) {
          print_daquar("DAQUAR", d->model);
          if (d->prior)
            print_daquar("question-type prior", *d->prior);
        }
      }
      if (e.captions > 0) {
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

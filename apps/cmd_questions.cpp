// glimpse questions: questions from captions (COCO-QA's method, caption_questions.h), written as
// VQA v2 JSON that a recipe's vqa_v2 source reads beside the photos.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "common.h"
#include "glimpse/core/file_util.h"
#include "glimpse/data/datasets.h"
#include "glimpse/text/caption_questions.h"

namespace glimpse::app {

namespace {

struct QuestionsCommandOptions {
  std::string flickr8k, out, wordnet = text::WordNetNouns::kDefaultDir;
  std::vector<std::string> splits = {"train", "dev"};
  int min_count = 5;
  double max_share = 0.03;
  uint64_t seed = 1;
};

struct Generated {
  size_t image;  // index in its split's dataset
  text::CaptionQuestion q;
};

// Every image's questions from all its captions, each distinct question once.
std::vector<Generated> generate(const text::CaptionQuestionMaker& maker, const data::Dataset& ds) {
  std::vector<Generated> out;
  for (size_t i = 0; i < ds.images.size(); ++i) {
    std::set<std::string> asked;
    for (const auto& c : ds.images[i].captions)
      for (auto& q : maker.questions(c.text))
        if (asked.insert(q.question).second)
          out.push_back({i, std::move(q)});
  }
  return out;
}

void write_split(const std::string& out, const std::string& split, const data::Dataset& ds,
                 const std::vector<Generated>& kept) {
  using nlohmann::json;
  json questions = json::array(), annotations = json::array(), images = json::array();
  for (const auto& image : ds.images)
    images.push_back(
        {{"id", image.id}, {"file_name", std::filesystem::path(image.path).filename().string()}});
  for (size_t k = 0; k < kept.size(); ++k) {
    const auto& g = kept[k];
    const int64_t image_id = ds.images[g.image].id;
    questions.push_back({{"question_id", k}, {"image_id", image_id}, {"question", g.q.question}});
    annotations.push_back({{"question_id", k},
                           {"image_id", image_id},
                           {"answers", json::array()},
                           {"multiple_choice_answer", g.q.answer},
                           {"answer_type", g.q.type},
                           {"family", g.q.type}});
    for (int h = 0; h < 10; ++h)  // ten agreeing "humans": VQA accuracy is exact match
      annotations.back()["answers"].push_back({{"answer", g.q.answer}});
  }
  const std::string base = out + "/";
  core::write_file_atomic(base + "questions_" + split + ".json",
                          json{{"questions", questions}}.dump());
  core::write_file_atomic(base + "annotations_" + split + ".json",
                          json{{"annotations", annotations}}.dump());
  core::write_file_atomic(base + "images_" + split + ".json", json{{"images", images}}.dump());
}

void print_split(const std::string& split, size_t captions, const std::vector<Generated>& made,
                 const std::vector<Generated>& kept) {
  std::map<std::string, int> by_type;
  std::set<std::string> answers;
  for (const auto& g : kept) {
    ++by_type[g.q.type];
    answers.insert(g.q.answer);
  }
  std::cout << fmt::format("{}: {} captions gave {} questions, {} kept ({} answers):", split,
                           captions, made.size(), kept.size(), answers.size());
  for (const auto& [type, n] : by_type)
    std::cout << fmt::format(" {} {} ({:.1f}%)", type, n,
                             100.0 * n / std::max<size_t>(1, kept.size()));
  std::cout << "\n";
}

int run(const QuestionsCommandOptions& o) {
  auto maker = text::CaptionQuestionMaker::load(o.wordnet);
  if (!maker)
    return report_error(maker.error().message);
  std::vector<data::Dataset> sets;
  std::vector<std::vector<Generated>> made;
  std::vector<std::string> answers;
  std::vector<bool> counted;
  for (const auto& split : o.splits) {
    auto ds = data::load_flickr8k(o.flickr8k + "/captions.txt",
                                  o.flickr8k + "/" + split + "_images.txt", o.flickr8k + "/images");
    if (!ds)
      return report_error(ds.error().message);
    made.push_back(generate(maker.value(), ds.value()));
    for (const auto& g : made.back()) {
      answers.push_back(g.q.answer);
      counted.push_back(sets.empty());  // the first split's answers decide what is kept
    }
    sets.push_back(std::move(ds).take());
  }
  const auto keep = text::prune_answers(answers, counted, o.min_count, o.max_share, o.seed);
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);
  size_t at = 0;
  for (size_t s = 0; s < sets.size(); ++s) {
    std::vector<Generated> kept;
    for (const auto& g : made[s])
      if (keep[at++])
        kept.push_back(g);
    try {
      write_split(o.out, o.splits[s], sets[s], kept);
    } catch (const Error& e) {
      return report_error(std::string("--out: ") + e.what());
    }
    print_split(o.splits[s], sets[s].caption_count(), made[s], kept);
  }
  return 0;
}

}  // namespace

void add_questions_command(CLI::App& app, CommonOptions& /*common*/, Action& action) {
  auto o = std::make_shared<QuestionsCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "questions",
      "Make object, number, colour and location questions from captions (COCO-QA's method) and "
      "write them as VQA v2 JSON");
  cmd->add_option("--flickr8k", o->flickr8k,
                  "A Flickr8k folder: captions.txt, <split>_images.txt and images/")
      ->required();
  cmd->add_option("--out", o->out,
                  "Output folder: questions_<split>.json, annotations_<split>.json and "
                  "images_<split>.json (the photos' file names) for each split")
      ->required();
  cmd->add_option("--splits", o->splits,
                  "Splits to make questions for; the first one's answers decide the pruning")
      ->delimiter(',');
  cmd->add_option("--min-count", o->min_count,
                  "Drop answers given fewer times than this in the first split")
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--max-share", o->max_share,
                  "An answer more frequent than this share of the first split's questions keeps "
                  "only that share of its questions")
      ->check(CLI::Range(0.0001, 1.0));
  cmd->add_option("--seed", o->seed, "Which of a too common answer's questions are kept");
  cmd->add_option("--wordnet", o->wordnet, "WordNet 3.0's database folder (wordnet-base)");
  cmd->callback([o, &action] { action = [o]() -> int { return run(*o); }; });
}

}  // namespace glimpse::app

// glimpse score: caption metrics (COCO results + annotations) or VQA accuracy (VQA v2 results,
// questions, annotations), computed as coco-caption and the official VQA evaluation do.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <map>
#include <set>

#include "common.h"
#include "glimpse/core/file_util.h"
#include "glimpse/text/caption_metrics.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/text/vqa_accuracy.h"

namespace glimpse::app {

namespace {

using nlohmann::json;

struct ScoreOptions {
  std::string results;
  std::string annotations;
  std::string questions;
  bool vqa = false;
  bool json_out = false;
};

[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "'" + path + "': " + what);
}

json read_json(const std::string& path) {
  const std::string text = core::read_file(path, 2ull << 30);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    bad_file(path, std::string("not valid JSON (") + e.what() + ")");
  }
}

// The array under `key` (or the document itself when it is an array and key is empty).
const json& array_of(const json& doc, const std::string& key, const std::string& path) {
  if (key.empty()) {
    if (!doc.is_array())
      bad_file(path, "expected a JSON array of results");
    return doc;
  }
  if (!doc.is_object() || !doc.contains(key) || !doc[key].is_array())
    bad_file(path, "expected an object with a \"" + key + "\" array");
  return doc[key];
}

template <class T>
T field(const json& entry, const char* name, size_t index, const std::string& path,
        const char* kind) {
  if (!entry.is_object() || !entry.contains(name))
    bad_file(path, std::string(kind) + " " + std::to_string(index) + " has no \"" + name + "\"");
  try {
    return entry[name].get<T>();
  } catch (const json::exception&) {
    bad_file(path, std::string(kind) + " " + std::to_string(index) + ": \"" + name +
                       "\" has the wrong type");
  }
}

// An id may be a number or a string in the wild; keep it as text.
std::string id_of(const json& entry, const char* name, size_t index, const std::string& path,
                  const char* kind) {
  if (!entry.is_object() || !entry.contains(name))
    bad_file(path, std::string(kind) + " " + std::to_string(index) + " has no \"" + name + "\"");
  const json& v = entry[name];
  if (v.is_number_integer())
    return std::to_string(v.get<int64_t>());
  if (v.is_string())
    return v.get<std::string>();
  bad_file(path,
           std::string(kind) + " " + std::to_string(index) + ": \"" + name + "\" is not an id");
}

int score_captions(const ScoreOptions& o) {
  const json res = read_json(o.results), ann = read_json(o.annotations);
  std::map<std::string, std::vector<std::string>> refs;
  const json& anns = array_of(ann, "annotations", o.annotations);
  for (size_t i = 0; i < anns.size(); ++i)
    refs[id_of(anns[i], "image_id", i, o.annotations, "annotation")].push_back(
        text::normalize_caption(
            field<std::string>(anns[i], "caption", i, o.annotations, "annotation")));
  const json& results = array_of(res, "", o.results);
  if (results.empty())
    bad_file(o.results, "holds no results");
  std::vector<std::string> cands;
  std::vector<std::vector<std::string>> ref_lists;
  std::set<std::string> seen;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string id = id_of(results[i], "image_id", i, o.results, "result");
    if (!seen.insert(id).second)
      bad_file(o.results, "result " + std::to_string(i) + ": image " + id +
                              " has a second caption; give one per image");
    auto it = refs.find(id);
    if (it == refs.end())
      bad_file(o.results, "result " + std::to_string(i) + ": image " + id +
                              " has no reference caption in '" + o.annotations + "'");
    cands.push_back(
        text::normalize_caption(field<std::string>(results[i], "caption", i, o.results, "result")));
    ref_lists.push_back(it->second);
  }
  const text::CaptionScores s = text::score_captions(cands, ref_lists);
  if (o.json_out) {
    json out = {{"images", cands.size()}, {"Bleu_1", s.bleu[0]}, {"Bleu_2", s.bleu[1]},
                {"Bleu_3", s.bleu[2]},    {"Bleu_4", s.bleu[3]}, {"ROUGE_L", s.rouge_l},
                {"CIDEr", s.cider_d}};
    std::cout << out.dump(1) << "\n";
  } else {
    std::cout << fmt::format(
        "images: {}\nBleu_1: {:.4f}\nBleu_2: {:.4f}\nBleu_3: {:.4f}\nBleu_4: {:.4f}\n"
        "ROUGE_L: {:.4f}\nCIDEr: {:.4f}\n",
        cands.size(), s.bleu[0], s.bleu[1], s.bleu[2], s.bleu[3], s.rouge_l, s.cider_d);
  }
  return 0;
}

int score_vqa(const ScoreOptions& o) {
  if (o.questions.empty())
    throw Error(ErrorCode::kInvalidArgument, "--vqa needs --questions (the VQA v2 questions file)");
  const json res = read_json(o.results), ann = read_json(o.annotations),
             qs = read_json(o.questions);
  const json& questions = array_of(qs, "questions", o.questions);
  std::set<std::string> question_ids;
  for (size_t i = 0; i < questions.size(); ++i)
    question_ids.insert(id_of(questions[i], "question_id", i, o.questions, "question"));
  struct Gt {
    std::vector<std::string> answers;
    std::string answer_type;
  };
  std::map<std::string, Gt> gts;
  const json& anns = array_of(ann, "annotations", o.annotations);
  for (size_t i = 0; i < anns.size(); ++i) {
    const std::string qid = id_of(anns[i], "question_id", i, o.annotations, "annotation");
    if (!question_ids.count(qid))
      bad_file(o.annotations, "annotation " + std::to_string(i) + ": question " + qid +
                                  " is not in '" + o.questions + "'");
    Gt g;
    g.answer_type = anns[i].contains("answer_type") && anns[i]["answer_type"].is_string()
                        ? anns[i]["answer_type"].get<std::string>()
                        : "all";
    const json& answers = anns[i].contains("answers") ? anns[i]["answers"] : json();
    if (!answers.is_array() || answers.empty())
      bad_file(o.annotations, "annotation " + std::to_string(i) + " has no \"answers\" array");
    for (size_t j = 0; j < answers.size(); ++j)
      g.answers.push_back(field<std::string>(answers[j], "answer", j, o.annotations, "answer"));
    gts[qid] = std::move(g);
  }
  const json& results = array_of(res, "", o.results);
  std::map<std::string, std::string> answered;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string qid = id_of(results[i], "question_id", i, o.results, "result");
    if (!gts.count(qid))
      bad_file(o.results,
               "result " + std::to_string(i) + ": question " + qid + " is not in the annotations");
    if (!answered.emplace(qid, field<std::string>(results[i], "answer", i, o.results, "result"))
             .second)
      bad_file(o.results,
               "result " + std::to_string(i) + ": question " + qid + " is answered twice");
  }
  if (answered.size() != gts.size()) {
    for (const auto& [qid, g] : gts)
      if (!answered.count(qid))
        bad_file(o.results, "answers " + std::to_string(answered.size()) + " of the " +
                                std::to_string(gts.size()) + " annotated questions; question " +
                                qid + " has no answer");
  }
  double total = 0;
  std::map<std::string, std::pair<double, int>> by_type;
  for (const auto& [qid, g] : gts) {
    const double acc = text::vqa_accuracy(answered[qid], g.answers);
    total += acc;
    by_type[g.answer_type].first += acc;
    by_type[g.answer_type].second += 1;
  }
  const double overall = 100.0 * total / static_cast<double>(gts.size());
  if (o.json_out) {
    json per = json::object();
    for (const auto& [t, v] : by_type)
      per[t] = 100.0 * v.first / v.second;
    std::cout << json{{"questions", gts.size()}, {"overall", overall}, {"perAnswerType", per}}.dump(
                     1)
              << "\n";
  } else {
    std::cout << fmt::format("questions: {}\noverall accuracy: {:.2f}\n", gts.size(), overall);
    for (const auto& [t, v] : by_type)
      std::cout << fmt::format("  {}: {:.2f} ({} questions)\n", t, 100.0 * v.first / v.second,
                               v.second);
  }
  return 0;
}

}  // namespace

void add_score_command(CLI::App& app, CommonOptions& /*common*/, Action& action) {
  auto o = std::make_shared<ScoreOptions>();
  CLI::App* cmd = app.add_subcommand("score",
                                     "Caption metrics (BLEU-1..4, ROUGE-L, CIDEr-D) as "
                                     "coco-caption computes them, or VQA accuracy "
                                     "as the official VQA evaluation does (--vqa)");
  cmd->add_option("--results", o->results,
                  "Results: COCO [{image_id, caption}] or VQA [{question_id, answer}]")
      ->required();
  cmd->add_option("--annotations", o->annotations,
                  "COCO captions annotations, or VQA v2 annotations")
      ->required();
  cmd->add_option("--questions", o->questions, "VQA v2 questions file (with --vqa)");
  cmd->add_flag("--vqa", o->vqa, "Score VQA answers instead of captions");
  cmd->add_flag("--json", o->json_out, "Print JSON");
  cmd->callback([o, &action] {
    action = [o]() -> int {
      try {
        return o->vqa ? score_vqa(*o) : score_captions(*o);
      } catch (...) {
        return report_error(error_from_current_exception().message);
      }
    };
  });
}

}  // namespace glimpse::app

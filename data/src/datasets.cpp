#include "glimpse/data/datasets.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "glimpse/core/file_util.h"
#include "glimpse/core/json_integer.h"

namespace glimpse::data {

using nlohmann::json;

size_t Dataset::caption_count() const {
  size_t n = 0;
  for (const auto& i : images)
    n += i.captions.size();
  return n;
}

size_t Dataset::question_count() const {
  size_t n = 0;
  for (const auto& i : images)
    n += i.questions.size();
  return n;
}

namespace {

[[noreturn]] void bad(const std::string& file, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "dataset file '" + file + "': " + what);
}

json read_json(const std::string& path) {
  const std::string text = core::read_file(path, 4ull << 30);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    bad(path, std::string("not valid JSON (") + e.what() + ")");
  }
}

const json& array_at(const json& doc, const char* key, const std::string& file) {
  if (!doc.is_object() || !doc.contains(key) || !doc[key].is_array())
    bad(file, std::string("expected an object with a \"") + key + "\" array");
  return doc[key];
}

std::string where(const char* kind, size_t i) {
  return std::string(kind) + " " + std::to_string(i);
}

template <class T>
T field(const json& e, const char* key, const std::string& file, const std::string& at) {
  if (!e.is_object() || !e.contains(key))
    bad(file, at + " has no \"" + key + "\"");
  try {
    return e[key].get<T>();
  } catch (const json::exception&) {
    bad(file, at + ": \"" + key + "\" has the wrong type");
  }
}

int64_t id_field(const json& e, const char* key, const std::string& file, const std::string& at) {
  if (!e.is_object() || !e.contains(key))
    bad(file, at + " has no \"" + key + "\"");
  const json& v = e[key];
  if (const auto n = core::json_integer<int64_t>(v))
    return *n;
  if (v.is_string()) {
    try {
      size_t used = 0;
      int64_t id = std::stoll(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size())
        return id;
    } catch (const std::exception&) {
    }
  }
  bad(file, at + ": \"" + key + "\" is not an integer id");
}

std::optional<cv::Rect> box_of(const json& b, const std::string& file, const std::string& at) {
  if (b.is_null())
    return std::nullopt;
  if (!b.is_array() || b.size() != 4)
    bad(file, at + ": a box must be [x, y, width, height] or null");
  int v[4];
  for (size_t i = 0; i < 4; ++i) {
    const auto n = core::json_integer<int>(b[i]);
    if (!n)
      bad(file, at + ": a box must hold four integers");
    v[i] = *n;
  }
  return cv::Rect(v[0], v[1], v[2], v[3]);
}

void require_image(const std::string& path, const std::string& file, const std::string& at) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    bad(file, at + ": image file '" + path + "' does not exist; check the image folder");
}

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

// "{id}" and "{idN}" (zero-padded to N digits) replaced by the id.
std::string apply_pattern(const std::string& pattern, int64_t id) {
  const auto open = pattern.find("{id");
  const auto close = pattern.find('}', open);
  if (open == std::string::npos || close == std::string::npos)
    return pattern;
  std::string num = std::to_string(id);
  const std::string width = pattern.substr(open + 3, close - open - 3);
  if (!width.empty()) {
    const size_t w = static_cast<size_t>(std::stoul(width));
    if (num.size() < w)
      num = std::string(w - num.size(), '0') + num;
  }
  return pattern.substr(0, open) + num + pattern.substr(close + 1);
}

std::string most_common(const std::vector<std::string>& answers) {
  std::map<std::string, int> n;
  std::string best;
  for (const auto& a : answers)
    if (++n[a] > n[best] || best.empty())
      best = a;
  return best;
}

}  // namespace

Result<Dataset> load_coco_captions(const std::string& path, const std::string& image_dir) {
  return catch_as_result([&] {
    const json doc = read_json(path);
    Dataset ds;
    ds.name = path;
    std::map<int64_t, size_t> by_id;
    const json& images = array_at(doc, "images", path);
    for (size_t i = 0; i < images.size(); ++i) {
      const std::string at = where("image", i);
      ImageEntry e;
      e.id = id_field(images[i], "id", path, at);
      e.path = join_path(image_dir, field<std::string>(images[i], "file_name", path, at));
      if (by_id.count(e.id))
        bad(path, at + ": image id " + std::to_string(e.id) + " appears twice");
      require_image(e.path, path, at);
      by_id[e.id] = ds.images.size();
      ds.images.push_back(std::move(e));
    }
    const json& anns = array_at(doc, "annotations", path);
    for (size_t i = 0; i < anns.size(); ++i) {
      const std::string at = where("annotation", i);
      const int64_t image_id = id_field(anns[i], "image_id", path, at);
      auto it = by_id.find(image_id);
      if (it == by_id.end())
        bad(path, at + ": image_id " + std::to_string(image_id) + " is not in \"images\"");
      CaptionEntry c;
      c.text = field<std::string>(anns[i], "caption", path, at);
      if (anns[i].contains("word_boxes")) {
        const json& boxes = anns[i]["word_boxes"];
        if (!boxes.is_array())
          bad(path, at + ": \"word_boxes\" is not an array");
        for (const auto& b : boxes)
          c.word_boxes.push_back(box_of(b, path, at));
      }
      ds.images[it->second].captions.push_back(std::move(c));
    }
    return ds;
  });
}

Result<Dataset> load_karpathy(const std::string& path, const std::string& image_dir,
                              const std::string& split) {
  return catch_as_result([&] {
    if (split != "train" && split != "val" && split != "test")
      throw Error(ErrorCode::kInvalidArgument,
                  "unknown Karpathy split '" + split + "'; valid: train, val, test");
    const json doc = read_json(path);
    Dataset ds;
    ds.name = path;
    const json& images = array_at(doc, "images", path);
    for (size_t i = 0; i < images.size(); ++i) {
      const std::string at = where("image", i);
      std::string s = field<std::string>(images[i], "split", path, at);
      if (s == "restval")
        s = "train";
      if (s != split)
        continue;
      ImageEntry e;
      e.id = images[i].contains("imgid") ? id_field(images[i], "imgid", path, at)
                                         : static_cast<int64_t>(i);
      std::string name = field<std::string>(images[i], "filename", path, at);
      if (images[i].contains("filepath"))
        name = field<std::string>(images[i], "filepath", path, at) + "/" + name;
      e.path = join_path(image_dir, name);
      require_image(e.path, path, at);
      const json& sents = images[i].contains("sentences") ? images[i]["sentences"] : json();
      if (!sents.is_array() || sents.empty())
        bad(path, at + " has no \"sentences\"");
      for (size_t k = 0; k < sents.size(); ++k)
        e.captions.push_back(
            {field<std::string>(sents[k], "raw", path, at + " sentence " + std::to_string(k)), {}});
      ds.images.push_back(std::move(e));
    }
    if (ds.images.empty())
      bad(path, "has no images in split '" + split + "'");
    return ds;
  });
}

Result<Dataset> load_flickr8k(const std::string& token_file, const std::string& split_file,
                              const std::string& image_dir) {
  return catch_as_result([&] {
    auto lines_of = [](const std::string& path) {
      std::vector<std::string> out;
      std::istringstream in(core::read_file(path, 1ull << 30));
      for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r')
          line.pop_back();
        out.push_back(line);
      }
      return out;
    };
    // The split: image names in order, each once.
    Dataset ds;
    ds.name = split_file;
    std::map<std::string, size_t> index;
    const auto split = lines_of(split_file);
    for (size_t i = 0; i < split.size(); ++i) {
      const std::string name = split[i];
      if (name.find_first_not_of(" \t") == std::string::npos)
        continue;
      const std::string at = "line " + std::to_string(i + 1);
      if (name.find_first_of("\t#/") != std::string::npos || name.front() == ' ' ||
          name.back() == ' ')
        bad(split_file, at + ": '" + name + "' is not an image file name");
      if (index.count(name) != 0)
        bad(split_file, at + ": '" + name + "' is listed twice");
      index[name] = ds.images.size();
      ImageEntry e;
      e.id = static_cast<int64_t>(ds.images.size());
      e.path = join_path(image_dir, name);
      require_image(e.path, split_file, at);
      ds.images.push_back(std::move(e));
    }
    if (ds.images.empty())
      bad(split_file, "lists no images");
    // The captions: IMAGE#N<TAB>text.
    const auto tokens = lines_of(token_file);
    std::set<std::string> seen;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& line = tokens[i];
      if (line.empty())
        continue;
      const std::string at = "line " + std::to_string(i + 1);
      const auto tab = line.find('\t');
      if (tab == std::string::npos)
        bad(token_file, at + ": no tab between 'IMAGE.jpg#N' and the caption");
      const std::string key = line.substr(0, tab);
      const auto hash = key.rfind('#');
      if (hash == std::string::npos || hash + 1 == key.size() ||
          key.find_first_not_of("0123456789", hash + 1) != std::string::npos)
        bad(token_file, at + ": '" + key + "' is not 'IMAGE.jpg#N'");
      std::string text = line.substr(tab + 1);
      if (text.find_first_not_of(" \t") == std::string::npos)
        bad(token_file, at + ": the caption of '" + key + "' is empty");
      if (!seen.insert(key).second)
        bad(token_file, at + ": '" + key + "' appears twice");
      auto it = index.find(key.substr(0, hash));
      if (it == index.end())
        continue;  // another split's image
      ds.images[it->second].captions.push_back({std::move(text), {}});
    }
    for (const auto& e : ds.images)
      if (e.captions.empty())
        bad(token_file, "has no caption for '" + std::filesystem::path(e.path).filename().string() +
                            "', listed in '" + split_file + "'");
    return ds;
  });
}

Result<Dataset> load_vqa(const std::string& questions_path, const std::string& annotations_path,
                         const std::string& image_dir, const std::string& coco_images_json,
                         const std::string& image_pattern) {
  return catch_as_result([&] {
    std::map<int64_t, std::string> files;
    if (!coco_images_json.empty()) {
      const json coco = read_json(coco_images_json);
      const json& images = array_at(coco, "images", coco_images_json);
      for (size_t i = 0; i < images.size(); ++i)
        files[id_field(images[i], "id", coco_images_json, where("image", i))] =
            field<std::string>(images[i], "file_name", coco_images_json, where("image", i));
    } else if (image_pattern.find("{id") == std::string::npos) {
      throw Error(ErrorCode::kInvalidArgument,
                  "VQA images need a COCO images list or a file-name pattern containing {id}");
    }
    const json qdoc = read_json(questions_path), adoc = read_json(annotations_path);
    std::map<int64_t, QaEntry> qs;
    std::map<int64_t, int64_t> image_of;
    const json& questions = array_at(qdoc, "questions", questions_path);
    for (size_t i = 0; i < questions.size(); ++i) {
      const std::string at = where("question", i);
      QaEntry q;
      q.question_id = id_field(questions[i], "question_id", questions_path, at);
      q.question = field<std::string>(questions[i], "question", questions_path, at);
      if (qs.count(q.question_id))
        bad(questions_path,
            at + ": question_id " + std::to_string(q.question_id) + " appears twice");
      image_of[q.question_id] = id_field(questions[i], "image_id", questions_path, at);
      qs[q.question_id] = std::move(q);
    }
    std::set<int64_t> annotated;
    Dataset ds;
    ds.name = questions_path;
    std::map<int64_t, size_t> by_image;
    const json& anns = array_at(adoc, "annotations", annotations_path);
    for (size_t i = 0; i < anns.size(); ++i) {
      const std::string at = where("annotation", i);
      const int64_t qid = id_field(anns[i], "question_id", annotations_path, at);
      auto it = qs.find(qid);
      if (it == qs.end())
        bad(annotations_path,
            at + ": question_id " + std::to_string(qid) + " is not in '" + questions_path + "'");
      if (!annotated.insert(qid).second)
        bad(annotations_path, at + ": question " + std::to_string(qid) + " is annotated twice");
      QaEntry q = it->second;
      const json& answers = anns[i].contains("answers") ? anns[i]["answers"] : json();
      if (!answers.is_array() || answers.empty())
        bad(annotations_path, at + " has no \"answers\"");
      for (size_t k = 0; k < answers.size(); ++k)
        q.answers.push_back(field<std::string>(answers[k], "answer", annotations_path,
                                               at + " answer " + std::to_string(k)));
      q.answer = anns[i].contains("multiple_choice_answer")
                     ? field<std::string>(anns[i], "multiple_choice_answer", annotations_path, at)
                     : most_common(q.answers);
      if (anns[i].contains("answer_type"))
        q.answer_type = field<std::string>(anns[i], "answer_type", annotations_path, at);
      if (anns[i].contains("family"))
        q.family = field<std::string>(anns[i], "family", annotations_path, at);
      for (const char* key : {"boxes", "reference_boxes"}) {
        if (!anns[i].contains(key))
          continue;
        if (!anns[i][key].is_array())
          bad(annotations_path, at + ": \"" + key + "\" is not an array");
        auto& into = std::string(key) == "boxes" ? q.boxes : q.reference_boxes;
        for (const auto& b : anns[i][key])
          if (auto r = box_of(b, annotations_path, at))
            into.push_back(*r);
      }
      if (anns[i].contains("mentions")) {
        const json& ms = anns[i]["mentions"];
        if (!ms.is_array())
          bad(annotations_path, at + ": \"mentions\" is not an array");
        for (size_t k = 0; k < ms.size(); ++k) {
          const std::string mat = at + " mention " + std::to_string(k);
          const auto words = field<std::string>(ms[k], "words", annotations_path, mat);
          if (!ms[k].contains("box") || ms[k]["box"].is_null())
            bad(annotations_path, mat + " has no \"box\"");
          q.mentions.emplace_back(words, *box_of(ms[k]["box"], annotations_path, mat));
        }
      }
      const int64_t image_id = image_of[qid];
      auto slot = by_image.find(image_id);
      if (slot == by_image.end()) {
        ImageEntry e;
        e.id = image_id;
        if (!coco_images_json.empty()) {
          auto f = files.find(image_id);
          if (f == files.end())
            bad(questions_path, "question " + std::to_string(qid) + ": image " +
                                    std::to_string(image_id) + " is not in '" + coco_images_json +
                                    "'");
          e.path = join_path(image_dir, f->second);
        } else {
          e.path = join_path(image_dir, apply_pattern(image_pattern, image_id));
        }
        require_image(e.path, questions_path, "question " + std::to_string(qid));
        slot = by_image.emplace(image_id, ds.images.size()).first;
        ds.images.push_back(std::move(e));
      }
      ds.images[slot->second].questions.push_back(std::move(q));
    }
    for (const auto& [qid, q] : qs)
      if (!annotated.count(qid))
        bad(annotations_path,
            "question " + std::to_string(qid) + " of '" + questions_path + "' has no annotation");
    return ds;
  });
}

Result<Dataset> load_world_folder(const std::string& dir, const std::string& split) {
  return catch_as_result([&] {
    const std::string caps = join_path(dir, "captions_" + split + ".json");
    if (!std::filesystem::exists(caps))
      throw Error(ErrorCode::kNotFound,
                  "'" + dir + "' has no captions_" + split +
                      ".json: is it a folder written by glimpse world (see its --split)? Data of "
                      "another format (VQA v2 questions and annotations, COCO captions, "
                      "Karpathy) trains from a recipe: see recipes/README.md");
    Dataset ds = load_coco_captions(caps, join_path(dir, "images")).take();
    const std::string qs = join_path(dir, "questions_" + split + ".json");
    if (std::filesystem::exists(qs)) {
      Dataset vqa = load_vqa(qs, join_path(dir, "annotations_" + split + ".json"),
                             join_path(dir, "images"), caps)
                        .take();
      std::map<int64_t, size_t> by_id;
      for (size_t i = 0; i < ds.images.size(); ++i)
        by_id[ds.images[i].id] = i;
      for (auto& img : vqa.images) {
        auto it = by_id.find(img.id);
        if (it == by_id.end()) {
          by_id[img.id] = ds.images.size();
          ds.images.push_back(std::move(img));
        } else {
          auto& qs_of = ds.images[it->second].questions;
          qs_of.insert(qs_of.end(), img.questions.begin(), img.questions.end());
        }
      }
    }
    ds.name = dir + " (" + split + ")";
    return ds;
  });
}

std::string question_kind(const std::string& question) {
  const auto starts = [&](const char* prefix) { return question.rfind(prefix, 0) == 0; };
  if (starts("how many"))
    return "number";
  if (starts("what colour") || starts("what color") || starts("what is the colour") ||
      starts("what is the color") || starts("what are the colours") ||
      starts("what are the colors"))
    return "colour";
  if (starts("where"))
    return "location";
  return "object";
}

namespace {

// " in the image3 ?" at a DAQUAR question's end: the image's number, and where the reference
// starts.
std::optional<std::pair<int64_t, size_t>> daquar_image_reference(const std::string& line) {
  static const std::regex kReference(
      R"(\s*(?:(?:in|of|on)\s+)?(?:(?:the|this)\s+)?image(\d{1,9})\s*\?\s*$)");
  std::smatch m;
  if (!std::regex_search(line, m, kReference))
    return std::nullopt;
  return std::make_pair(std::stoll(m[1].str()), static_cast<size_t>(m.position(0)));
}

std::string trimmed(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  return first == std::string::npos ? "" : s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

}  // namespace

Result<Dataset> load_daquar(const std::string& qa_file, const std::string& image_dir,
                            const std::set<std::string>& only,
                            const std::set<std::string>& except) {
  return catch_as_result([&] {
    std::vector<std::string> lines;
    std::istringstream in(core::read_file(qa_file, 1ull << 30));
    for (std::string line; std::getline(in, line);)
      lines.push_back(trimmed(line));
    while (!lines.empty() && lines.back().empty())
      lines.pop_back();
    Dataset ds;
    ds.name = qa_file;
    std::map<int64_t, size_t> index;
    for (size_t i = 0; i < lines.size(); i += 2) {
      const std::string at = "line " + std::to_string(i + 1);
      const auto reference = daquar_image_reference(lines[i]);
      if (!reference)
        bad(qa_file, at + ": '" + lines[i] +
                         "' is not a DAQUAR question (a question line ends 'in the imageN ?', its "
                         "answer on the next line)");
      if (i + 1 == lines.size() || lines[i + 1].empty())
        bad(qa_file, at + ": the question has no answer on the line after it");
      const auto [id, cut] = *reference;
      const std::string name = "image" + std::to_string(id);
      if ((!only.empty() && only.count(name) == 0) || except.count(name) != 0)
        continue;
      auto [it, added] = index.emplace(id, ds.images.size());
      if (added) {
        ImageEntry e;
        e.id = id;
        e.path = join_path(image_dir, name + ".jpg");
        require_image(e.path, qa_file, at);
        ds.images.push_back(std::move(e));
      }
      QaEntry q;
      q.question_id = static_cast<int64_t>(i / 2);
      q.question = trimmed(lines[i].substr(0, cut)) + "?";
      q.answer = lines[i + 1];
      q.answers.assign(10, q.answer);  // as ten agreeing humans: VQA accuracy is exact match
      q.family = question_kind(q.question);
      q.answer_type = q.family;
      ds.images[it->second].questions.push_back(std::move(q));
    }
    for (const auto& name : only)
      if (std::none_of(ds.images.begin(), ds.images.end(),
                       [&](const ImageEntry& e) { return "image" + std::to_string(e.id) == name; }))
        bad(qa_file, "'" + name + "' is named for this split but has no question in the file");
    if (ds.images.empty())
      bad(qa_file, "has no questions (of the images asked for)");
    return ds;
  });
}

}  // namespace glimpse::data

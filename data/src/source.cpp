#include "glimpse/data/source.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "glimpse/core/file_util.h"

namespace glimpse::data {

using nlohmann::json;

namespace {

// The fields each format reads; the first `required` of them must be given.
struct FormatFields {
  std::vector<std::string> fields;
  size_t required;
};

const std::map<std::string, FormatFields>& format_fields() {
  static const std::map<std::string, FormatFields> kFields = {
      {"world", {{"dir", "split"}, 2}},
      {"flickr8k", {{"dir", "split"}, 2}},
      {"coco_captions", {{"captions", "images"}, 2}},
      {"karpathy", {{"captions", "images", "split"}, 3}},
      {"vqa_v2", {{"questions", "annotations", "images", "image_pattern", "coco_images"}, 3}},
      {"daquar", {{"dir", "split", "qa", "dev_images"}, 2}},
  };
  return kFields;
}

// The member holding field `name` (one of format_fields()'s).
std::string DataSource::*member(const std::string& name) {
  static const std::map<std::string, std::string DataSource::*> kMembers = {
      {"dir", &DataSource::dir},
      {"split", &DataSource::split},
      {"captions", &DataSource::captions},
      {"questions", &DataSource::questions},
      {"annotations", &DataSource::annotations},
      {"images", &DataSource::images},
      {"image_pattern", &DataSource::image_pattern},
      {"coco_images", &DataSource::coco_images},
      {"qa", &DataSource::qa}};
  return kMembers.at(name);
}

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, where + ": " + what);
}

std::vector<std::string> image_names(const json& value, const std::string& where) {
  if (!value.is_array() || value.empty())
    bad(where,
        "\"dev_images\" must be a non-empty list of image names such as [\"image3\"], "
        "not " +
            value.dump());
  std::vector<std::string> names;
  for (const auto& v : value) {
    if (!v.is_string() || v.get<std::string>().empty())
      bad(where, "\"dev_images\" holds image names such as \"image3\", not " + v.dump());
    names.push_back(v.get<std::string>());
  }
  return names;
}

std::string list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

const std::vector<std::string>& source_formats() {
  static const std::vector<std::string> kFormats = {"world",    "flickr8k", "coco_captions",
                                                    "karpathy", "vqa_v2",   "daquar"};
  return kFormats;
}

json to_json(const DataSource& source) {
  json j = {{"format", source.format}};
  for (const auto& name : format_fields().at(source.format).fields)
    if (name == "dev_images") {
      if (!source.dev_images.empty())
        j[name] = source.dev_images;
    } else if (const std::string& value = source.*member(name); !value.empty())
      j[name] = value;
  j["weight"] = source.weight;
  return j;
}

DataSource source_from_json(const json& j, const std::string& where) {
  if (!j.is_object())
    bad(where,
        "a data source is an object such as {\"format\": \"world\", \"dir\": \"world\", "
        "\"split\": \"train\"}, not " +
            j.dump());
  DataSource s;
  if (!j.contains("format") || !j["format"].is_string())
    bad(where, "give its \"format\": one of " + list(source_formats()));
  s.format = j["format"].get<std::string>();
  const auto it = format_fields().find(s.format);
  if (it == format_fields().end())
    bad(where, "unknown format '" + s.format + "': give one of " + list(source_formats()));
  const auto& fields = it->second.fields;
  for (const auto& [key, value] : j.items()) {
    if (key == "format")
      continue;
    if (key == "weight") {
      if (!value.is_number() || !(value.get<double>() > 0) || !std::isfinite(value.get<double>()))
        bad(where,
            "\"weight\" must be a number above 0 (how many times an epoch reads each "
            "image), not " +
                value.dump());
      s.weight = value.get<double>();
    } else if (std::find(fields.begin(), fields.end(), key) == fields.end()) {
      bad(where, "a " + s.format + " source has no \"" + key + "\" (it reads " + list(fields) +
                     " and weight)");
    } else if (key == "dev_images") {
      s.dev_images = image_names(value, where);
    } else if (!value.is_string() || value.get<std::string>().empty()) {
      bad(where, "\"" + key + "\" must be a non-empty string, not " + value.dump());
    } else {
      s.*member(key) = value.get<std::string>();
    }
  }
  for (size_t i = 0; i < it->second.required; ++i)
    if ((s.*member(fields[i])).empty())
      bad(where,
          "a " + s.format + " source needs \"" + fields[i] + "\" (it reads " + list(fields) + ")");
  if (s.format == "vqa_v2" && s.image_pattern.empty() == s.coco_images.empty())
    bad(where,
        "a vqa_v2 source names its image files by one of \"image_pattern\" (e.g. "
        "\"COCO_train2014_{id12}.jpg\") or \"coco_images\" (a COCO captions file)");
  if (s.format == "daquar" && s.split != "train" && s.split != "dev" && s.split != "all")
    bad(where,
        "a daquar source's \"split\" is train, dev (carved out of the training images) "
        "or all, not '" +
            s.split + "'");
  return s;
}

Result<std::vector<std::string>> daquar_default_dev_images(const std::string& dir) {
  return catch_as_result([&] {
    const std::string path = dir + "/train_images.txt";
    std::istringstream in(core::read_file(path, 1ull << 24));
    std::vector<std::string> names;
    size_t n = 0;
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.pop_back();
      if (!line.empty() && ++n % 10 == 0)
        names.push_back(line);
    }
    if (names.empty())
      throw Error(ErrorCode::kInvalidArgument,
                  path + " lists fewer than ten images: give the dev split's \"dev_images\"");
    return names;
  });
}

namespace {

Result<Dataset> load_daquar_source(const DataSource& s) {
  auto dev = s.dev_images;
  if (s.split != "all" && dev.empty()) {
    auto fixed = daquar_default_dev_images(s.dir);
    if (!fixed)
      return fixed.error();
    dev = fixed.value();
  }
  const std::set<std::string> named(dev.begin(), dev.end());
  return load_daquar(s.dir + "/" + (s.qa.empty() ? "qa_train.txt" : s.qa), s.dir + "/images",
                     s.split == "dev" ? named : std::set<std::string>{},
                     s.split == "train" ? named : std::set<std::string>{});
}

}  // namespace

bool has_splits(const DataSource& source) {
  const auto it = format_fields().find(source.format);
  if (it == format_fields().end())
    return false;
  const auto& fields = it->second.fields;
  return std::find(fields.begin(), fields.end(), "split") != fields.end();
}

std::string describe(const DataSource& s) {
  if (s.format == "world" || s.format == "flickr8k")
    return s.format + " " + s.dir + " (" + s.split + ")";
  if (s.format == "karpathy")
    return "karpathy " + s.captions + " (" + s.split + ")";
  if (s.format == "daquar")
    return "daquar " + s.dir + (s.qa.empty() ? "" : "/" + s.qa) + " (" + s.split + ")";
  if (s.format == "coco_captions")
    return "coco_captions " + s.captions;
  return "vqa_v2 " + s.questions;
}

Result<Dataset> load_source(const DataSource& s) {
  if (s.format == "world")
    return load_world_folder(s.dir, s.split);
  if (s.format == "flickr8k")  // captions.txt, <split>_images.txt and images/, as ../shared has
    return load_flickr8k(s.dir + "/captions.txt", s.dir + "/" + s.split + "_images.txt",
                         s.dir + "/images");
  if (s.format == "coco_captions")
    return load_coco_captions(s.captions, s.images);
  if (s.format == "karpathy")
    return load_karpathy(s.captions, s.images, s.split);
  if (s.format == "vqa_v2")
    return load_vqa(s.questions, s.annotations, s.images, s.coco_images, s.image_pattern);
  if (s.format == "daquar")
    return load_daquar_source(s);
  return ErrorInfo{ErrorCode::kInvalidArgument,
                   "unknown data format '" + s.format + "': give one of " + list(source_formats())};
}

}  // namespace glimpse::data

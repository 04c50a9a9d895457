#include "glimpse/train/recipe.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <set>
#include <type_traits>

#include "glimpse/core/file_util.h"
#include "glimpse/core/utf8.h"

namespace glimpse::train {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "recipe: " + key + " " + what);
}

// Reads one object of a recipe: each key once, with its type and range checked, and at the end
// every key it holds that was not read is an error naming it.
class Section {
 public:
  Section(const json& j, std::string where) : j_(j), where_(std::move(where)) {
    if (!j_.is_object())
      bad(where_, "must be an object, not " + j_.dump());
  }
  std::string key(const std::string& name) const {
    return where_.empty() ? name : where_ + "." + name;
  }
  const json* find(const std::string& name) {
    read_.insert(name);
    return j_.contains(name) ? &j_[name] : nullptr;
  }
  template <class T>
  void get(const std::string& name, T& out, T lo, T hi) {
    const json* v = find(name);
    if (v == nullptr)
      return;
    constexpr bool integral = std::is_integral_v<T>;
    const bool fits =
        integral ? (std::is_unsigned_v<T> ? v->is_number_unsigned() : v->is_number_integer())
                 : v->is_number();
    if (!fits)
      bad(key(name),
          std::string("must be ") +
              (integral ? (std::is_unsigned_v<T> ? "a whole number, 0 or more" : "a whole number")
                        : "a number") +
              ", not " + v->dump());
    // Compared in the widest type of its kind, so that no value wraps into the range.
    using Wide =
        std::conditional_t<integral, std::conditional_t<std::is_unsigned_v<T>, uint64_t, int64_t>,
                           double>;
    const Wide x = v->get<Wide>();
    if (!(x >= static_cast<Wide>(lo) && x <= static_cast<Wide>(hi)))
      bad(key(name),
          "must be between " + json(lo).dump() + " and " + json(hi).dump() + ", not " + v->dump());
    out = static_cast<T>(x);
  }
  void get(const std::string& name, std::string& out) {
    if (const json* v = find(name)) {
      if (!v->is_string())
        bad(key(name), "must be a string, not " + v->dump());
      out = v->get<std::string>();
    }
  }
  void get(const std::string& name, std::vector<std::string>& out) {
    if (const json* v = find(name)) {
      if (!v->is_array() ||
          !std::all_of(v->begin(), v->end(), [](const json& e) { return e.is_string(); }))
        bad(key(name), "must be a list of strings, not " + v->dump());
      out = v->get<std::vector<std::string>>();
    }
  }
  void done() const {
    for (const auto& [name, value] : j_.items())
      if (read_.count(name) == 0)
        bad(key(name), "is not a key of the recipe (a typo?): remove it or see recipes/README.md");
  }

 private:
  const json& j_;
  std::string where_;
  std::set<std::string> read_;
};

std::vector<data::DataSource> sources(Section& s, const std::string& name) {
  std::vector<data::DataSource> out;
  const json* v = s.find(name);
  if (v == nullptr)
    return out;
  if (!v->is_array())
    bad(s.key(name), "must be a list of data sources, not " + v->dump());
  for (size_t i = 0; i < v->size(); ++i)
    out.push_back(
        data::source_from_json((*v)[i], "recipe: " + s.key(name) + "." + std::to_string(i)));
  return out;
}

json sources_json(const std::vector<data::DataSource>& list) {
  json out = json::array();
  for (const auto& s : list)
    out.push_back(data::to_json(s));
  return out;
}

DataSection data_from_json(const json& j) {
  Section s(j, "data");
  DataSection d;
  d.train = sources(s, "train");
  d.dev = sources(s, "dev");
  s.get("max_train_images", d.max_train_images, 0, 1 << 30);
  s.get("max_caption_words", d.max_caption_words, 0, 1000);
  s.get("captions_per_image", d.captions_per_image, 0, 1000);
  s.get("min_count", d.min_count, 1, 1000000);
  s.get("features", d.features);
  s.get("dev_features", d.dev_features);
  s.done();
  if (d.train.empty())
    bad("data.train", "is empty: list at least one data source to train on");
  if (d.dev.empty())
    bad("data.dev", "is empty: list at least one data source to score after every epoch");
  if (!d.dev_features.empty() && d.features.empty())
    bad("data.dev_features", "goes with data.features (the training images' caches)");
  return d;
}

json data_to_json(const DataSection& d) {
  return {{"train", sources_json(d.train)},
          {"dev", sources_json(d.dev)},
          {"max_train_images", d.max_train_images},
          {"max_caption_words", d.max_caption_words},
          {"captions_per_image", d.captions_per_image},
          {"min_count", d.min_count},
          {"features", d.features},
          {"dev_features", d.dev_features}};
}

// The model section: a model file's config without what training fills in.
json model_to_json(const fusion::ModelConfig& m) {
  json j = json::parse(m.to_json(/*every_key=*/true));
  for (const char* key : {"format_version", "vocabulary", "notice", "training", "metrics"})
    j.erase(key);
  return j;
}

// Every path of `given` must be one of `resolved`'s (else it was not read).
void check_known(const json& given, const json& resolved, const std::string& where) {
  for (const auto& [key, value] : given.items()) {
    if (!resolved.contains(key))
      bad(where + "." + key, "is not a key of the model (a typo?): remove it");
    if (value.is_object() && resolved[key].is_object())
      check_known(value, resolved[key], where + "." + key);
  }
}

fusion::ModelConfig model_from_json(const json& j) {
  if (!j.is_object())
    bad("model", "must be an object, not " + j.dump());
  fusion::ModelConfig defaults;
  defaults.small_cnn.coords = true;
  // The defaults of the kinds the recipe names, then the recipe over them.
  auto kind = [&](const char* part) -> std::string {
    const json& p = j.contains(part) ? j[part] : json();
    return p.is_object() && p.contains("kind") && p["kind"].is_string()
               ? p["kind"].get<std::string>()
               : "";
  };
  if (!kind("encoder").empty()) {
    const auto k = fusion::parse_encoder_kind(kind("encoder"));
    if (!k)
      bad("model.encoder.kind:", k.error().message);
    defaults.encoder = k.value();
  }
  if (!kind("decoder").empty()) {
    const auto k = fusion::parse_decoder_kind(kind("decoder"));
    if (!k)
      bad("model.decoder.kind:", k.error().message);
    defaults.decoder = k.value();
  }
  json merged = json::parse(defaults.to_json());
  merged.merge_patch(j);
  auto parsed = fusion::ModelConfig::from_json(merged.dump());
  if (!parsed) {
    static const std::string kPrefix = "model config: ";  // ModelConfig's own; "model:" here
    std::string what = parsed.error().message;
    if (what.rfind(kPrefix, 0) == 0)
      what.erase(0, kPrefix.size());
    bad("model:", what);
  }
  check_known(j, model_to_json(parsed.value()), "model");
  return parsed.value();
}

Optimisation optimisation_from_json(const json& j) {
  Section s(j, "optimisation");
  Optimisation o;
  s.get("epochs", o.epochs, 1, 100000);
  s.get("batch_size", o.batch_size, 1, 100000);
  s.get("lr", o.lr, 1e-9, 10.0);
  s.get("warmup_steps", o.warmup_steps, 0, 10'000'000);
  s.get("clip", o.clip, 0.0, 1e6);
  s.get("seed", o.seed, uint64_t{0}, ~uint64_t{0});
  s.get("data_parallel", o.data_parallel, 0, 64);
  s.done();
  return o;
}

json optimisation_to_json(const Optimisation& o) {
  return {{"epochs", o.epochs},
          {"batch_size", o.batch_size},
          {"lr", o.lr},
          {"warmup_steps", o.warmup_steps},
          {"clip", o.clip},
          {"seed", o.seed},
          {"data_parallel", o.data_parallel}};
}

std::vector<ObjectiveSpec> objectives_from_json(const json& j) {
  if (!j.is_array() || j.empty())
    bad("objectives",
        "must be a non-empty list of {\"name\", \"weight\", \"params\"}, not " + j.dump());
  std::vector<ObjectiveSpec> out;
  for (size_t i = 0; i < j.size(); ++i) {
    Section s(j[i], "objectives." + std::to_string(i));
    ObjectiveSpec spec;
    s.get("name", spec.name);
    s.get("weight", spec.weight, 0.0, 1e6);
    if (const json* p = s.find("params")) {
      if (!p->is_object())
        bad(s.key("params"), "must be an object, not " + p->dump());
      spec.params = *p;
    }
    s.done();
    out.push_back(resolve_objective(spec));  // refused here, before any data is read
  }
  return out;
}

OutputSection output_from_json(const json& j) {
  Section s(j, "output");
  OutputSection o;
  s.get("out", o.out);
  s.get("checkpoint_dir", o.checkpoint_dir);
  s.get("log", o.log);
  s.get("checkpoint_every", o.checkpoint_every, 1, 10'000'000);
  s.done();
  if (o.out.empty())
    bad("output.out", "is empty: give the model file to write");
  return o;
}

// The flattened keys of a JSON value: "a.b.0.c" -> leaf.
void flatten(const json& j, const std::string& prefix, std::map<std::string, json>& out) {
  if ((j.is_object() || j.is_array()) && !j.empty()) {
    for (const auto& [key, value] : j.items())
      flatten(value, prefix.empty() ? key : prefix + "." + key, out);
  } else {
    out[prefix] = j;
  }
}

// Replaces ${NAME} in every string of `j` by the environment variable NAME.
void expand_variables(json& j) {
  if (j.is_structured()) {
    for (auto& v : j)
      expand_variables(v);
    return;
  }
  if (!j.is_string())
    return;
  std::string s = j.get<std::string>();
  for (size_t at = s.find("${"); at != std::string::npos; at = s.find("${", at)) {
    const size_t end = s.find('}', at);
    if (end == std::string::npos)
      break;
    const std::string name = s.substr(at + 2, end - at - 2);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr)
      throw Error(ErrorCode::kInvalidArgument, "'" + s + "' names ${" + name +
                                                   "}, an environment variable that is not set: "
                                                   "set it, or write the path out");
    s.replace(at, end - at + 1, value);
    at += std::string(value).size();
  }
  j = s;
}

// Every key and string of `j` is UTF-8 text (else no JSON could hold it): refused naming where.
void check_utf8(const json& j, const std::string& where) {
  if (j.is_string() && !core::is_valid_utf8(j.get_ref<const std::string&>()))
    bad(where.empty() ? "a value" : where, "is not UTF-8 text ('" +
                                               core::utf8_valid(j.get_ref<const std::string&>()) +
                                               "'): write it in UTF-8");
  if (!j.is_structured())
    return;
  for (const auto& [key, value] : j.items()) {
    if (!core::is_valid_utf8(key))
      bad("a key in " + (where.empty() ? std::string("the recipe") : where),
          "is not UTF-8 text ('" + core::utf8_valid(key) + "'): write it in UTF-8");
    check_utf8(value, where.empty() ? key : where + "." + key);
  }
}

bool resumable(const std::string& key) {
  for (const auto& k : resumable_keys())
    if (key == k || key.rfind(k + ".", 0) == 0)
      return true;
  return false;
}

}  // namespace

bool Recipe::captions() const {
  return model.has_task("caption");
}
bool Recipe::questions() const {
  return model.has_task("vqa");
}
std::string Recipe::checkpoint_dir() const {
  return output.checkpoint_dir.empty() ? output.out + ".ckpt" : output.checkpoint_dir;
}
std::string Recipe::log_path() const {
  return output.log.empty() ? output.out + ".log.jsonl" : output.log;
}

json Recipe::to_json() const {
  json objs = json::array();
  for (const auto& o : objectives)
    objs.push_back({{"name", o.name}, {"weight", o.weight}, {"params", o.params}});
  return {{"recipe_version", 1},
          {"data", data_to_json(data)},
          {"model", model_to_json(model)},
          {"backbone_weights", backbone_weights},
          {"optimisation", optimisation_to_json(optimisation)},
          {"objectives", objs},
          {"evaluation", {{"eval_images", eval_images}}},
          {"output",
           {{"out", output.out},
            {"checkpoint_dir", output.checkpoint_dir},
            {"log", output.log},
            {"checkpoint_every", output.checkpoint_every}}}};
}

Recipe Recipe::from_json(const json& j) {
  check_utf8(j, "");
  Section s(j, "");
  Recipe r;
  int version = 1;
  s.get("recipe_version", version, 1, 1);
  const json* d = s.find("data");
  if (d == nullptr)
    bad("data", "is missing: give data.train and data.dev, lists of data sources");
  r.data = data_from_json(*d);
  if (const json* m = s.find("model"))
    r.model = model_from_json(*m);
  else
    r.model = model_from_json(json::object());
  s.get("backbone_weights", r.backbone_weights);
  if (const json* o = s.find("optimisation"))
    r.optimisation = optimisation_from_json(*o);
  if (const json* o = s.find("objectives"))
    r.objectives = objectives_from_json(*o);
  if (const json* e = s.find("evaluation")) {
    Section es(*e, "evaluation");
    es.get("eval_images", r.eval_images, 0, 1 << 30);
    es.done();
  }
  if (const json* o = s.find("output"))
    r.output = output_from_json(*o);
  s.done();
  if (r.model.tasks.empty())
    bad("model.tasks", "is empty: give [\"caption\"], [\"vqa\"] or both");
  return r;
}

Recipe Recipe::load(const std::string& path, const std::vector<std::string>& sets) {
  json j;
  try {
    j = json::parse(core::read_file(path));
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + path + "' is not a JSON recipe (" + e.what() + "): see recipes/README.md");
  }
  try {
    expand_variables(j);
    j = from_json(j).to_json();  // every key, so that --set may name any of them
    for (const auto& set : sets)
      apply_set(j, set);
    return from_json(j);
  } catch (const Error& e) {
    throw Error(e.code(), "'" + path + "': " + e.what());
  }
}

void apply_set(json& recipe, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error(ErrorCode::kInvalidArgument,
                "--set '" + assignment + "': write key=value, e.g. optimisation.lr=5e-4");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  if (!core::is_valid_utf8(assignment))
    throw Error(ErrorCode::kInvalidArgument, "--set '" + core::utf8_valid(assignment) +
                                                 "' is not UTF-8 text: write it in UTF-8");
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded())
    value = text;  // not JSON: a string
  json* at = &recipe;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
    const std::string so_far = key.substr(0, dot);
    if (at->is_array()) {
      size_t index = 0;
      // At most nine digits: stoul of a longer run could overflow, and no list is that long.
      const bool number = !part.empty() && part.size() <= 9 &&
                          part.find_first_not_of("0123456789") == std::string::npos;
      if (number)
        index = std::stoul(part);
      if (!number || index > at->size() || (index == at->size() && dot != std::string::npos))
        throw Error(ErrorCode::kInvalidArgument, "--set " + key + ": '" + so_far +
                                                     "' is not an index of a list of " +
                                                     std::to_string(at->size()));
      if (index == at->size())
        at->push_back(json());
      at = &(*at)[index];
    } else if (at->is_object()) {
      if (dot != std::string::npos && !at->contains(part))
        throw Error(ErrorCode::kInvalidArgument,
                    "--set " + key + ": the recipe has no '" + so_far + "'");
      at = &(*at)[part];
    } else {
      throw Error(ErrorCode::kInvalidArgument, "--set " + key + ": '" + key.substr(0, start - 1) +
                                                   "' is a value, not a section");
    }
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  *at = value;
}

const std::vector<std::string>& resumable_keys() {
  static const std::vector<std::string> kKeys = {"output", "backbone_weights"};
  return kKeys;
}

void check_same_recipe(const json& was, const json& now, const std::string& checkpoint_dir) {
  std::map<std::string, json> before, after;
  flatten(was, "", before);
  flatten(now, "", after);
  std::set<std::string> keys;
  for (const auto& [k, v] : before)
    keys.insert(k);
  for (const auto& [k, v] : after)
    keys.insert(k);
  for (const auto& key : keys) {
    if (resumable(key))
      continue;
    const json a = before.count(key) ? before[key] : json("(none)");
    const json b = after.count(key) ? after[key] : json("(none)");
    if (a != b)
      throw Error(ErrorCode::kInvalidArgument,
                  "--resume: the run in '" + checkpoint_dir + "' was made with " + key + " = " +
                      a.dump() + ", not " + b.dump() +
                      "; resume with the recipe it started with (only output.* and "
                      "backbone_weights may change), or start a new run with another output.out");
  }
}

}  // namespace glimpse::train

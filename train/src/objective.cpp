#include "glimpse/train/objective.h"

#include <algorithm>
#include <functional>
#include <map>

#include "glimpse/core/error.h"
#include "objectives/objectives.h"

namespace glimpse::train {

namespace {

using Factory = std::function<std::unique_ptr<Objective>(const ObjectiveSpec&)>;

struct Entry {
  Factory make;
  nlohmann::json params;  // the parameters it reads, with their defaults
};

// The registry: one line an objective.
const std::map<std::string, Entry>& registry() {
  static const std::map<std::string, Entry> kRegistry = {
      {"cross_entropy", {make_cross_entropy, nlohmann::json::object()}},
      {"doubly_stochastic", {make_doubly_stochastic, nlohmann::json::object()}},
      {"attention_supervision",
       {make_attention_supervision,
        {{"target_power", 1.0},
         {"each_head", false},
         {"heads_may_split", false},
         {"mentions", false},
         {"pair_heads", false},
         {"reference_first", false},
         {"count_centres", false}}}},
      {"grounding", {make_grounding, {{"target_power", 1.0}}}},
  };
  return kRegistry;
}

std::string listed(const nlohmann::json& params) {
  std::string out;
  for (const auto& [name, value] : params.items())
    out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

const Entry& entry(const std::string& name) {
  const auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : objective_names())
      known += (known.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::kInvalidArgument,
                "no objective named '" + name + "'; the objectives are " + known);
  }
  return it->second;
}

}  // namespace

std::vector<std::string> objective_names() {
  std::vector<std::string> names;
  for (const auto& [name, make] : registry())
    names.push_back(name);
  return names;
}

ObjectiveSpec resolve_objective(const ObjectiveSpec& spec) {
  const Entry& e = entry(spec.name);
  if (!(spec.weight >= 0))
    throw Error(ErrorCode::kInvalidArgument, "objective '" + spec.name +
                                                 "': its weight must be 0 or more, not " +
                                                 nlohmann::json(spec.weight).dump());
  ObjectiveSpec out = spec;
  out.params = e.params;
  for (const auto& [key, value] : spec.params.items()) {
    if (!e.params.contains(key))
      throw Error(ErrorCode::kInvalidArgument, "objective '" + spec.name + "' has no parameter '" +
                                                   key + "' (its parameters: " + listed(e.params) +
                                                   ")");
    const nlohmann::json& fallback = e.params[key];
    const bool fits = fallback.is_boolean() ? value.is_boolean() : value.is_number();
    if (!fits)
      throw Error(ErrorCode::kInvalidArgument,
                  "objective '" + spec.name + "': parameter '" + key + "' must be " +
                      (fallback.is_boolean() ? "true or false" : "a number") + ", not " +
                      value.dump());
    out.params[key] = fallback.is_boolean() ? value : nlohmann::json(value.get<double>());
  }
  return out;
}

std::unique_ptr<Objective> make_objective(const ObjectiveSpec& spec) {
  const ObjectiveSpec resolved = resolve_objective(spec);
  try {
    return entry(spec.name).make(resolved);
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorCode::kInvalidArgument, e.what());
  }
}

}  // namespace glimpse::train

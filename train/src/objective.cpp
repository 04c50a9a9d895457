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
  std::vector<std::string> params;  // the parameters it reads
};

// The registry: one line an objective.
const std::map<std::string, Entry>& registry() {
  static const std::map<std::string, Entry> kRegistry = {
      {"cross_entropy", {make_cross_entropy, {}}},
      {"doubly_stochastic", {make_doubly_stochastic, {}}},
      {"attention_supervision",
       {make_attention_supervision,
        {"target_power", "each_head", "heads_may_split", "mentions", "pair_heads",
         "reference_first", "count_centres"}}},
      {"grounding", {make_grounding, {"target_power"}}},
  };
  return kRegistry;
}

std::string listed(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<std::string> objective_names() {
  std::vector<std::string> names;
  for (const auto& [name, make] : registry())
    names.push_back(name);
  return names;
}

std::unique_ptr<Objective> make_objective(const ObjectiveSpec& spec) {
  const auto it = registry().find(spec.name);
  if (it == registry().end())
    throw Error(
        ErrorCode::kInvalidArgument,
        "no objective named '" + spec.name + "'; the objectives are " + listed(objective_names()));
  const auto& known = it->second.params;
  for (const auto& [key, value] : spec.params.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw Error(ErrorCode::kInvalidArgument, "objective '" + spec.name + "' has no parameter '" +
                                                   key + "' (its parameters: " + listed(known) +
                                                   ")");
  if (!(spec.weight >= 0))
    throw Error(ErrorCode::kInvalidArgument, "objective '" + spec.name +
                                                 "': its weight must be 0 or more, not " +
                                                 std::to_string(spec.weight));
  try {
    return it->second.make(spec);
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorCode::kInvalidArgument, e.what());
  }
}

}  // namespace glimpse::train

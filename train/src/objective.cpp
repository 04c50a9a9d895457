#include "glimpse/train/objective.h"

#include <functional>
#include <map>

#include "glimpse/core/error.h"
#include "objectives/objectives.h"

namespace glimpse::train {

namespace {

using Factory = std::function<std::unique_ptr<Objective>(const ObjectiveSpec&)>;

// The registry: one line an objective.
const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> kRegistry = {
      {"cross_entropy", make_cross_entropy},
      {"doubly_stochastic", make_doubly_stochastic},
      {"attention_supervision", make_attention_supervision},
      {"grounding", make_grounding},
  };
  return kRegistry;
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
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : objective_names())
      known += (known.empty() ? "" : ", ") + n;
    throw Error(ErrorCode::kInvalidArgument,
                "no objective named '" + spec.name + "'; the objectives are " + known);
  }
  if (!(spec.weight >= 0))
    throw Error(ErrorCode::kInvalidArgument, "objective '" + spec.name +
                                                 "': its weight must be 0 or more, not " +
                                                 std::to_string(spec.weight));
  try {
    return it->second(spec);
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorCode::kInvalidArgument, e.what());
  }
}

}  // namespace glimpse::train

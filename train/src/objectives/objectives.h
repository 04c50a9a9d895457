// The objectives the registry (objective.cpp) makes, and what they share.
#pragma once

#include <memory>

#include "glimpse/train/attention_supervision.h"
#include "glimpse/train/objective.h"

namespace glimpse::train {

std::unique_ptr<Objective> make_cross_entropy(const ObjectiveSpec& spec);
std::unique_ptr<Objective> make_doubly_stochastic(const ObjectiveSpec& spec);
std::unique_ptr<Objective> make_attention_supervision(const ObjectiveSpec& spec);
std::unique_ptr<Objective> make_grounding(const ObjectiveSpec& spec);

}  // namespace glimpse::train

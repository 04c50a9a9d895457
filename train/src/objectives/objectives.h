// The objectives the registry (objective.cpp) makes, and what they share.
#pragma once

#include <memory>

#include "glimpse/train/objective.h"

namespace glimpse::train {

std::unique_ptr<Objective> make_cross_entropy(const ObjectiveSpec& spec);
std::unique_ptr<Objective> make_doubly_stochastic(const ObjectiveSpec& spec);
std::unique_ptr<Objective> make_attention_supervision(const ObjectiveSpec& spec);
std::unique_ptr<Objective> make_grounding(const ObjectiveSpec& spec);

// The attention target of image i's boxes over the grid cells, [N], summing to 1 (or to 0 when
// the boxes cover no cell): each cell in proportion to coverage^power.
torch::Tensor target_over_cells(const TrainingData& data, size_t image,
                                const std::vector<cv::Rect>& boxes, double power);

}  // namespace glimpse::train

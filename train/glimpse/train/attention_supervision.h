// The pieces of attention supervision (objective "attention_supervision"): its loss, the targets
// of heads that look at different objects, and where the shapes world's question phrases and
// counted objects are held.
#pragma once

#include <torch/torch.h>

#include <opencv2/core.hpp>

#include <string>
#include <utility>
#include <vector>

#include "glimpse/train/objective.h"

namespace glimpse::train {

// Attention supervision's loss: the cross-entropy of the targets under the attention of
// sequence rows[p] at position positions[p], from `attention` (per layer, [B, heads, L, N]),
// averaged over the targets. A target is a map over the N cells summing to 1: one for every
// head ([P, N]), or one per head ([P, layers * heads, N], layer-major). Where each_head[p]
// (bool [P]) is false it scores the map averaged over layers and heads against the averaged
// target; where true, every head's map against its own target, the losses averaged.
torch::Tensor attention_supervision_loss(const std::vector<torch::Tensor>& attention,
                                         const torch::Tensor& rows, const torch::Tensor& positions,
                                         const torch::Tensor& targets,
                                         const torch::Tensor& each_head);

// Where supervise_mentions holds each mention of a question (tokenized as `words`): the
// sequence position whose attention reads the mention's last word, after <bos> <question>; in
// an LSTM, the position after it (its attention is queried by the state before the word). Each
// mention is looked for after the one before it; -1 when it is not there.
std::vector<int64_t> mention_positions(
    const std::vector<std::string>& words,
    const std::vector<std::pair<std::string, cv::Rect>>& mentions, bool lstm);

// The boxes count_centres supervises a count question's answer with: a box of one pixel at
// each box's centre, so that the target puts an equal share on the cell under each centre.
std::vector<cv::Rect> centre_points(std::vector<cv::Rect> boxes);

// A target of attention supervision over the N grid cells: `first` for every head, or, with
// `second`, `first` for the first part of the heads and `second` for the rest. The parts are
// the lower half of every layer's heads (heads / 2 of them, rounded down) and the upper half
// (by_layer false), or the first layer's heads and the later layers' (by_layer true).
struct HeadTarget {
  torch::Tensor first;   // [N]
  torch::Tensor second;  // [N], or undefined
  bool by_layer = false;
};

// The targets of attention_supervision_loss for a step whose maps are `attention` (per layer,
// [B, heads, L, N]): [P, N] when no target has a second map, else [P, layers * heads, N].
torch::Tensor head_targets(const std::vector<HeadTarget>& targets,
                           const std::vector<torch::Tensor>& attention);

// The attention target of image i's boxes over the grid cells, [N], summing to 1 (or to 0 when
// the boxes cover no cell): each cell in proportion to coverage^power.
torch::Tensor target_over_cells(const TrainingData& data, size_t image,
                                const std::vector<cv::Rect>& boxes, double power);

}  // namespace glimpse::train

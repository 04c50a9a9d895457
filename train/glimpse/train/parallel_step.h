// One training step, data-parallel inside the process: the step's images cut into parts of about
// equal numbers of tokens, the encoder run once on all of them, each part's decoder pass and its
// objectives' terms on a thread of its own (one LibTorch thread each, dropout drawn from
// (seed, step, part)), the parts' gradients summed in a fixed order, then the terms on the whole
// step. Every loss is a mean over the whole step whatever the number of parts.
#pragma once

#include <memory>
#include <vector>

#include "glimpse/data/feature_cache.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/train/objective.h"

namespace glimpse::train {

// A feature cache as a view of the training split: plain or mirrored.
struct FeatureView {
  std::shared_ptr<data::FeatureCache> cache;
  std::vector<size_t> rows;  // per training image
};

// Where a step's images come from: decoded images, or one of the feature views per image,
// chosen from (seed, epoch, image).
struct StepSource {
  const std::vector<PreparedImage>& images;
  const std::vector<FeatureView>& views;  // empty: train on the images
  uint64_t seed = 0;
};

class ParallelStep {
 public:
  // `net_params`: the model's trainable tensors, whose gradients the parts give.
  ParallelStep(fusion::CaptionModel& model, std::vector<std::unique_ptr<Objective>>& objectives,
               std::vector<torch::Tensor> net_params, int parts);

  // Leaves the step's gradients in every trainable tensor (zeroed first) and returns its loss.
  // `images`: the step's training images; `global_step` seeds the parts' dropout.
  double run(const StepSource& source, const std::vector<size_t>& images, int epoch,
             int64_t global_step);

 private:
  struct Part;
  std::vector<Part> assemble(const StepSource& source, const std::vector<size_t>& images, int epoch,
                             std::vector<torch::Tensor>& features, std::vector<cv::Mat>& decoded);
  // The step's encoder features [I, N, C], from the views or the encoder; sets `grid`.
  torch::Tensor encode(const StepSource& source, std::vector<torch::Tensor>& cached,
                       const std::vector<cv::Mat>& decoded, text::AttentionContext& grid);
  void add_part_gradients(const std::vector<std::vector<torch::Tensor>>& grads);

  fusion::CaptionModel& model_;
  std::vector<std::unique_ptr<Objective>>& objectives_;
  std::vector<torch::Tensor> net_params_;
  int parts_;
};

}  // namespace glimpse::train

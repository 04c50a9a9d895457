// Cross-entropy of the generated words: a caption's, or a question's answer (the loss mask
// covers only what the model writes), averaged over the step's target words.
#include "objectives.h"

namespace glimpse::train {

namespace {

class CrossEntropy : public Objective {
 public:
  using Objective::Objective;
  void prepare(const TrainingData&) override {}
  torch::Tensor part_loss(const PartOutput& p) const override {
    const auto loss = text::masked_cross_entropy(p.out.logits, p.batch.target, p.batch.loss_mask) *
                      (p.words / p.step_words);
    return weight() == 1.0 ? loss : weight() * loss;
  }
};

}  // namespace

std::unique_ptr<Objective> make_cross_entropy(const ObjectiveSpec& spec) {
  return std::make_unique<CrossEntropy>(spec);
}

}  // namespace glimpse::train

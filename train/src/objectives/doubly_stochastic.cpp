// Show, Attend and Tell's doubly stochastic regulariser, λ Σ_cells (1 - Σ_t α_ti)², averaged over
// the grid's cells as its PyTorch reimplementation does, and over the step's sequences. It reads
// an LSTM decoder's one attention map a step.
#include "objectives.h"

#include "glimpse/core/error.h"

namespace glimpse::train {

namespace {

class DoublyStochastic : public Objective {
 public:
  using Objective::Objective;
  void prepare(const TrainingData& data) override {
    if (data.model.config().decoder != fusion::DecoderKind::kLstm)
      throw Error(ErrorCode::kInvalidArgument,
                  "objective 'doubly_stochastic' regularises an LSTM decoder's attention (Show, "
                  "Attend and Tell); this model's decoder is a " +
                      std::string(fusion::to_string(data.model.config().decoder)) +
                      ": leave it out of the recipe");
  }
  torch::Tensor part_loss(const PartOutput& p) const override {
    return weight() * text::doubly_stochastic_penalty(p.out.attention[0], p.batch.loss_mask) /
           static_cast<double>(p.out.attention[0].size(-1)) * (p.sequences / p.step_sequences);
  }
};

}  // namespace

std::unique_ptr<Objective> make_doubly_stochastic(const ObjectiveSpec& spec) {
  return std::make_unique<DoublyStochastic>(spec);
}

}  // namespace glimpse::train

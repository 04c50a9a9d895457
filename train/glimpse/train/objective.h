// Training objectives: each term of the loss is one class behind this interface, made by name from
// the registry, so that the loop only plans steps, runs them and sums what the objectives return.
//
//   auto o = make_objective({"attention_supervision", 4.0, {{"target_power", 4}}});
//   o->prepare(data);                        // checks what it needs, builds its targets
//   ... per step: begin_step, add_image (each image of each part), part_loss on each part's
//   thread, then step_loss on the whole step.
//
// Adding an objective is one file in train/src/objectives/ and one line in the registry.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "glimpse/data/datasets.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/text/decoder.h"
#include "glimpse/text/sequence.h"

namespace glimpse::train {

// An objective as a recipe names it: its name in the registry, its weight, its parameters.
struct ObjectiveSpec {
  std::string name;
  double weight = 1.0;
  nlohmann::json params = nlohmann::json::object();
};

// One training image as the loop uses it: its sequences (captions first, then questions), the
// same read for the mirrored image when mirrored features are trained on, where each came from,
// and the image itself at the model's input size (none with feature caches).
struct PreparedImage {
  struct Source {
    bool caption = true;
    size_t index = 0;  // into the entry's captions or questions
  };
  std::vector<text::Sequence> sequences, mirrored;
  std::vector<Source> sources;  // per sequence
  size_t tokens = 0;            // the work of its sequences
  cv::Mat image;                // at the model's input size; empty with feature caches
  cv::Size size;                // as decoded
};

// What objectives read to prepare: the data, the images as prepared, and the model.
struct TrainingData {
  const data::Dataset& set;
  const std::vector<PreparedImage>& images;
  const fusion::CaptionModel& model;
  std::string root;    // where the data came from, for messages
  bool from_features;  // trained on feature caches: no images, no boxes on the grid
  cv::Size grid;       // the encoder's grid (cells across, down); empty with feature caches
};

// One part of a step as its objectives see it, on the part's own thread.
struct PartOutput {
  const text::DecoderOutput& out;
  const text::SequenceBatch& batch;
  size_t part = 0;
  double words = 0, step_words = 0;          // target words: the part's, the step's
  double sequences = 0, step_sequences = 0;  // sequences: the part's, the step's
};

class Objective {
 public:
  explicit Objective(ObjectiveSpec spec) : spec_(std::move(spec)) {}
  virtual ~Objective() = default;
  Objective(const Objective&) = delete;
  Objective& operator=(const Objective&) = delete;

  const ObjectiveSpec& spec() const { return spec_; }
  double weight() const { return spec_.weight; }

  // Checks what it needs from the data and the model (throws glimpse::Error saying what is
  // missing and what to do) and builds its targets of every training image.
  virtual void prepare(const TrainingData& data) = 0;
  // A new step, cut into `parts`.
  virtual void begin_step(size_t parts) { (void)parts; }
  // Image `image` joins part `part` as the step's image number `in_step`; its sequences are the
  // part's rows from `first_row`.
  virtual void add_image(size_t part, size_t image, size_t in_step, int64_t first_row) {
    (void)part, (void)image, (void)in_step, (void)first_row;
  }
  // The part's term of the step's loss, weighted, scaled by the part's share of what the term
  // averages over the step; undefined when it has none.
  virtual torch::Tensor part_loss(const PartOutput& part) const {
    (void)part;
    return {};
  }
  // A term on the whole step's encoder features [I, N, C], weighted; undefined when none.
  virtual torch::Tensor step_loss(const torch::Tensor& features) {
    (void)features;
    return {};
  }
  // Tensors it trains besides the model's (a probe), created here, and their checkpoints.
  virtual std::vector<torch::Tensor> parameters(const fusion::CaptionModel& model) {
    (void)model;
    return {};
  }
  virtual void save(const std::string& checkpoint) const { (void)checkpoint; }
  virtual void load(const std::string& checkpoint) { (void)checkpoint; }

 protected:
  // A parameter of the spec, or `fallback` when it is not there; a wrong type is an error
  // naming the objective and the parameter.
  template <class T>
  T param(const std::string& key, T fallback) const;

 private:
  ObjectiveSpec spec_;
};

// The objective registered under spec.name, or an error listing the names there are.
std::unique_ptr<Objective> make_objective(const ObjectiveSpec& spec);
// The spec with every parameter of its objective (the defaults of those it leaves out; numbers as
// doubles), or an error naming an unknown objective or parameter, a wrong type or a weight
// below 0: what a recipe stores and compares.
ObjectiveSpec resolve_objective(const ObjectiveSpec& spec);
std::vector<std::string> objective_names();

template <class T>
T Objective::param(const std::string& key, T fallback) const {
  if (!spec_.params.contains(key))
    return fallback;
  try {
    return spec_.params.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw std::invalid_argument("objective '" + spec_.name + "': parameter '" + key +
                                "' has the wrong type (" + spec_.params.at(key).dump() + ")");
  }
}

}  // namespace glimpse::train

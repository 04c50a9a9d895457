// Word grounding: a linear probe on the encoder's grid scores every cell for each caption word
// that has an object box, and a softmax over the cells is pulled onto the box, so the encoder
// learns features that tell apart what the words name before the decoder has learnt to ask. The
// probe is a training aid: it is checkpointed, not saved in the model. Parameter: target_power.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "glimpse/core/error.h"
#include "glimpse/text/tokenizer.h"
#include "objectives.h"

namespace glimpse::train {

namespace {

class Grounding : public Objective {
 public:
  explicit Grounding(const ObjectiveSpec& spec)
      : Objective(spec), power_(param("target_power", 1.0)) {}

  void prepare(const TrainingData& data) override {
    if (data.from_features)
      throw Error(ErrorCode::kInvalidArgument,
                  "word grounding needs object boxes and images, not feature caches");
    words_.assign(data.images.size(), {});
    rows_.assign(data.images.size(), {});
    size_t grounded = 0;
    for (size_t i = 0; i < data.images.size(); ++i) {
      prepare_image(data, i);
      grounded += words_[i].empty() ? 0 : 1;
    }
    if (grounded == 0)
      throw Error(ErrorCode::kInvalidArgument,
                  "--grounding needs captions whose words carry object boxes (as glimpse world "
                  "exports them); '" +
                      data.root + "' has none");
  }

  std::vector<torch::Tensor> parameters(const fusion::CaptionModel& model) override {
    // One vector per word over the encoder's channels, [V, C].
    const int64_t channels = model.net().encoder->channels();
    probe_ = torch::randn({static_cast<int64_t>(model.vocabulary().size()), channels}) /
             std::sqrt(double(channels));
    return {probe_};
  }

  void save(const std::string& checkpoint) const override {
    torch::save(probe_, checkpoint + "/grounding.pt");
  }
  void load(const std::string& checkpoint) override {
    torch::Tensor saved;
    torch::load(saved, checkpoint + "/grounding.pt");
    torch::NoGradGuard no_grad;
    probe_.copy_(saved);
  }

  void begin_step(size_t) override {
    image_.clear();
    word_.clear();
    target_.clear();
  }

  void add_image(size_t, size_t image, size_t in_step, int64_t) override {
    for (size_t g = 0; g < words_[image].size(); ++g) {
      image_.push_back(static_cast<int64_t>(in_step));
      word_.push_back(words_[image][g]);
      target_.push_back(rows_[image][g]);
    }
  }

  torch::Tensor step_loss(const torch::Tensor& features) override {
    if (word_.empty())
      return {};
    const auto f = features.index_select(0, torch::tensor(image_, torch::kLong));
    const auto w = probe_.index_select(0, torch::tensor(word_, torch::kLong));  // [P, C]
    const auto scores = torch::bmm(f, w.unsqueeze(2)).squeeze(2);               // [P, N]
    return weight() * -(torch::stack(target_) * torch::log_softmax(scores, 1)).sum(1).mean();
  }

 private:
  // Each boxed word of the image's captions, with the union of its boxes.
  void prepare_image(const TrainingData& data, size_t i) {
    const auto& vocab = data.model.vocabulary();
    std::map<int64_t, std::vector<cv::Rect>> boxes_of;
    for (const auto& c : data.set.images[i].captions) {
      const auto words = text::tokenize(c.text);
      if (c.word_boxes.size() != words.size())
        continue;
      for (size_t w = 0; w < words.size(); ++w) {
        const int64_t id = vocab.id(words[w]);
        if (!c.word_boxes[w] || id == text::kUnk)
          continue;
        auto& boxes = boxes_of[id];
        if (std::find(boxes.begin(), boxes.end(), *c.word_boxes[w]) == boxes.end())
          boxes.push_back(*c.word_boxes[w]);
      }
    }
    for (const auto& [id, boxes] : boxes_of) {
      auto row = target_over_cells(data, i, boxes, power_);
      if (row.sum().item<double>() <= 0)
        continue;
      words_[i].push_back(id);
      rows_[i].push_back(row);
    }
  }

  double power_;
  std::vector<std::vector<int64_t>> words_;
  std::vector<std::vector<torch::Tensor>> rows_;
  torch::Tensor probe_;
  std::vector<int64_t> image_, word_;
  std::vector<torch::Tensor> target_;
};

}  // namespace

std::unique_ptr<Objective> make_grounding(const ObjectiveSpec& spec) {
  return std::make_unique<Grounding>(spec);
}

}  // namespace glimpse::train

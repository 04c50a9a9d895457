// Attention supervision (Liu et al. 2017, "Attention Correctness in Neural Image Captioning"):
// each generated word that names an object pulls its attention onto the grid cells under the
// object's box, each cell in proportion to coverage^target_power.
//
// Parameters, the target policies of data whose questions name their objects' boxes (the shapes
// world): each_head (every layer's every head held on its own, not their average),
// heads_may_split (with each_head, answers about several objects keep the average), mentions
// (a question's phrases naming one object held on it while read), pair_heads (a relation's two
// objects split between the halves of each layer's heads), reference_first (a question's
// reference object held by the first layer, its answer by the later ones), count_centres (a
// count's answer held on each counted object's centre, an equal share each).
#include <algorithm>
#include <map>

#include "glimpse/core/error.h"
#include "glimpse/fusion/attention.h"
#include "glimpse/fusion/overlay.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/train/attention_supervision.h"
#include "objectives.h"

namespace glimpse::train {

namespace {

class AttentionSupervision : public Objective {
 public:
  explicit AttentionSupervision(const ObjectiveSpec& spec)
      : Objective(spec),
        power_(param("target_power", 1.0)),
        each_head_(param("each_head", false)),
        heads_may_split_(param("heads_may_split", false)),
        mentions_(param("mentions", false)),
        pair_heads_(param("pair_heads", false)),
        reference_first_(param("reference_first", false)),
        count_centres_(param("count_centres", false)) {}

  void prepare(const TrainingData& data) override {
    check(data);
    images_.assign(data.images.size(), {});
    for (size_t i = 0; i < data.images.size(); ++i)
      prepare_image(data, i);
  }

  void begin_step(size_t parts) override { parts_.assign(parts, {}); }

  void add_image(size_t part, size_t image, size_t, int64_t first_row) override {
    auto& p = parts_[part];
    const auto& img = images_[image];
    for (size_t q = 0; q < img.supervised.size(); ++q)
      for (const auto& t : img.supervised[q]) {
        p.rows.push_back(first_row + static_cast<int64_t>(q));
        p.positions.push_back(t.position);
        if (t.second < 0) {
          p.targets.push_back({img.targets[t.first], torch::Tensor(), false});
          p.each.push_back(each_head_ && (!heads_may_split_ || img.single_object[t.first]));
        } else {
          p.targets.push_back({img.targets[t.first], img.targets[t.second], t.by_layer});
          p.each.push_back(1);  // the parts only mean something head by head
        }
      }
  }

  torch::Tensor part_loss(const PartOutput& out) const override {
    const auto& p = parts_[out.part];
    if (p.rows.empty())
      return {};
    double positions = 0;  // the step's, over every part
    for (const auto& q : parts_)
      positions += static_cast<double>(q.rows.size());
    return weight() *
           attention_supervision_loss(out.out.attention, torch::tensor(p.rows, torch::kLong),
                                      torch::tensor(p.positions, torch::kLong),
                                      head_targets(p.targets, out.out.attention),
                                      torch::tensor(p.each, torch::kLong).to(torch::kBool)) *
           (static_cast<double>(p.rows.size()) / positions);
  }

 private:
  // A supervised position of a sequence and its target: row `first` of the image's targets for
  // every head, or `first` for one part of the heads and `second` for the rest (see HeadTarget).
  struct Supervised {
    int64_t position, first, second = -1;
    bool by_layer = false;
  };
  struct Image {
    torch::Tensor targets;                            // [K, N]: the distinct targets
    std::vector<bool> single_object;                  // per target
    std::vector<std::vector<Supervised>> supervised;  // per sequence
  };
  struct Part {
    std::vector<int64_t> rows, positions, each;
    std::vector<HeadTarget> targets;
  };

  void check(const TrainingData& data) const {
    if (data.from_features)
      throw Error(ErrorCode::kInvalidArgument,
                  "attention supervision needs object boxes and images, not feature caches");
    const auto& config = data.model.config();
    if (pair_heads_) {
      const auto spec = fusion::parse_attention_spec(config.attention());
      if (spec.ok() && spec.value().heads < 2)
        throw Error(ErrorCode::kInvalidArgument,
                    "--pair-heads needs an attention of 2 heads or more, and '" +
                        config.attention() + "' has 1 (try --attention cross:4)");
    }
    const int64_t layers =
        config.decoder == fusion::DecoderKind::kLstm ? 1 : config.transformer.layers;
    if (reference_first_ && layers < 2)
      throw Error(ErrorCode::kInvalidArgument,
                  "--reference-first needs a decoder of 2 layers or more (a transformer with "
                  "--layers 2), and this one has 1");
  }

  // The index of `boxes` among the image's distinct targets, added when new.
  static int64_t target_of(std::vector<std::vector<cv::Rect>>& seen,
                           const std::vector<cv::Rect>& boxes) {
    for (size_t k = 0; k < seen.size(); ++k)
      if (seen[k] == boxes)
        return static_cast<int64_t>(k);
    seen.push_back(boxes);
    return static_cast<int64_t>(seen.size() - 1);
  }

  void prepare_image(const TrainingData& data, size_t i) {
    const auto& prepared = data.images[i];
    const auto& entry = data.set.images[i];
    auto& img = images_[i];
    std::vector<std::vector<cv::Rect>> seen;
    for (size_t s = 0; s < prepared.sequences.size(); ++s) {
      const auto& source = prepared.sources[s];
      const auto prefix = static_cast<int64_t>(prepared.sequences[s].prefix_len);
      img.supervised.push_back(
          source.caption ? caption_targets(entry.captions[source.index], prefix, seen)
                         : question_targets(data, entry.questions[source.index], prefix, seen));
    }
    for (const auto& boxes : seen)
      img.single_object.push_back(boxes.size() == 1);
    if (seen.empty())
      return;
    std::vector<torch::Tensor> rows;
    for (const auto& boxes : seen)
      rows.push_back(target_over_cells(data, i, boxes, power_));
    img.targets = torch::stack(rows);  // [K, N]
  }

  // A caption's boxed words, each held on its box.
  std::vector<Supervised> caption_targets(const data::CaptionEntry& c, int64_t prefix,
                                          std::vector<std::vector<cv::Rect>>& seen) const {
    std::vector<Supervised> out;
    const auto words = text::tokenize(c.text);
    if (c.word_boxes.size() != words.size())
      return out;
    for (size_t w = 0; w < words.size(); ++w)
      if (c.word_boxes[w])
        out.push_back({prefix + static_cast<int64_t>(w) - 1, target_of(seen, {*c.word_boxes[w]})});
    return out;
  }

  std::vector<Supervised> question_targets(const TrainingData& data, const data::QaEntry& q,
                                           int64_t prefix,
                                           std::vector<std::vector<cv::Rect>>& seen) const {
    std::vector<Supervised> out;
    const auto question = text::tokenize(q.question);
    if (mentions_)
      out = mention_targets(data, q, question, seen);
    const bool pair = pair_heads_ && q.family == "relation" && q.boxes.size() == 2;
    const bool hop = reference_first_ && !q.reference_boxes.empty();
    const std::vector<cv::Rect> boxes =
        count_centres_ && q.family == "count" ? centre_points(q.boxes) : q.boxes;
    if (boxes.empty())
      return out;
    const auto answer = text::tokenize(q.answer);
    for (size_t w = 0; w < answer.size(); ++w) {
      const auto position = prefix + static_cast<int64_t>(w) - 1;
      if (pair)
        out.push_back(
            {position, target_of(seen, {q.boxes[0]}), target_of(seen, {q.boxes[1]}), false});
      else if (hop)
        out.push_back(
            {position, target_of(seen, q.reference_boxes), target_of(seen, q.boxes), true});
      else
        out.push_back({position, target_of(seen, boxes)});
    }
    return out;
  }

  // Each phrase of the question that names one object, held on it where it is read.
  std::vector<Supervised> mention_targets(const TrainingData& data, const data::QaEntry& q,
                                          const std::vector<std::string>& question,
                                          std::vector<std::vector<cv::Rect>>& seen) const {
    std::vector<Supervised> out;
    const auto positions = mention_positions(
        question, q.mentions, data.model.config().decoder == fusion::DecoderKind::kLstm);
    for (size_t k = 0; k < positions.size(); ++k) {
      if (positions[k] < 0)
        throw Error(ErrorCode::kInvalidArgument,
                    "question " + std::to_string(q.question_id) + " of '" + data.root +
                        "': its mention \"" + q.mentions[k].first + "\" is not in \"" + q.question +
                        "\" (after the mentions before it)");
      out.push_back({positions[k], target_of(seen, {q.mentions[k].second})});
    }
    return out;
  }

  double power_;
  bool each_head_, heads_may_split_, mentions_, pair_heads_, reference_first_, count_centres_;
  std::vector<Image> images_;
  std::vector<Part> parts_;
};

}  // namespace

torch::Tensor attention_supervision_loss(const std::vector<torch::Tensor>& attention,
                                         const torch::Tensor& rows, const torch::Tensor& positions,
                                         const torch::Tensor& targets,
                                         const torch::Tensor& each_head) {
  TORCH_CHECK(!attention.empty() && (targets.dim() == 2 || targets.dim() == 3) &&
                  each_head.size(0) == targets.size(0),
              "attention supervision needs maps and one flag a target");
  // Every layer's every head, [P, layers * heads, N].
  std::vector<torch::Tensor> maps;
  for (const auto& a : attention)  // [B, heads, L, N]
    maps.push_back(a.index({rows, torch::indexing::Slice(), positions}));
  const auto picked = torch::cat(maps, 1);
  const auto per_target = targets.dim() == 3 ? targets : targets.unsqueeze(1);  // [P, 1 or LH, N]
  TORCH_CHECK(per_target.size(1) == 1 || per_target.size(1) == picked.size(1),
              "attention supervision: ", per_target.size(1), " head targets for ", picked.size(1),
              " heads");
  const auto per_head = -(per_target * torch::log(picked + 1e-8)).sum(2).mean(1);  // [P]
  // The map the evaluation reads, averaged over layers and heads (layers hold the same number).
  const auto mean = -(per_target.mean(1) * torch::log(picked.mean(1) + 1e-8)).sum(1);  // [P]
  return torch::where(each_head, per_head, mean).mean();
}

std::vector<cv::Rect> centre_points(std::vector<cv::Rect> boxes) {
  for (auto& b : boxes)
    b = cv::Rect(b.x + b.width / 2, b.y + b.height / 2, 1, 1);
  return boxes;
}

std::vector<int64_t> mention_positions(
    const std::vector<std::string>& words,
    const std::vector<std::pair<std::string, cv::Rect>>& mentions, bool lstm) {
  // Question word j is read at position 2 + j (after <bos> <question>). A Transformer queries
  // that position's attention with the word itself; an LSTM (Show, Attend and Tell) with the
  // state before it, so there a mention is held from the position after it.
  std::vector<int64_t> out;
  size_t from = 0;
  for (const auto& m : mentions) {
    const auto said = text::tokenize(m.first);
    const auto at = said.empty() ? words.end()
                                 : std::search(words.begin() + static_cast<std::ptrdiff_t>(from),
                                               words.end(), said.begin(), said.end());
    if (at == words.end()) {
      out.push_back(-1);
      continue;
    }
    from = static_cast<size_t>(at - words.begin()) + said.size();
    out.push_back(static_cast<int64_t>(2 + from - 1) + (lstm ? 1 : 0));
  }
  return out;
}

torch::Tensor head_targets(const std::vector<HeadTarget>& targets,
                           const std::vector<torch::Tensor>& attention) {
  TORCH_CHECK(!targets.empty() && !attention.empty(), "head_targets needs targets and maps");
  const bool any_split = std::any_of(targets.begin(), targets.end(),
                                     [](const HeadTarget& t) { return t.second.defined(); });
  std::vector<torch::Tensor> rows;
  rows.reserve(targets.size());
  if (!any_split) {
    for (const auto& t : targets)
      rows.push_back(t.first);
    return torch::stack(rows);  // [P, N]
  }
  // Which of the layer-major heads take the second map: the upper half of each layer's heads,
  // or every head of the layers after the first.
  std::vector<int64_t> upper_half, later_layers;
  for (size_t l = 0; l < attention.size(); ++l) {  // [B, heads, L, N]
    const int64_t h = attention[l].size(1);
    for (int64_t k = 0; k < h; ++k) {
      upper_half.push_back(k >= h / 2 ? 1 : 0);
      later_layers.push_back(l > 0 ? 1 : 0);
    }
  }
  auto mask = [](const std::vector<int64_t>& m) {
    return torch::tensor(m, torch::kLong).to(torch::kBool).unsqueeze(1);  // [LH, 1]
  };
  const auto by_head = mask(upper_half), by_layer = mask(later_layers);
  const int64_t heads = by_head.size(0);
  for (const auto& t : targets) {
    const auto first = t.first.unsqueeze(0).expand({heads, t.first.size(0)});
    if (!t.second.defined()) {
      rows.push_back(first);
      continue;
    }
    if (t.by_layer) {
      TORCH_CHECK(attention.size() >= 2, "a target split by layer needs 2 layers or more, not ",
                  attention.size());
    } else {
      for (const auto& a : attention)
        TORCH_CHECK(a.size(1) >= 2,
                    "a target split by head needs 2 heads or more in every "
                    "layer, not ",
                    a.size(1));
    }
    rows.push_back(torch::where(t.by_layer ? by_layer : by_head, t.second.unsqueeze(0), first));
  }
  return torch::stack(rows);  // [P, layers * heads, N]
}

torch::Tensor target_over_cells(const TrainingData& data, size_t image,
                                const std::vector<cv::Rect>& boxes, double power) {
  const cv::Mat t = fusion::attention_target(
      fusion::cell_coverage(data.grid, data.images[image].size, data.model.config().image, boxes),
      power);
  return torch::from_blob(const_cast<float*>(t.ptr<float>()), {static_cast<int64_t>(t.total())},
                          torch::kFloat32)
      .clone();
}

std::unique_ptr<Objective> make_attention_supervision(const ObjectiveSpec& spec) {
  return std::make_unique<AttentionSupervision>(spec);
}

}  // namespace glimpse::train

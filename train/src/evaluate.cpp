#include "glimpse/train/evaluate.h"

#include <fmt/format.h>

#include "glimpse/core/parallel.h"
#include "glimpse/text/caption_metrics.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/text/vqa_accuracy.h"
#include "glimpse/train/answer_prior.h"
#include "glimpse/train/attention_correctness.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/vision/preprocess.h"

namespace glimpse::train {

double EvalReport::selection() const {
  return questions == 0 ? cider_d : vqa_accuracy + bleu4();
}

std::string EvalReport::headline() const {
  std::string s;
  if (questions > 0)
    s = fmt::format("VQA accuracy {:.2f}%", 100 * vqa_accuracy);
  if (captions > 0)
    s += fmt::format("{}BLEU-4 {:.4f}  CIDEr-D {:.4f}", s.empty() ? "" : "  ", bleu4(), cider_d);
  return s;
}

namespace {

// What one generated sequence was: an image's caption, or its question number `question`.
struct Pending {
  bool caption;
  size_t image, question;
};

// Sequences generated together: images (or cache rows standing for them) and prefixes.
struct Batch {
  std::vector<cv::Mat> imgs;
  std::vector<std::vector<int64_t>> prefixes;
  std::vector<Pending> pending;
  std::vector<size_t> rows;
  std::vector<fusion::Prediction> preds;
};

// Batches wait until there is one for each worker; the workers generate them at once, and their
// predictions are scored in batch order, so the figures do not depend on the worker count.
class Evaluator {
 public:
  Evaluator(const fusion::CaptionModel& model, const data::Dataset& ds, const EvalOptions& o)
      : model_(model),
        ds_(ds),
        o_(o),
        cached_(o.features != nullptr),
        captions_(model.config().has_task("caption")),
        questions_(model.config().has_task("vqa")) {
    generate_.beam = o.beam;
    generate_.max_len = o.max_len;
    generate_.length_penalty = o.length_penalty;
    n_ = o.max_images > 0 ? std::min(ds.images.size(), static_cast<size_t>(o.max_images))
                          : ds.images.size();
    sizes_.resize(n_);
    first_answer_.resize(n_ + 1, 0);
    for (size_t i = 0; i < n_; ++i)
      first_answer_[i + 1] = first_answer_[i] + ds.images[i].questions.size();
    report_.answers.resize(first_answer_[n_]);
    if (cached_)
      check_cache();
  }

  EvalReport run() {
    for (size_t i = 0; i < n_; ++i)
      add_image(i);
    flush();
    run_waiting();
    return finish();
  }

 private:
  void check_cache() {
    const auto& info = o_.features->info();
    if (info.channels != model_.net().encoder->channels())
      throw Error(ErrorCode::kInvalidArgument,
                  "the feature cache has " + std::to_string(info.channels) +
                      " channels per cell but the model's encoder gives " +
                      std::to_string(model_.net().encoder->channels()));
    rows_ = data::cache_rows(*o_.features, "given for evaluation", ds_, n_);
  }

  // Image i's caption and questions go into the batch being filled.
  void add_image(size_t i) {
    const auto& img = ds_.images[i];
    const auto& pre = model_.config().image;
    cv::Mat rgb;
    if (cached_) {
      sizes_[i] = cv::Size(pre.width, pre.height);
      rgb = cv::Mat(1, 1, CV_8UC3);  // stands for row rows_[i]; never encoded
    } else {
      const cv::Mat full = vision::load_image(img.path).take();
      sizes_[i] = full.size();
      rgb = vision::resize_for_model(full, pre);
    }
    auto add = [&](std::vector<int64_t> prefix, Pending p) {
      current_.rows.push_back(cached_ ? rows_[i] : 0);
      current_.imgs.push_back(rgb);
      current_.prefixes.push_back(std::move(prefix));
      current_.pending.push_back(p);
    };
    if (captions_ && !img.captions.empty())
      add(model_.caption_prefix(), {true, i, 0});
    for (size_t q = 0; questions_ && q < img.questions.size(); ++q)
      if (auto prefix = model_.question_prefix(img.questions[q].question, 64))
        add(prefix.value(), {false, i, q});
    if (static_cast<int>(current_.imgs.size()) >= o_.batch_size)
      flush();
    ++report_.images;
  }

  void flush() {
    if (current_.imgs.empty())
      return;
    waiting_.push_back(std::move(current_));
    current_ = Batch{};
    if (static_cast<int>(waiting_.size()) >= std::max(1, o_.workers))
      run_waiting();
  }

  void run_waiting() {
    if (waiting_.empty())
      return;
    core::run_parallel(static_cast<int>(waiting_.size()),
                       [&](int w) { generate(waiting_[static_cast<size_t>(w)]); });
    for (const auto& b : waiting_)
      score(b);
    waiting_.clear();
  }

  void generate(Batch& b) const {
    if (!cached_) {
      b.preds = model_.generate(b.imgs, b.prefixes, generate_).take();
      return;
    }
    fusion::EncodedImages encoded;
    encoded.features = o_.features->gather(b.rows);
    encoded.grid_h = o_.features->info().grid_h;
    encoded.grid_w = o_.features->info().grid_w;
    b.preds = model_.generate(encoded, b.prefixes, generate_).take();
  }

  void score(const Batch& b) {
    for (size_t k = 0; k < b.preds.size(); ++k) {
      const auto& p = b.pending[k];
      if (o_.attention)
        score_attention(b.preds[k], p);
      if (p.caption)
        score_caption(b.preds[k], p.image);
      else
        score_answer(b.preds[k], p);
    }
  }

  // Attention correctness: the share of each referring word's attention inside its box.
  void score_attention(const fusion::Prediction& pred, const Pending& p) {
    const auto& entry = ds_.images[p.image];
    for (size_t t = 0; t < pred.words.size(); ++t) {
      std::vector<cv::Rect> boxes;
      if (p.caption) {
        if (auto box = referent(pred.words, t, entry.captions))
          boxes.push_back(*box);
      } else {
        boxes = entry.questions[p.question].boxes;
      }
      if (!boxes.empty())
        (p.caption ? caption_share_ : answer_share_)
            .add(pred, t, boxes, sizes_[p.image], model_.config().image);
    }
  }

  void score_caption(const fusion::Prediction& pred, size_t image) {
    cands_.push_back(text::normalize_caption(pred.text));
    std::vector<std::string> rs;
    for (const auto& c : ds_.images[image].captions)
      rs.push_back(text::normalize_caption(c.text));
    refs_.push_back(rs);
  }

  void score_answer(const fusion::Prediction& pred, const Pending& p) {
    const data::QaEntry& q = ds_.images[p.image].questions[p.question];
    report_.answers[first_answer_[p.image] + p.question] = pred.text;
    const double acc = text::vqa_accuracy(pred.text, q.answers);
    vqa_ += acc;
    auto& by = report_.vqa_by_type[question_type(q)];
    by.first += acc;
    ++by.second;
    ++report_.questions;
  }

  EvalReport finish() {
    EvalReport& r = report_;
    r.captions = static_cast<int>(cands_.size());
    if (!cands_.empty()) {
      const auto s = text::score_captions(cands_, refs_);
      for (size_t b = 0; b < 4; ++b)
        r.bleu[b] = s.bleu[b];
      r.rouge_l = s.rouge_l;
      r.cider_d = s.cider_d;
    }
    r.vqa_accuracy = r.questions > 0 ? vqa_ / r.questions : 0.0;
    for (auto& [type, by] : r.vqa_by_type)
      by.first /= by.second;
    r.caption_words = caption_share_.words;
    r.caption_attention = caption_share_.mean_attention();
    r.caption_uniform = caption_share_.mean_uniform();
    r.answer_words = answer_share_.words;
    r.answer_attention = answer_share_.mean_attention();
    r.answer_uniform = answer_share_.mean_uniform();
    return r;
  }

  const fusion::CaptionModel& model_;
  const data::Dataset& ds_;
  const EvalOptions& o_;
  const bool cached_;
  const bool captions_, questions_;  // which of the images' sequences the model's tasks score
  fusion::GenerateOptions generate_;
  size_t n_ = 0;
  std::vector<cv::Size> sizes_;
  std::vector<size_t> first_answer_;  // image i's first question among all: its answers' place
  std::vector<size_t> rows_;
  Batch current_;
  std::vector<Batch> waiting_;
  EvalReport report_;
  AttentionShare caption_share_, answer_share_;
  std::vector<std::string> cands_;
  std::vector<std::vector<std::string>> refs_;
  double vqa_ = 0;
};

}  // namespace

Result<EvalReport> evaluate(const fusion::CaptionModel& model, const data::Dataset& ds,
                            const EvalOptions& o) {
  auto r = catch_as_result([&] { return Evaluator(model, ds, o).run(); });
  if (r && r.value().images > 0 && r.value().captions == 0 && r.value().questions == 0) {
    const auto& c = model.config();
    const bool both = c.has_task("caption") && c.has_task("vqa");
    const std::string wanted = both                ? "captions or questions"
                               : c.has_task("vqa") ? "questions"
                                                   : "captions";
    return ErrorInfo{ErrorCode::kInvalidArgument,
                     "nothing to score: the model is trained for " + wanted +
                         " and the dataset's images have none; evaluate it on a split that has " +
                         (both ? "them" : wanted)};
  }
  return r;
}

}  // namespace glimpse::train

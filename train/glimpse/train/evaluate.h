// Evaluation on a dataset: greedy or beam captions and answers, scored as coco-caption and the
// official VQA evaluation score them, with attention correctness against the dataset's boxes.
//
//   EvalOptions o;  o.attention = true;
//   EvalReport r = evaluate(model, dev_set, o).take();  // r.bleu4(), r.vqa_accuracy, ...
#pragma once

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/data/datasets.h"
#include "glimpse/data/feature_cache.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/train/attention_correctness.h"

namespace glimpse::train {

struct EvalReport {
  // Images scored, and of their captions and questions those of the model's tasks: a model
  // trained only to answer captions nothing (captions 0, caption figures 0), and the reverse.
  int images = 0, captions = 0, questions = 0;
  double cider_d = 0, vqa_accuracy = 0;
  std::array<double, 4> bleu{};  // BLEU-1..4
  double bleu4() const { return bleu[3]; }
  double rouge_l = 0;
  // VQA accuracy by question family (the shapes world's), else by answer type (VQA v2's):
  // accuracy and question count.
  std::map<std::string, std::pair<double, int>> vqa_by_type;
  // Each question's predicted answer, in the dataset's order (image by image, question by
  // question) over the scored images; "" for a question the model could not read.
  std::vector<std::string> answers;
  // Attention correctness: the share of a step's attention inside the box of the object the
  // emitted word refers to, averaged over such words; beside it the same share for uniform
  // attention. Captions: words whose referent the references' word boxes give (see referent()).
  // Answers: every answer word of a question that names its objects' boxes.
  int caption_words = 0, answer_words = 0;
  double caption_attention = 0, caption_uniform = 0;
  double answer_attention = 0, answer_uniform = 0;
  // What "best" means: VQA accuracy + BLEU-4 (each in [0, 1]); CIDEr-D when there are no
  // questions (captioning alone, as captioners are compared).
  double selection() const;
  // The headline figures of the tasks scored: "VQA accuracy 92.25%  BLEU-4 0.8506  CIDEr-D
  // 4.4580", without the caption figures when no caption was scored, or VQA's without questions.
  std::string headline() const;
};

struct EvalOptions {
  int max_images = 0;      // 0 = all
  bool attention = false;  // also measure attention correctness
  int batch_size = 32;     // sequences generated together
  // Batches generated at once, each on a thread of its own with one LibTorch thread; the
  // figures are the same for any count.
  int workers = 1;
  int beam = 1;
  int max_len = 20;
  double length_penalty = text::SearchOptions{}.length_penalty;  // score = Σ log p / length^this
  // The dataset's encoder features (glimpse features), read instead of decoding and encoding
  // each image; images are found by file name.
  std::shared_ptr<const data::FeatureCache> features;
};

// Greedy (or beam) captions and answers on a dataset, scored as coco-caption and the VQA
// evaluation do; only the model's tasks are scored, and a dataset with nothing for them to score
// is an error.
Result<EvalReport> evaluate(const fusion::CaptionModel& model, const data::Dataset& dataset,
                            const EvalOptions& options);

}  // namespace glimpse::train

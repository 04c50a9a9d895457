// The multimodal model: an image encoder and a text decoder joined by attention, conditioned
// on a task prefix so that one model both captions (<bos> <caption> …) and answers questions
// (<bos> <question> w1 … wn <answer> …).
//
//   auto model = CaptionModel::load("models/shapes.safetensors").take();
//   auto p = model->caption(rgb, {}).take();
//   p.text;       // "a red circle left of a blue square"
//   p.attention;  // [T, layers, heads, grid_h, grid_w]: where it looked for each word
//
// caption() and answer() are const and thread-safe: they run under InferenceMode in eval mode
// and write no state. Training goes through net() and is not thread-safe.
#pragma once

#include <torch/torch.h>
#include <opencv2/core.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/fusion/model_config.h"
#include "glimpse/text/search.h"
#include "glimpse/text/vocabulary.h"
#include "glimpse/vision/encoder.h"

namespace glimpse::fusion {

struct GenerateOptions {
  int beam = 1;
  int max_len = 20;
  double length_penalty = text::SearchOptions{}.length_penalty;
  int max_question_tokens = 48;
};

struct Prediction {
  std::string text;                // words joined by spaces
  std::vector<std::string> words;  // the emitted words (no <eos>)
  std::vector<float> log_probs;    // per emitted token (the final <eos> included when emitted)
  torch::Tensor attention;         // [T, layers, heads, grid_h, grid_w] for the emitted tokens
  int64_t grid_h = 0, grid_w = 0;
  bool finished = true;  // false: stopped at max_len without <eos>
};

// Images through the encoder: the features generate() decodes from, kept by callers that ask
// several questions about one image (the server's feature cache).
struct EncodedImages {
  torch::Tensor features;  // [B, N, C]
  int64_t grid_h = 0, grid_w = 0;
};

// The trainable network: registered as "encoder", "decoder" and, with question fusion,
// "fusion", so file tensors are named encoder.*, decoder.* and fusion.*.
class CaptionNet : public torch::nn::Module {
 public:
  explicit CaptionNet(const ModelConfig& config);
  vision::FeatureGrid encode(const torch::Tensor& images);  // [B, 3, H, W]
  // The grid each sequence's decoder reads: features per image [I, N, C], sequence b reading
  // image image_index[b] (undefined: features are per sequence). Without fusion they are the
  // image's own features (and image_index is kept); with it, the question's remade grid
  // [S, N, channels] (and image_index comes back undefined).
  torch::Tensor memory(const torch::Tensor& features, torch::Tensor& image_index,
                       const text::AttentionContext& grid, const torch::Tensor& tokens);
  // memory() then the decoder.
  text::DecoderOutput decode(const torch::Tensor& features, const torch::Tensor& image_index,
                             const text::AttentionContext& grid, const torch::Tensor& tokens);
  text::DecoderOutput forward(const torch::Tensor& images, const torch::Tensor& tokens);
  // Sequence b reads image image_index[b]: each image is encoded once however many captions
  // and questions it has in the batch.
  text::DecoderOutput forward(const torch::Tensor& images, const torch::Tensor& image_index,
                              const torch::Tensor& tokens);
  std::shared_ptr<vision::Encoder> encoder;
  std::shared_ptr<text::Decoder> decoder;
  QuestionFusion fusion{nullptr};  // none without question fusion
  bool blind = false;
};

class CaptionModel {
 public:
  // A model with fresh random weights (for training, or tests).
  static Result<std::shared_ptr<CaptionModel>> create(ModelConfig config);
  // Reads and validates a model file: each way it can be wrong gets its own message.
  static Result<std::shared_ptr<CaptionModel>> load(const std::string& path);
  // Atomic write; fp16 halves the file (floating tensors stored as F16).
  Status save(const std::string& path, bool fp16 = false) const;

  Result<Prediction> caption(const cv::Mat& rgb, const GenerateOptions& options) const;
  Result<Prediction> answer(const cv::Mat& rgb, const std::string& question,
                            const GenerateOptions& options) const;
  // Batched: one prefix per image (captions and questions may be mixed). Entries that share
  // one cv::Mat buffer are encoded once.
  Result<std::vector<Prediction>> generate(const std::vector<cv::Mat>& images,
                                           const std::vector<std::vector<int64_t>>& prefixes,
                                           const GenerateOptions& options) const;
  // The same in two halves: encode once, then decode one prefix per row of features.
  Result<EncodedImages> encode(const std::vector<cv::Mat>& images) const;
  Result<std::vector<Prediction>> generate(const EncodedImages& encoded,
                                           const std::vector<std::vector<int64_t>>& prefixes,
                                           const GenerateOptions& options) const;

  // Token prefixes for the two tasks; question words outside the vocabulary become <unk>.
  std::vector<int64_t> caption_prefix() const;
  Result<std::vector<int64_t>> question_prefix(const std::string& question, int max_tokens) const;
  // The question's words this model does not know (they read as <unk>), in order.
  std::vector<std::string> unknown_words(const std::string& question) const;

  const ModelConfig& config() const { return config_; }
  // Facts saved with the model: training data, command and time, dev figures.
  void set_training_fact(const std::string& key, const std::string& value) {
    config_.training[key] = value;
  }
  void set_metrics(std::map<std::string, double> metrics) { config_.metrics = std::move(metrics); }
  const text::Vocabulary& vocabulary() const { return vocab_; }
  CaptionNet& net() { return *net_; }
  const CaptionNet& net() const { return *net_; }

 private:
  CaptionModel(ModelConfig config, text::Vocabulary vocab, std::shared_ptr<CaptionNet> net);
  ModelConfig config_;
  text::Vocabulary vocab_;
  std::shared_ptr<CaptionNet> net_;
};

}  // namespace glimpse::fusion

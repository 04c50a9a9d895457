// A whole model's description, stored as JSON in the model file's __metadata__["glimpse"].
#pragma once

#include <map>
#include <string>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/fusion/question_fusion.h"
#include "glimpse/text/decoder.h"
#include "glimpse/vision/mobilenet_v2.h"
#include "glimpse/vision/preprocess.h"
#include "glimpse/vision/small_cnn.h"

namespace glimpse::fusion {

inline constexpr int kModelFormatVersion = 1;

enum class EncoderKind { kSmallCnn, kMobileNetV2 };
enum class DecoderKind { kLstm, kTransformer };

// The names model files, recipes and flags use: small_cnn, mobilenet_v2; lstm, transformer.
const char* to_string(EncoderKind kind);
const char* to_string(DecoderKind kind);
// A name that is none of them is an error listing the names there are.
Result<EncoderKind> parse_encoder_kind(const std::string& name);
Result<DecoderKind> parse_decoder_kind(const std::string& name);

struct ModelConfig {
  int format_version = kModelFormatVersion;
  EncoderKind encoder = EncoderKind::kSmallCnn;
  vision::SmallCnnOptions small_cnn;
  int mobilenet_trainable_from = 19;
  int64_t mobilenet_output_stride = 32;  // 32, or 16 for a 14x14 grid at 224x224
  DecoderKind decoder = DecoderKind::kLstm;
  text::LstmDecoderOptions lstm;                // vocab_size and feature_dim are filled in
  text::TransformerDecoderOptions transformer;  // likewise
  FusionOptions fusion;  // question-conditioned features between encoder and decoder (none)
  bool blind = false;    // the image is never seen (all features zero): a question-only baseline
  vision::PreprocessOptions image;
  std::vector<std::string> vocabulary;  // starts with the 7 special tokens
  std::vector<std::string> tasks{"caption", "vqa"};
  std::string notice;                           // licences of weights the model derives from
  std::map<std::string, std::string> training;  // data, command, time: free-form facts
  std::map<std::string, double> metrics;        // dev figures

  // Whether the model was trained for this task ("caption" or "vqa").
  bool has_task(const std::string& task) const;
  std::string attention() const {
    return decoder == DecoderKind::kLstm ? lstm.attention : transformer.cross_attention;
  }
  // A model file leaves out the keys later versions added, at their defaults (its JSON stays as
  // it was); every_key shows them all, as a recipe does.
  std::string to_json(bool every_key = false) const;
  // Validates every field; messages say which field is wrong and why.
  static Result<ModelConfig> from_json(const std::string& text);
};

}  // namespace glimpse::fusion

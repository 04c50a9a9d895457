#include "model_flags.h"

#include "glimpse/vision/small_cnn.h"

namespace glimpse::app {

namespace {

void add_encoder_flags(CLI::App& cmd, fusion::ModelConfig& mo, ModelShape& shape) {
  cmd.add_option("--cnn-width", mo.small_cnn.width, "small_cnn: channels of the first stage")
      ->check(CLI::Range(1, 512));
  cmd.add_option("--cnn-depth", mo.small_cnn.depth, "small_cnn: stages, each halving the size")
      ->check(CLI::Range(1, 8));
  cmd.add_option("--cnn-context", mo.small_cnn.context,
                 "small_cnn: dilated residual blocks after the last stage (dilations 1, 2, 4, 8), "
                 "so each cell sees whole objects")
      ->check(CLI::Range(0, 4));
  cmd.add_option("--grid", shape.grid, "small_cnn: side of the feature grid the decoder attends to")
      ->check(CLI::Range(1, 64));
  cmd.add_flag("!--no-coords", mo.small_cnn.coords,
               "small_cnn: leave out the two channels that tell each grid cell where it is");
  cmd.add_option("--image-size", shape.image_size,
                 "small_cnn: input side in pixels (a mobilenet_v2 takes its weights' input size)")
      ->check(CLI::Range(16, 1024));
}

void add_decoder_flags(CLI::App& cmd, fusion::ModelConfig& mo) {
  cmd.add_option_function<std::string>(
         "--decoder",
         [&mo](const std::string& name) { mo.decoder = fusion::parse_decoder_kind(name).take(); },
         "lstm or transformer")
      ->check(CLI::IsMember({"lstm", "transformer"}));
  cmd.add_option("--embed", mo.lstm.embed_dim, "lstm: word embedding size")
      ->check(CLI::Range(4, 4096));
  cmd.add_option("--hidden", mo.lstm.hidden_dim,
                 "lstm: hidden size (0 = the encoder's channel count, which dot and scaled-dot "
                 "attention need)")
      ->check(CLI::Range(0, 4096));
  cmd.add_option("--attention-dim", mo.lstm.attention_dim, "lstm: attention size")
      ->check(CLI::Range(4, 4096));
  cmd.add_option("--d-model", mo.transformer.d_model, "transformer: model width")
      ->check(CLI::Range(8, 4096));
  cmd.add_option("--layers", mo.transformer.layers, "transformer: layers")
      ->check(CLI::Range(1, 24));
  cmd.add_option("--heads", mo.transformer.heads, "transformer: self-attention heads")
      ->check(CLI::Range(1, 64));
  cmd.add_flag("--memory-norm", mo.transformer.memory_norm,
               "transformer: LayerNorm on the grid before cross-attention, so no cell's key "
               "wins on its magnitude alone");
  cmd.add_option("--ffn", mo.transformer.ffn_dim, "transformer: feed-forward size")
      ->check(CLI::Range(8, 16384));
}

}  // namespace

void add_model_shape_flags(CLI::App& cmd, fusion::ModelConfig& config, ModelShape& shape) {
  add_encoder_flags(cmd, config, shape);
  add_decoder_flags(cmd, config);
  cmd.add_option("--dropout", shape.dropout,
                 "The decoder's dropout (default: 0.5 for the lstm, 0.1 for the transformer)")
      ->check(CLI::Range(0.0, 0.9));
}

void apply_model_shape(const ModelShape& shape, fusion::ModelConfig& config) {
  if (config.encoder == fusion::EncoderKind::kSmallCnn)  // a MobileNetV2 takes its backbone's
    config.image.width = config.image.height = shape.image_size;
  config.small_cnn.grid_h = config.small_cnn.grid_w = shape.grid;
  if (config.lstm.hidden_dim == 0)
    config.lstm.hidden_dim = vision::SmallCnn(config.small_cnn).channels();
  const bool lstm = config.decoder == fusion::DecoderKind::kLstm;
  if (!shape.attention.empty())
    (lstm ? config.lstm.attention : config.transformer.cross_attention) = shape.attention;
  if (shape.dropout >= 0)
    (lstm ? config.lstm.dropout : config.transformer.dropout) = shape.dropout;
}

}  // namespace glimpse::app

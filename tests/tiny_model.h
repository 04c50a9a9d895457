// A tiny random-weight caption model's configuration, shared by the tests that need a whole
// model (fusion, web): a 3x3 grid, 8-wide layers, an 11-word vocabulary.
#pragma once

#include <string>

#include "glimpse/fusion/model_config.h"
#include "glimpse/text/vocabulary.h"

namespace glimpse::testing {

inline fusion::ModelConfig tiny_model_config(const std::string& decoder,
                                             const std::string& attention) {
  fusion::ModelConfig c;
  c.encoder = fusion::EncoderKind::kSmallCnn;
  c.small_cnn.width = 4;
  c.small_cnn.depth = 2;
  c.small_cnn.grid_h = c.small_cnn.grid_w = 3;
  c.decoder = fusion::parse_decoder_kind(decoder).take();
  c.lstm.embed_dim = 8;
  c.lstm.hidden_dim = 8;
  c.lstm.attention_dim = 8;
  c.lstm.attention = attention;
  c.transformer.d_model = 8;
  c.transformer.layers = 2;
  c.transformer.heads = 2;
  c.transformer.ffn_dim = 16;
  c.transformer.max_len = 40;
  c.transformer.cross_attention = attention;
  c.image.width = c.image.height = 32;
  c.vocabulary = text::Vocabulary().words();
  for (const char* w :
       {"a", "red", "circle", "blue", "square", "what", "colour", "is", "the", "yes", "no"})
    c.vocabulary.push_back(w);
  c.training = {{"data", "none: a test model"}};
  c.metrics = {{"bleu4", 0.0}};
  return c;
}

}  // namespace glimpse::testing

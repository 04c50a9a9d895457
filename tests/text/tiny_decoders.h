// Tiny random-weight decoders and grids shared by the decoder and search tests.
#pragma once

#include <memory>
#include <string>

#include "glimpse/fusion/attention.h"
#include "glimpse/text/decoder.h"

namespace glimpse::testing {

inline text::AttentionContext square_grid(int64_t side) {
  text::AttentionContext g;
  g.grid_h = g.grid_w = side;
  return g;
}

// An LSTM decoder with embedding 8 and hidden (= attention) dim `hidden`.
inline std::shared_ptr<text::Decoder> tiny_lstm(int64_t vocab, int64_t features, int64_t hidden,
                                                const std::string& attention) {
  text::LstmDecoderOptions o;
  o.vocab_size = vocab;
  o.feature_dim = features;
  o.embed_dim = 8;
  o.hidden_dim = hidden;
  o.attention_dim = hidden;
  o.attention = attention;
  return std::make_shared<text::LstmDecoder>(o, fusion::attention_factory());
}

// A two-layer, two-head Transformer decoder of width `d_model`.
inline std::shared_ptr<text::Decoder> tiny_transformer(int64_t vocab, int64_t features,
                                                       int64_t d_model, int64_t max_len,
                                                       const std::string& cross_attention) {
  text::TransformerDecoderOptions o;
  o.vocab_size = vocab;
  o.feature_dim = features;
  o.d_model = d_model;
  o.layers = 2;
  o.heads = 2;
  o.ffn_dim = 2 * d_model;
  o.max_len = max_len;
  o.cross_attention = cross_attention;
  return std::make_shared<text::TransformerDecoder>(o, fusion::attention_factory());
}

}  // namespace glimpse::testing

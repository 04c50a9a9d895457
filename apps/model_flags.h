// The flags that shape a model (the small CNN and the decoder), declared once for glimpse train
// and glimpse compare, with one set of bounds.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "glimpse/fusion/model_config.h"

namespace glimpse::app {

// What the flags give that the config holds elsewhere: the input side and the grid side.
struct ModelShape {
  int image_size = 128;
  int grid = 8;
  std::string attention;  // the decoder's attention ("": its default)
  double dropout = -1;    // the decoder's dropout (below 0: its default)
};

// Adds --cnn-width, --cnn-depth, --cnn-context, --grid, --no-coords, --image-size, --decoder,
// --embed, --hidden, --attention-dim, --d-model, --layers, --heads, --memory-norm, --ffn and
// --dropout, writing into `config` and `shape`; their defaults are the values these hold now.
// --attention is each command's own (glimpse compare takes a list of variants).
void add_model_shape_flags(CLI::App& cmd, fusion::ModelConfig& config, ModelShape& shape);

// Puts `shape` into the config; an LSTM hidden size of 0 becomes the small CNN's channel count
// (dot-product attention needs the two equal); the attention and the dropout go to the chosen
// decoder only.
void apply_model_shape(const ModelShape& shape, fusion::ModelConfig& config);

}  // namespace glimpse::app

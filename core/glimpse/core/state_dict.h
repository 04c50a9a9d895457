// A module's parameters and buffers by their registered names, to and from safetensors.
#pragma once

#include <torch/torch.h>

#include <string>

#include "glimpse/core/error.h"
#include "glimpse/core/safetensors.h"

namespace glimpse::core {

// Parameters then buffers, each under `prefix` + its dotted registered name.
NamedTensors state_dict(const torch::nn::Module& module, const std::string& prefix = "");

struct LoadStateOptions {
  std::string prefix;            // names in the file are prefix + module name
  bool allow_unexpected = true;  // tensors in the file under `prefix` that the module lacks
};

// Copies every parameter and buffer of `module` from `file` (converting the dtype, e.g. fp16
// storage into fp32 parameters). A missing tensor or a shape mismatch is an error naming the
// tensor, both shapes and the file; so is a floating-point tensor holding a NaN or an infinity.
// Nothing is half-loaded: the module is untouched on error.
Status load_state_dict(torch::nn::Module& module, const SafetensorsFile& file,
                       const LoadStateOptions& options = {});

}  // namespace glimpse::core

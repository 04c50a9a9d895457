// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON naming each tensor's dtype, shape and byte range, then the
// raw little-endian tensor bytes. `__metadata__` maps strings to strings.
//
//   auto file = SafetensorsFile::open("weights.safetensors").take();
//   torch::Tensor w = file.tensor("features.0.0.weight");
//
// Everything the header claims is validated before any tensor is read: dtype, shape, offsets,
// sizes, overlaps and the file's length. A SafetensorsFile is immutable: safe to share.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "glimpse/core/error.h"

namespace glimpse::core {

struct TensorEntry {
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets relative to the end of the header
  std::uint64_t end = 0;
};

class SafetensorsFile {
 public:
  // Reads and validates a file. Errors name the path and the problem.
  static Result<SafetensorsFile> open(const std::string& path);
  // Validates bytes already in memory; `source` names them in error messages.
  static Result<SafetensorsFile> parse(std::string bytes, const std::string& source = "<memory>");

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::map<std::string, TensorEntry>& entries() const { return entries_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }

  // A copy of the tensor in its stored dtype. Throws glimpse::Error (kNotFound) naming the
  // tensor and the file when it is absent.
  torch::Tensor tensor(const std::string& name) const;

 private:
  std::shared_ptr<const std::string> bytes_;
  std::uint64_t data_start_ = 0;
  std::string source_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorEntry> entries_;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Serialises tensors (moved to CPU, made contiguous) and metadata. Names must be unique and
// non-empty; dtypes must be one the format knows.
std::string serialize_safetensors(const NamedTensors& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

// serialize_safetensors then an atomic write (temporary file, fsync, rename).
Status save_safetensors(const std::string& path, const NamedTensors& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace glimpse::core

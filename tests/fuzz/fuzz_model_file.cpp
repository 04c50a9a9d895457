// The model-file reader: safetensors bytes, every tensor they declare, and the glimpse config in
// their metadata. Each either loads or is refused with a message; nothing reads out of bounds.
#include "fuzz_target.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/fusion/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;  // NOLINT
  auto file = core::SafetensorsFile::parse(std::string(fuzzing::as_text(data, size)), "fuzz");
  if (!file) {
    fuzzing::require(!file.error().message.empty(), "a refusal without a message");
    return 0;
  }
  for (const auto& [name, entry] : file.value().entries()) {
    fuzzing::require(entry.begin <= entry.end && entry.end <= size, "a tensor outside the file",
                     name);
    const auto t = file.value().tensor(name);
    int64_t numel = 1;
    for (const auto d : entry.shape)
      numel *= d;
    fuzzing::require(t.numel() == numel, "a tensor of the wrong size", name);
  }
  const auto meta = file.value().metadata().find("glimpse");
  if (meta != file.value().metadata().end()) {
    const auto config = fusion::ModelConfig::from_json(meta->second);
    if (!config)
      fuzzing::require(!config.error().message.empty(), "a config refusal without a message");
  }
  return 0;
}

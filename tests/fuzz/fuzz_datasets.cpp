// The dataset loaders (COCO captions, Karpathy, Flickr8k, VQA v2, the world's folder, DAQUAR): the
// input's first byte picks one, the rest is split at "\n----\n" into the files it reads. Each
// file either loads or is refused with a message naming it.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "fuzz_target.h"
#include "glimpse/data/datasets.h"

namespace {

namespace fs = std::filesystem;

const fs::path& scratch() {
  static const fs::path dir = [] {
    auto d = fs::temp_directory_path() / ("glimpse-fuzz-datasets-" + std::to_string(::getpid()));
    fs::create_directories(d / "images");
    std::ofstream(d / "images" / "image1.jpg") << "x";  // so that a DAQUAR file can name one
    return d;
  }();
  return dir;
}

std::vector<std::string> split_files(std::string_view text) {
  std::vector<std::string> out;
  for (;;) {
    const auto at = text.find("\n----\n");
    out.emplace_back(text.substr(0, at));
    if (at == std::string_view::npos || out.size() == 3)
      return out;
    text.remove_prefix(at + 6);
  }
}

std::string write(const std::string& name, const std::vector<std::string>& parts, size_t i) {
  const auto path = (scratch() / name).string();
  std::ofstream(path, std::ios::binary) << (i < parts.size() ? parts[i] : std::string());
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;  // NOLINT
  if (size == 0)
    return 0;
  const auto parts = split_files(fuzzing::as_text(data + 1, size - 1));
  const std::string images = (scratch() / "images").string();
  Result<data::Dataset> d = ErrorInfo{};
  switch (data[0] % 6) {
    case 0:
      d = data::load_coco_captions(write("captions.json", parts, 0), images);
      break;
    case 1:
      d = data::load_karpathy(write("dataset.json", parts, 0), images, "train");
      break;
    case 2:
      d = data::load_flickr8k(write("tokens.txt", parts, 0), write("split.txt", parts, 1), images);
      break;
    case 3:
      d = data::load_vqa(write("questions.json", parts, 0), write("annotations.json", parts, 1),
                         images, "", "img_{id}.png");
      break;
    case 5:
      d = data::load_daquar(write("qa.txt", parts, 0), images, {}, {});
      break;
    default:
      write("captions_train.json", parts, 0);
      write("questions_train.json", parts, 1);
      write("annotations_train.json", parts, 2);
      d = data::load_world_folder(scratch().string(), "train");
      break;
  }
  if (!d)
    fuzzing::require(!d.error().message.empty(), "a refusal without a message");
  return 0;
}

#include "glimpse/vision/imagenet.h"

#include <sstream>

#include "glimpse/core/file_util.h"

namespace glimpse::vision {

namespace {
std::array<float, 3> parse_triple(const std::string& key, const std::string& text) {
  std::array<float, 3> v{};
  std::istringstream in(text);
  std::string part;
  size_t i = 0;
  while (std::getline(in, part, ',')) {
    if (i >= 3)
      break;
    try {
      v[i++] = std::stof(part);
    } catch (const std::exception&) {
      i = 99;
      break;
    }
  }
  if (i != 3 || in.rdbuf()->in_avail() > 0)
    throw Error(ErrorCode::kCorrupt,
                "metadata '" + key + "' must be three comma-separated numbers, got '" + text + "'");
  return v;
}
}  // namespace

Result<PreprocessOptions> preprocess_from_metadata(const core::SafetensorsFile& file) {
  return catch_as_result([&] {
    PreprocessOptions p;
    const auto& md = file.metadata();
    if (auto it = md.find("input_size"); it != md.end()) {
      int size = 0;
      try {
        size = std::stoi(it->second);
      } catch (const std::exception&) {
      }
      if (size < 32 || size > 4096)
        throw Error(ErrorCode::kCorrupt,
                    "metadata 'input_size' must be 32..4096, got '" + it->second + "'");
      p.width = p.height = size;
    }
    if (auto it = md.find("normalize_mean"); it != md.end())
      p.mean = parse_triple(it->first, it->second);
    if (auto it = md.find("normalize_std"); it != md.end()) {
      p.stddev = parse_triple(it->first, it->second);
      for (float s : p.stddev)
        if (!(s > 0.0f))
          throw Error(ErrorCode::kCorrupt, "metadata 'normalize_std' must be positive");
    }
    return p;
  });
}

Result<ImageNetBackbone> load_imagenet_backbone(const std::string& path, int64_t output_stride) {
  return catch_as_result([&] {
    auto file = core::SafetensorsFile::open(path).take();
    if (!file.contains("classifier.1.weight"))
      throw Error(ErrorCode::kInvalidArgument,
                  "'" + path + "' has no classifier.1.weight: it is not an ImageNet MobileNetV2");
    ImageNetBackbone b;
    MobileNetV2Options o;
    o.num_classes = file.entries().at("classifier.1.weight").shape.at(0);
    o.output_stride = output_stride;
    b.model = std::make_shared<MobileNetV2>(o);
    if (auto st = b.model->load(file); !st)
      throw Error(st.error().code, "'" + path + "': " + st.error().message);
    b.model->eval();
    b.preprocess = preprocess_from_metadata(file).take();
    return b;
  });
}

Result<std::vector<std::string>> load_labels(const std::string& path, size_t expected) {
  return catch_as_result([&] {
    std::istringstream in(core::read_file(path, 16u << 20));
    std::vector<std::string> labels;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      labels.push_back(line);
    }
    while (!labels.empty() && labels.back().empty())
      labels.pop_back();
    if (expected > 0 && labels.size() != expected)
      throw Error(ErrorCode::kInvalidArgument,
                  "label file '" + path + "' has " + std::to_string(labels.size()) +
                      " lines but the model has " + std::to_string(expected) + " classes");
    return labels;
  });
}

std::vector<std::vector<ClassScore>> classify(MobileNetV2& model, const torch::Tensor& images,
                                              const std::vector<std::string>& labels, int k) {
  torch::InferenceMode guard;
  auto probs = torch::softmax(model.logits(images), 1);  // [B, classes]
  k = std::max(1, std::min<int>(k, static_cast<int>(probs.size(1))));
  auto [values, indices] = probs.topk(k, 1);  // [B, k]
  std::vector<std::vector<ClassScore>> out(static_cast<size_t>(probs.size(0)));
  for (int64_t b = 0; b < probs.size(0); ++b) {
    for (int64_t j = 0; j < k; ++j) {
      ClassScore s;
      s.index = static_cast<int>(indices[b][j].item<int64_t>());
      s.probability = values[b][j].item<double>();
      if (s.index < static_cast<int>(labels.size())) {
        const std::string& full = labels[static_cast<size_t>(s.index)];  // "a, b, c": synonyms
        s.label = full.substr(0, full.find(','));
      }
      out[static_cast<size_t>(b)].push_back(s);
    }
  }
  return out;
}

}  // namespace glimpse::vision

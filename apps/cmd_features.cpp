// glimpse features: run the frozen MobileNetV2 backbone once over a dataset split and store the
// grid features in a feature cache (data/feature_cache.h) for decoder training.
#include <fmt/format.h>
#include <opencv2/core.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "glimpse/data/datasets.h"
#include "glimpse/data/feature_cache.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/vision/imagenet.h"
#include "source_flags.h"

namespace glimpse::app {

namespace {

struct FeaturesOptions {
  SourceFlags source;
  std::string out;
  std::string weights;
  int batch_size = 16;
  bool mirror = false;
  int64_t output_stride = 32;
};

}  // namespace

void add_features_command(CLI::App& app, CommonOptions& common, Action& action) {
  auto o = std::make_shared<FeaturesOptions>();
  o->weights = shared_dir() + "/models/mobilenet_v2_imagenet.safetensors";
  CLI::App* cmd = app.add_subcommand(
      "features",
      "Encode a dataset split once with the frozen MobileNetV2 backbone into a feature "
      "cache (fp16, memory-mapped) for decoder training");
  add_source_flags(*cmd, o->source, "train");
  cmd->add_option("--out", o->out, "The feature cache file to write")->required();
  cmd->add_option("--weights", o->weights, "MobileNetV2 ImageNet weights (safetensors)")
      ->capture_default_str();
  cmd->add_option("--batch-size", o->batch_size, "Images encoded at once")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--output-stride", o->output_stride,
                  "32 (a 7x7 grid at 224x224) or 16 (14x14: the same weights, the last stride "
                  "replaced by dilation)")
      ->check(CLI::IsMember(std::vector<int64_t>{32, 16}))
      ->capture_default_str();
  cmd->add_flag("--mirror", o->mirror,
                "Encode the left-right mirrored images (flip augmentation for glimpse train)");
  add_image_limit_flags(*cmd, common);
  cmd->callback([o, &common, &action] {
    action = [o, &common]() -> int {
      auto source = source_from_flags(o->source);
      if (!source)
        return report_error(source.error().message);
      auto ds = data::load_source(source.value());
      if (!ds)
        return report_error(ds.error().message);
      if (ds.value().images.empty())
        return report_error(data::describe(source.value()) + " has no images: nothing to encode");
      auto net = vision::load_imagenet_backbone(o->weights, o->output_stride);
      if (!net)
        return report_error(net.error().message);
      auto& model = *net.value().model;
      const auto& pre = net.value().preprocess;
      torch::InferenceMode guard;
      model.eval();
      const auto& images = ds.value().images;
      std::unique_ptr<data::FeatureCacheWriter> writer;
      const auto t0 = std::chrono::steady_clock::now();
      size_t done = 0, next_report = 0;
      for (size_t start = 0; start < images.size(); start += static_cast<size_t>(o->batch_size)) {
        const size_t end = std::min(images.size(), start + static_cast<size_t>(o->batch_size));
        std::vector<cv::Mat> batch;
        for (size_t i = start; i < end; ++i) {
          auto img = load_image_quietly(images[i].path, common.image_limits);
          if (!img)
            return report_error(img.error().message);
          if (o->mirror)
            cv::flip(img.value(), img.value(), 1);
          batch.push_back(img.value());
        }
        auto g = model.encode(vision::to_batch(batch, pre));  // [B, N, C]
        if (!writer)
          writer = std::make_unique<data::FeatureCacheWriter>(
              o->out, data::FeatureCacheInfo{vision::MobileNetV2::features_name(
                                                 o->output_stride, pre.width, pre.height),
                                             g.grid_h, g.grid_w, g.features.size(2), o->mirror});
        for (size_t i = start; i < end; ++i) {
          const auto key = std::filesystem::path(images[i].path).filename().string();
          if (auto s = writer->add(key, g.features[static_cast<int64_t>(i - start)]); !s)
            return report_error(s.error().message);
        }
        done = end;
        if (done >= next_report || done == images.size()) {
          const double s =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::cout << fmt::format("{}/{} images, {:.1f} images/s", done, images.size(),
                                   static_cast<double>(done) / s)
                    << std::endl;
          next_report = done + std::max<size_t>(1, images.size() / 10);
        }
      }
      if (auto s = writer->finish(); !s)
        return report_error(s.error().message);
      std::cout << fmt::format("wrote {} ({} images, {:.0f} MB)", o->out, images.size(),
                               static_cast<double>(std::filesystem::file_size(o->out)) / (1 << 20))
                << std::endl;
      return 0;
    };
  });
}

}  // namespace glimpse::app

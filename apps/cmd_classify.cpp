// glimpse classify IMAGE...: top-k ImageNet classes from the MobileNetV2 backbone.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>

#include "common.h"
#include "glimpse/vision/imagenet.h"

namespace glimpse::app {

namespace {
struct ClassifyOptions {
  std::vector<std::string> images;
  std::string weights;
  std::string labels;
  int top = 5;
  std::string resize = "stretch";
  bool json = false;
};
}  // namespace

void add_classify_command(CLI::App& app, CommonOptions& common, Action& action) {
  auto opts = std::make_shared<ClassifyOptions>();
  opts->weights = shared_dir() + "/models/mobilenet_v2_imagenet.safetensors";
  opts->labels = shared_dir() + "/models/imagenet_classes.txt";
  CLI::App* cmd = app.add_subcommand(
      "classify", "Top ImageNet classes of each image (the MobileNetV2 backbone's own check)");
  cmd->add_option("images", opts->images, "Image files (PNG, JPEG, BMP, TIFF, WebP, GIF)")
      ->required();
  cmd->add_option("--weights", opts->weights, "MobileNetV2 ImageNet weights (safetensors)");
  cmd->add_option("--labels", opts->labels, "Class names, one a line");
  cmd->add_option("--top", opts->top, "How many classes to print")->check(CLI::Range(1, 1000));
  cmd->add_option("--resize", opts->resize, "Resize policy: stretch, center-crop, letterbox");
  cmd->add_flag("--json", opts->json, "Print JSON instead of text");
  add_image_limit_flags(*cmd, common);

  cmd->callback([opts, &common, &action] {
    action = [opts, &common]() -> int {
      auto policy = vision::parse_resize_policy(opts->resize);
      if (!policy)
        return report_error(policy.error().message);
      auto net = vision::load_imagenet_backbone(opts->weights);
      if (!net)
        return report_error(net.error().message);
      auto labels =
          vision::load_labels(opts->labels, static_cast<size_t>(net.value().model->num_classes()));
      if (!labels)
        return report_error(labels.error().message);
      vision::PreprocessOptions pre = net.value().preprocess;
      pre.resize = policy.value();

      int status = 0;
      nlohmann::json results = nlohmann::json::array();
      for (const auto& path : opts->images) {
        auto img = load_image_quietly(path, common.image_limits);
        if (!img) {
          status = report_error(img.error().message);
          continue;
        }
        auto scores = vision::classify(*net.value().model, vision::to_tensor(img.value(), pre),
                                       labels.value(), opts->top)[0];
        if (opts->json) {
          nlohmann::json top = nlohmann::json::array();
          for (const auto& s : scores)
            top.push_back({{"class", s.index}, {"label", s.label}, {"prob", s.probability}});
          results.push_back({{"image", path}, {"top", top}});
        } else {
          std::cout << path << "\n";
          for (const auto& s : scores)
            std::cout << fmt::format("  {:.4f}  {} ({})\n", s.probability, s.label, s.index);
        }
      }
      if (opts->json)
        std::cout << results.dump(1) << "\n";
      return status;
    };
  });
}

}  // namespace glimpse::app

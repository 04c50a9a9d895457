// Photo captioning speed of a model file: latency for one photo at beam 1 and 3 (the encoder
// and the decoder timed apart), and images per second for a batch of 32 photos.
//   bench_caption [--threads N] [--reps R] [--model M.safetensors] [--shared DIR]
// The model defaults to models/flickr8k.safetensors, the photos to ../shared's Flickr8k dev split.
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "glimpse/core/threads.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/vision/image_decode.h"

using namespace glimpse;

int main(int argc, char** argv) {
  int threads = 2, reps = 9;
  std::string model_path = std::string(GLIMPSE_SOURCE_DIR) + "/models/flickr8k.safetensors";
  std::string shared = std::string(GLIMPSE_SOURCE_DIR) + "/../shared";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--reps"))
      reps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--model"))
      model_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--shared"))
      shared = argv[i + 1];
  }
  core::set_threads(threads);
  auto loaded = fusion::CaptionModel::load(model_path);
  if (!loaded) {
    std::fprintf(stderr, "bench_caption: %s\n", loaded.error().message.c_str());
    return 1;
  }
  const auto& model = *loaded.value();
  const std::string dir = shared + "/data/flickr8k";
  std::ifstream list(dir + "/dev_images.txt");
  std::vector<cv::Mat> photos;
  for (std::string name; photos.size() < 32 && std::getline(list, name);) {
    auto img = vision::load_image(dir + "/images/" + name);
    if (!img) {
      std::fprintf(stderr, "bench_caption: %s\n", img.error().message.c_str());
      return 1;
    }
    photos.push_back(img.value());
  }
  if (photos.size() < 32) {
    std::fprintf(stderr, "bench_caption: %s lists fewer than 32 photos\n",
                 (dir + "/dev_images.txt").c_str());
    return 1;
  }
  std::printf("model %s (%s decoder, %s attention), threads %d, median of %d runs\n",
              model_path.c_str(), fusion::to_string(model.config().decoder),
              model.config().attention().c_str(), torch::get_num_threads(), reps);
  std::printf("%-40s %12s %12s\n", "case", "median ms", "images/s");

  const std::vector<cv::Mat> one = {photos[0]};
  const double encode = bench::median(bench::time_runs([&] { (void)model.encode(one); }, 2, reps));
  std::printf("%-40s %12.1f %12.1f\n", "encode 1 photo (MobileNetV2)", encode * 1e3, 1 / encode);
  const auto encoded = model.encode(one).take();
  for (int beam : {1, 3}) {
    fusion::GenerateOptions g;
    g.beam = beam;
    const std::vector<std::vector<int64_t>> prefix = {model.caption_prefix()};
    const double decode =
        bench::median(bench::time_runs([&] { (void)model.generate(encoded, prefix, g); }, 2, reps));
    const double whole =
        bench::median(bench::time_runs([&] { (void)model.generate(one, prefix, g); }, 2, reps));
    const std::string words = model.generate(one, prefix, g).take()[0].text;
    std::printf("%-40s %12.1f %12.1f\n", ("decode 1 photo, beam " + std::to_string(beam)).c_str(),
                decode * 1e3, 1 / decode);
    std::printf("%-40s %12.1f %12.1f   \"%s\"\n",
                ("caption 1 photo, beam " + std::to_string(beam)).c_str(), whole * 1e3, 1 / whole,
                words.c_str());
  }
  for (int beam : {1, 3}) {
    fusion::GenerateOptions g;
    g.beam = beam;
    const std::vector<std::vector<int64_t>> prefixes(photos.size(), model.caption_prefix());
    const double batch = bench::median(bench::time_runs(
        [&] { (void)model.generate(photos, prefixes, g); }, 1, std::max(3, reps / 3)));
    std::printf("%-40s %12.1f %12.1f\n",
                ("caption 32 photos at once, beam " + std::to_string(beam)).c_str(), batch * 1e3,
                static_cast<double>(photos.size()) / batch);
  }
  return 0;
}

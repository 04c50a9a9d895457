// Training throughput of the shipped shapes recipe (3 layers, cross:4+pos-values+sink, every
// attention supervision), in one batch (--data-parallel 1) and cut into parts that run at once
// (--data-parallel = the thread count), alternating run by run on the same world data.
//
//   bench_train [--threads N] [--rounds R] [--steps S] [--scenes K]
//
// Prints each run's median sequences/s over its steps after the first five, then the median of
// the rounds and of the per-round ratio.
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "glimpse/core/threads.h"
#include "glimpse/data/world_export.h"
#include "glimpse/train/trainer.h"

using namespace glimpse;

namespace {

double median_throughput(const std::string& log_path) {
  std::ifstream log(log_path);
  std::vector<double> rates;
  std::string line;
  while (std::getline(log, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("step") && j["step"].get<int>() > 5)
      rates.push_back(j["examples_per_second"].get<double>());
  }
  return bench::median(rates);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 3, steps = 40, scenes = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads"))
      threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rounds"))
      rounds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--steps"))
      steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--scenes"))
      scenes = std::atoi(argv[i + 1]);
  }
  if (threads < 1 || rounds < 1 || steps < 10 || scenes < 50) {
    std::fprintf(stderr,
                 "bench_train: --threads >= 1, --rounds >= 1, --steps >= 10, --scenes >= 50\n");
    return 2;
  }
  core::set_threads(threads);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("glimpse_bench_train_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string world = (dir / "world").string();
  data::WorldOptions w;
  w.questions_per_scene = 12;
  w.balanced_families = true;
  w.seed = 11;
  const data::ShapesWorld shapes(w);
  data::export_world(shapes, data::Split::kTrain, 0, static_cast<uint64_t>(scenes), world).take();
  data::export_world(shapes, data::Split::kDev, 0, 20, world).take();

  fusion::ModelConfig m;
  m.image.width = m.image.height = 128;
  m.small_cnn.width = 32;
  m.small_cnn.depth = 3;
  m.small_cnn.context = 2;
  m.small_cnn.grid_h = m.small_cnn.grid_w = 16;
  m.small_cnn.coords = true;
  m.decoder = fusion::DecoderKind::kTransformer;
  m.transformer.cross_attention = "cross:4+pos-values+sink";
  m.transformer.d_model = 128;
  m.transformer.layers = 3;
  m.transformer.heads = 4;
  m.transformer.ffn_dim = 256;
  m.transformer.dropout = 0.1;

  train::TrainOptions o;
  o.train_dir = world;
  o.epochs = 3;
  o.batch_size = 128;
  o.lr = 1e-3;
  o.warmup_steps = 200;
  o.attention_supervision = 4;
  o.supervise_each_head = o.supervise_mentions = o.pair_heads = o.reference_first = true;
  o.count_centres = true;
  o.target_power = 4;
  o.grounding = 4;
  o.eval_images = 20;
  o.checkpoint_every = 1'000'000;
  o.stop_after_steps = steps;

  std::printf(
      "threads %d; %d scenes, 12 questions and 5 captions each; %d steps of 128 "
      "sequences a run; sequences/s (median over steps 6..%d)\n",
      torch::get_num_threads(), scenes, steps, steps);
  std::printf("%-6s %14s %14s %7s\n", "round", "1 part",
              (std::to_string(threads) + " parts").c_str(), "ratio");
  std::vector<double> one, many, ratio;
  for (int r = 0; r < rounds; ++r) {
    double rate[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      o.data_parallel = k == 0 ? 1 : threads;
      o.out = (dir / ("r" + std::to_string(r) + "_" + std::to_string(k) + ".safetensors")).string();
      auto report = train::train(o, m);
      if (!report) {
        std::fprintf(stderr, "bench_train: %s\n", report.error().message.c_str());
        return 1;
      }
      rate[k] = median_throughput(o.out + ".log.jsonl");
    }
    one.push_back(rate[0]);
    many.push_back(rate[1]);
    ratio.push_back(rate[1] / rate[0]);
    std::printf("%-6d %14.1f %14.1f %7.2f\n", r + 1, rate[0], rate[1], rate[1] / rate[0]);
    std::fflush(stdout);
  }
  std::printf("%-6s %14.1f %14.1f %7.2f\n", "median", bench::median(one), bench::median(many),
              bench::median(ratio));
  std::filesystem::remove_all(dir);
  return 0;
}

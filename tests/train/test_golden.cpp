// The golden runs of tests/train/golden/README.md: a tiny shapes run and a tiny Flickr8k run,
// 8 steps each through `glimpse train`, must end with the tensors the training loop gave before
// it became recipes and objectives: the same bytes on the kind of CPU that recorded them (LibTorch
// picks its kernels by instruction set), the same sums within float tolerance elsewhere.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "glimpse/core/safetensors.h"
#include "test_util.h"

namespace glimpse::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string sha256(const void* data, size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data, size, digest, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// This machine's instruction set as the golden file names it.
std::string isa() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("flags", 0) == 0)
      return line.find(" avx512f") != std::string::npos ? "avx512f"
             : line.find(" avx2") != std::string::npos  ? "avx2"
                                                        : "sse";
  return "unknown";
}

const json& golden() {
  static const json g = json::parse(read_bytes(test_data("../train/golden/golden_before.json")));
  return g;
}

void run_ok(const std::vector<std::string>& args) {
  const auto r = run_glimpse(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// Compares the step-8 checkpoint of a run with the golden one; returns the tensors compared.
int compare(const std::string& checkpoint, const json& expected) {
  auto file = core::SafetensorsFile::open(checkpoint).take();
  EXPECT_EQ(file.entries().size(), expected.size());
  const bool same_machine_kind = golden()["isa"] == isa();
  int compared = 0;
  for (const auto& [name, want] : expected.items()) {
    if (!file.contains(name)) {
      ADD_FAILURE() << "no tensor '" << name << "'";
      continue;
    }
    const auto t = file.tensor(name).contiguous();
    if (same_machine_kind) {
      EXPECT_EQ(sha256(t.data_ptr(), t.numel() * t.element_size()), want["sha256"]) << name;
    } else if (want.contains("sum")) {
      const double tolerance = 1e-4 * (want["abs_sum"].get<double>() + 1.0);
      EXPECT_NEAR(t.sum().item<double>(), want["sum"].get<double>(), tolerance) << name;
    }
    ++compared;
  }
  return compared;
}

class Golden : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string at(const std::string& rel) const { return dir_.file(rel); }
};

TEST_F(Golden, TheShapesRunEndsWithTheTensorsOfTheLoopBeforeRecipes) {
  run_ok({"world", "--out", at("world"), "--count", "12", "--split", "train", "--image-size", "48",
          "--seed", "3", "--questions", "6", "--balanced"});
  run_ok({"world", "--out", at("world"), "--count", "4", "--split", "dev", "--image-size", "48",
          "--seed", "3"});
  run_ok({"--threads",
          "1",
          "train",
          "--data",
          at("world"),
          "--out",
          at("s.safetensors"),
          "--epochs",
          "2",
          "--batch-size",
          "32",
          "--lr",
          "1e-3",
          "--warmup",
          "2",
          "--image-size",
          "48",
          "--cnn-width",
          "4",
          "--cnn-depth",
          "2",
          "--cnn-context",
          "1",
          "--grid",
          "6",
          "--decoder",
          "transformer",
          "--attention",
          "cross:2+pos-values+xy-values+sink",
          "--d-model",
          "16",
          "--layers",
          "2",
          "--heads",
          "2",
          "--ffn",
          "32",
          "--dropout",
          "0.1",
          "--attention-supervision",
          "4",
          "--supervise-each-head",
          "--supervise-mentions",
          "--target-power",
          "4",
          "--grounding",
          "4",
          "--eval-images",
          "4",
          "--seed",
          "1",
          "--pair-heads",
          "--reference-first",
          "--count-centres",
          "--data-parallel",
          "2",
          "--quiet"});
  EXPECT_EQ(compare(at("s.safetensors.ckpt/step-8/model.safetensors"), golden()["runs"]["shapes"]),
            100);
  // The same run as a recipe file (tests/train/golden/shapes.json).
  run_ok({"--threads", "1", "train", "--recipe", test_data("../train/golden/shapes.json"), "--set",
          "data.train.0.dir=" + at("world"), "--set", "data.dev.0.dir=" + at("world"), "--out",
          at("r.safetensors"), "--quiet"});
  EXPECT_EQ(compare(at("r.safetensors.ckpt/step-8/model.safetensors"), golden()["runs"]["shapes"]),
            100);
}

TEST_F(Golden, TheFlickr8kRunEndsWithTheTensorsOfTheLoopBeforeRecipes) {
  const std::string shared = shared_data("data/flickr8k");
  if (!fs::exists(shared + "/captions.txt"))
    GTEST_SKIP() << "no Flickr8k in " << shared;
  // The first 8 training photos and the first 3 dev photos, in the Flickr8k layout.
  fs::create_directories(at("f8k/images"));
  std::string captions;
  for (const auto& [split, count] : {std::pair{"train", 8}, std::pair{"dev", 3}}) {
    std::ifstream list(shared + "/" + split + "_images.txt");
    std::ofstream out(at("f8k/") + split + "_images.txt");
    std::string name;
    for (int i = 0; i < count && std::getline(list, name); ++i) {
      out << name << "\n";
      fs::create_symlink(shared + "/images/" + name, at("f8k/images/" + name));
      std::ifstream all(shared + "/captions.txt");
      for (std::string line; std::getline(all, line);)
        if (line.rfind(name + "#", 0) == 0)
          captions += line + "\n";
    }
  }
  write_bytes(at("f8k/captions.txt"), captions);
  for (const auto& [split, cache, mirror] :
       {std::tuple{"train", "train.cache", false}, std::tuple{"train", "train_m.cache", true},
        std::tuple{"dev", "dev.cache", false}}) {
    std::vector<std::string> args = {
        "--threads", "1",     "features", "--flickr8k",      at("f8k"), "--split",
        split,       "--out", at(cache),  "--output-stride", "16"};
    if (mirror)
      args.push_back("--mirror");
    run_ok(args);
  }
  run_ok({"--threads",
          "1",
          "train",
          "--flickr8k",
          at("f8k"),
          "--features",
          at("train.cache"),
          "--features",
          at("train_m.cache"),
          "--dev-features",
          at("dev.cache"),
          "--encoder",
          "mobilenet_v2",
          "--output-stride",
          "16",
          "--tasks",
          "caption",
          "--min-count",
          "1",
          "--batch-size",
          "10",
          "--max-caption-words",
          "24",
          "--eval-images",
          "3",
          "--checkpoint-every",
          "100",
          "--decoder",
          "lstm",
          "--embed",
          "16",
          "--hidden",
          "32",
          "--attention-dim",
          "16",
          "--attention",
          "additive+gate",
          "--dropout",
          "0.5",
          "--lr",
          "5e-4",
          "--warmup",
          "3",
          "--epochs",
          "2",
          "--seed",
          "1",
          "--out",
          at("f.safetensors"),
          "--quiet"});
  EXPECT_EQ(
      compare(at("f.safetensors.ckpt/step-8/model.safetensors"), golden()["runs"]["flickr8k"]),
      329);
  // The same run as a recipe file (tests/train/golden/flickr8k.json).
  run_ok({"--threads", "1", "train", "--recipe", test_data("../train/golden/flickr8k.json"),
          "--set", "data.train.0.dir=" + at("f8k"), "--set", "data.dev.0.dir=" + at("f8k"), "--set",
          "data.features=[\"" + at("train.cache") + "\", \"" + at("train_m.cache") + "\"]", "--set",
          "data.dev_features=" + at("dev.cache"), "--out", at("r.safetensors"), "--quiet"});
  EXPECT_EQ(
      compare(at("r.safetensors.ckpt/step-8/model.safetensors"), golden()["runs"]["flickr8k"]),
      329);
}

}  // namespace
}  // namespace glimpse::testing

// The glimpse command line as a user meets it: help, version, and bad input of every kind.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "test_util.h"

namespace {

using glimpse::testing::lines;
using glimpse::testing::read_bytes;
using glimpse::testing::run_glimpse;
using glimpse::testing::shared_data;
using glimpse::testing::TempDir;
using glimpse::testing::test_data;
using glimpse::testing::write_bytes;

bool have_shared() {
  return std::filesystem::exists(shared_data("models/mobilenet_v2_imagenet.safetensors"));
}

TEST(Cli, VersionPrintsTheVersion) {
  auto r = run_glimpse({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "glimpse " GLIMPSE_VERSION "\n");
}

TEST(Cli, HelpListsSubcommandsAndTheThreadsDefault) {
  auto r = run_glimpse({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("classify"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--threads"), std::string::npos);
  EXPECT_NE(r.out.find("=0"), std::string::npos) << "the threads default must be shown";
}

TEST(Cli, SubcommandHelpPrintsEveryDefault) {
  auto r = run_glimpse({"classify", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--top"), std::string::npos);
  EXPECT_NE(r.out.find("=5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("=stretch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("=40000000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mobilenet_v2_imagenet.safetensors"), std::string::npos) << r.out;
  // Each choice once, the default after it.
  r = run_glimpse({"train", "--help"});
  EXPECT_NE(r.out.find("--tasks TEXT:caption|vqa|caption,vqa=caption,vqa"), std::string::npos)
      << r.out;
  r = run_glimpse({"serve", "--help"});
  for (const char* flag : {"--max-connections INT:INT in [1 - 1000000]=512",
                           "--max-inflight-mb INT:INT in [1 - 1048576]=256", "--access-log"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << " in " << r.out;
}

// The bounds of a model-shape flag as --help prints them ("--grid INT:INT in [1 - 64]").
std::string bounds(const std::string& help, const std::string& flag) {
  const auto at = help.find("  " + flag + " ");
  if (at == std::string::npos)
    return "missing";
  const auto end = help.find_first_of("=\n", help.find(':', at));
  return help.substr(at + 2, end - at - 2);
}

TEST(Cli, TrainAndCompareShareTheModelShapeFlagsAndTheirBounds) {
  const auto train = run_glimpse({"train", "--help"}).out;
  const auto compare = run_glimpse({"compare", "--help"}).out;
  for (const char* flag :
       {"--cnn-width", "--cnn-depth", "--cnn-context", "--grid", "--image-size", "--embed",
        "--hidden", "--attention-dim", "--d-model", "--layers", "--heads", "--ffn", "--dropout"}) {
    EXPECT_NE(bounds(train, flag), "missing") << flag;
    EXPECT_EQ(bounds(train, flag), bounds(compare, flag)) << flag;
  }
  EXPECT_EQ(bounds(train, "--cnn-depth"), "--cnn-depth INT:INT in [1 - 8]");
  auto r = run_glimpse({"compare", "--data", "x", "--layers", "25"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--layers"), std::string::npos) << r.err;
}

TEST(Cli, UnknownSubcommandOrFlagIsAUsageError) {
  auto r = run_glimpse({"frobnicate"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  r = run_glimpse({"classify", "--bogus", "x.png"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
  r = run_glimpse({"--threads", "-3", "classify", "x.png"});
  EXPECT_NE(r.exit_code, 0);
}

TEST(Cli, MissingWeightsIsOneLineNamingTheFile) {
  auto r = run_glimpse(
      {"classify", "--weights", "/nonexistent/w.safetensors", test_data("images/rgb.png")});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err,
            "glimpse: cannot open '/nonexistent/w.safetensors': No such file or directory\n");
}

TEST(Cli, CorruptWeightsIsOneLine) {
  TempDir dir;
  write_bytes(dir.file("w.safetensors"), "not a model at all");
  auto r = run_glimpse(
      {"classify", "--weights", dir.file("w.safetensors"), test_data("images/rgb.png")});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("is not a valid safetensors file"), std::string::npos) << r.err;
}

TEST(Cli, ClassifyPrintsTopFiveForAGoodImage) {
  if (!have_shared())
    GTEST_SKIP() << "../shared is absent";
  auto r = run_glimpse({"--threads", "2", "classify", "--json",
                        shared_data("data/flickr8k/images/3695064885_a6922f06b2.jpg")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"label\": \"Shetland sheepdog\""), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(Cli, ClassifyOnBadFilesGivesOneLineEachAndExitsOne) {
  if (!have_shared())
    GTEST_SKIP() << "../shared is absent";
  TempDir dir;
  write_bytes(dir.file("empty.jpg"), "");
  write_bytes(dir.file("text.png"), "just some text\n");
  const std::string jpg = read_bytes(test_data("images/baseline.jpg"));
  write_bytes(dir.file("truncated.jpg"), jpg.substr(0, jpg.size() / 2));
  std::string big = read_bytes(test_data("images/rgb.png"));
  big[16] = big[17] = '\x7f';  // width 0x7f7f0040
  write_bytes(dir.file("huge.png"), big);
  std::filesystem::create_directory(dir.file("folder.jpg"));
  const std::vector<std::string> bad = {dir.file("empty.jpg"),     dir.file("text.png"),
                                        dir.file("truncated.jpg"), dir.file("huge.png"),
                                        dir.file("folder.jpg"),    dir.file("missing.jpg")};
  for (const auto& f : bad) {
    auto r = run_glimpse({"classify", f});
    EXPECT_EQ(r.exit_code, 1) << f;
    EXPECT_EQ(r.signal, 0) << f;
    ASSERT_EQ(lines(r.err).size(), 1u) << f << ": " << r.err;
    EXPECT_EQ(r.err.rfind("glimpse: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("'" + f + "'"), std::string::npos)
        << "the message names the file: " << r.err;
    EXPECT_EQ(r.out, "") << f;
  }
  auto r = run_glimpse({"classify", dir.file("empty.jpg"), test_data("images/rgb.png")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines(r.err).size(), 1u);
  EXPECT_NE(r.out.find("rgb.png"), std::string::npos) << "the good image is still classified";
}

TEST(Cli, ClassifyNeverCrashesOnMutatedFiles) {
  if (!have_shared())
    GTEST_SKIP() << "../shared is absent";
  TempDir dir;
  std::mt19937 rng(1234);
  std::vector<std::string> args = {"classify", "--top", "1"};
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(test_data("images"))) {
    if (e.path().extension() == ".sh")
      continue;
    const std::string orig = read_bytes(e.path().string());
    for (int k = 0; k < 12; ++k) {
      std::string m = orig;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int f = 0; f < flips; ++f)
        m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
      if (k % 3 == 0)
        m.resize(rng() % m.size());
      const std::string path = dir.file("m" + std::to_string(n++) + e.path().extension().string());
      write_bytes(path, m);
      args.push_back(path);
    }
  }
  auto r = run_glimpse(args);
  EXPECT_EQ(r.signal, 0) << "glimpse was killed by signal " << r.signal;
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.exit_code;
  // Only our own one-line errors: no decoder library chatter.
  for (const auto& l : lines(r.err))
    EXPECT_EQ(l.rfind("glimpse: '" + dir.path(), 0), 0u) << l;
}

}  // namespace

#include "glimpse/fusion/caption_model.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>

#include "glimpse/core/file_util.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/text/vocabulary.h"
#include "test_util.h"
#include "tiny_model.h"

namespace glimpse::fusion {
namespace {

using glimpse::testing::TempDir;

using glimpse::testing::tiny_model_config;

cv::Mat picture(int seed) {
  cv::Mat m(40, 50, CV_8UC3);
  cv::RNG rng(static_cast<uint64_t>(seed) + 1);  // not cv::randu: that draws from a global RNG
  rng.fill(m, cv::RNG::UNIFORM, 0, 255);
  m(cv::Rect(seed % 20, 5, 15, 15)).setTo(cv::Scalar(255, 0, 0));
  return m;
}

class TinyModels : public ::testing::TestWithParam<std::pair<std::string, std::string>> {
 protected:
  std::shared_ptr<CaptionModel> make() const {
    torch::manual_seed(5);
    const bool film = GetParam().first == "film";  // a Transformer over FiLMed features
    auto config = tiny_model_config(film ? "transformer" : GetParam().first, GetParam().second);
    if (film) {
      config.fusion.kind = FusionKind::kFilm;
      config.fusion.channels = 6;
      config.fusion.embed_dim = config.fusion.question_dim = 5;
    } else if (GetParam().first == "transformer") {  // saved and loaded too: the encoder's dilated
      config.small_cnn.context = 1;                  // blocks and the normalised memory
      config.transformer.memory_norm = true;
    }
    auto m = CaptionModel::create(config);
    EXPECT_TRUE(m.ok()) << m.error().message;
    return std::move(m).take();
  }
};

TEST_P(TinyModels, CaptionAndAnswerEndToEnd) {
  auto model = make();
  GenerateOptions o;
  o.max_len = 6;
  auto p = model->caption(picture(1), o);
  ASSERT_TRUE(p.ok()) << p.error().message;
  const auto& c = p.value();
  EXPECT_LE(c.words.size(), 6u);
  EXPECT_EQ(c.log_probs.size(), c.words.size() + (c.finished ? 1 : 0));
  EXPECT_EQ(c.grid_h, 3);
  EXPECT_EQ(c.attention.dim(), 5);
  EXPECT_EQ(c.attention.size(0), static_cast<int64_t>(c.log_probs.size()));
  EXPECT_EQ(c.attention.size(3), 3);
  EXPECT_EQ(c.attention.size(4), 3);
  EXPECT_TRUE(torch::allclose(
      c.attention.sum({3, 4}),
      torch::ones({c.attention.size(0), c.attention.size(1), c.attention.size(2)}), 1e-4, 1e-4));
  std::string joined;
  for (const auto& w : c.words)
    joined += (joined.empty() ? "" : " ") + w;
  EXPECT_EQ(c.text, joined);

  o.beam = 3;
  auto a = model->answer(picture(2), "What colour is the square?", o);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_LE(a.value().words.size(), 6u);
}

TEST_P(TinyModels, SameInputSameOutput) {
  auto model = make();
  GenerateOptions o;
  o.max_len = 8;
  auto x = model->caption(picture(0), o).take(), y = model->caption(picture(0), o).take();
  EXPECT_EQ(x.log_probs, y.log_probs);
}

TEST_P(TinyModels, SaveLoadGivesIdenticalOutputs) {
  auto model = make();
  TempDir dir;
  ASSERT_TRUE(model->save(dir.file("m.safetensors")).ok());
  auto back = CaptionModel::load(dir.file("m.safetensors"));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value()->config().to_json(), model->config().to_json());
  GenerateOptions o;
  o.beam = 2;
  o.max_len = 8;
  for (int s = 0; s < 3; ++s) {
    auto x = model->caption(picture(s), o).take(), y = back.value()->caption(picture(s), o).take();
    EXPECT_EQ(x.words, y.words);
    EXPECT_EQ(x.log_probs, y.log_probs);
    EXPECT_TRUE(torch::equal(x.attention, y.attention));
  }
  ASSERT_TRUE(model->save(dir.file("h.safetensors"), /*fp16=*/true).ok());
  auto half = CaptionModel::load(dir.file("h.safetensors"));
  ASSERT_TRUE(half.ok()) << half.error().message;
  auto file = core::SafetensorsFile::open(dir.file("h.safetensors")).take();
  EXPECT_EQ(file.entries().at("decoder.embedding.weight").dtype, "F16");
  EXPECT_LT(std::filesystem::file_size(dir.file("h.safetensors")),
            std::filesystem::file_size(dir.file("m.safetensors")));
}

TEST_P(TinyModels, ConcurrentInferenceEqualsSequential) {
  auto model = make();
  GenerateOptions o;
  o.beam = 2;
  o.max_len = 6;
  std::vector<std::vector<std::string>> expected;
  for (int s = 0; s < 8; ++s)
    expected.push_back(model->caption(picture(s), o).take().words);
  std::vector<std::vector<std::string>> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int s = t; s < 8; s += 4)
        got[s] = model->caption(picture(s), o).take().words;
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(got, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Model, TinyModels,
    ::testing::Values(std::make_pair(std::string("lstm"), std::string("additive+gate")),
                      std::make_pair(std::string("transformer"), std::string("cross:2")),
                      std::make_pair(std::string("film"), std::string("cross:2"))),
    [](const auto& p) { return p.param.first; });

// --- bad files ---

std::string load_error(const std::string& path, ErrorCode code) {
  auto r = CaptionModel::load(path);
  EXPECT_FALSE(r.ok());
  if (r.ok())
    return "";
  EXPECT_EQ(r.error().code, code) << r.error().message;
  return r.error().message;
}

class BadModelFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(1);
    model_ = CaptionModel::create(tiny_model_config("lstm", "additive")).take();
    ASSERT_TRUE(model_->save(dir_.file("good.safetensors")).ok());
    good_ = core::read_file(dir_.file("good.safetensors"));
  }
  // Rewrites the config in the good file's metadata, keeping its tensors.
  std::string with_config(const std::string& config_json) {
    auto f = core::SafetensorsFile::parse(good_).take();
    core::NamedTensors t;
    for (const auto& [name, e] : f.entries())
      t.emplace_back(name, f.tensor(name));
    const std::string path = dir_.file("edited.safetensors");
    EXPECT_TRUE(core::save_safetensors(path, t, {{"glimpse", config_json}}).ok());
    return path;
  }
  TempDir dir_;
  std::shared_ptr<CaptionModel> model_;
  std::string good_;
};

TEST_F(BadModelFiles, Truncated) {
  glimpse::testing::write_bytes(dir_.file("t.safetensors"), good_.substr(0, good_.size() - 1000));
  auto m = load_error(dir_.file("t.safetensors"), ErrorCode::kCorrupt);
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
}

TEST_F(BadModelFiles, NotSafetensors) {
  glimpse::testing::write_bytes(dir_.file("x.safetensors"), "this is a text file, not a model\n");
  auto m = load_error(dir_.file("x.safetensors"), ErrorCode::kCorrupt);
  EXPECT_NE(m.find("is not a valid safetensors file"), std::string::npos) << m;
}

TEST_F(BadModelFiles, SafetensorsButNotAGlimpseModel) {
  const std::string path = dir_.file("plain.safetensors");
  ASSERT_TRUE(core::save_safetensors(path, {{"w", torch::ones({2})}}).ok());
  auto m = load_error(path, ErrorCode::kInvalidArgument);
  EXPECT_NE(m.find("is a safetensors file but not a glimpse model"), std::string::npos) << m;
}

TEST_F(BadModelFiles, FromANewerFormatVersion) {
  std::string cfg = model_->config().to_json();
  cfg.replace(cfg.find("\"format_version\":1"), 18, "\"format_version\":7");
  auto m = load_error(with_config(cfg), ErrorCode::kUnsupported);
  EXPECT_NE(m.find("model format 7 was written by a newer glimpse; this build reads up to 1"),
            std::string::npos)
      << m;
}

TEST_F(BadModelFiles, TensorsThatDoNotMatchTheConfig) {
  std::string cfg = model_->config().to_json();
  cfg.replace(cfg.find("\"hidden_dim\":8"), 14, "\"hidden_dim\":9");
  auto m = load_error(with_config(cfg), ErrorCode::kCorrupt);
  EXPECT_NE(m.find("cannot load its weights: tensor"), std::string::npos) << m;
  EXPECT_NE(m.find("in the file but the model needs"), std::string::npos) << m;
}

TEST_F(BadModelFiles, NaNWeightsAreRefusedNamingTheTensor) {
  auto f = core::SafetensorsFile::parse(good_).take();
  core::NamedTensors t;
  std::string poisoned;  // the last floating-point tensor of the file gets NaNs
  for (const auto& [name, e] : f.entries()) {
    t.emplace_back(name, f.tensor(name));
    if (t.back().second.is_floating_point())
      poisoned = name;
  }
  for (auto& [name, tensor] : t)
    if (name == poisoned)
      tensor.fill_(std::numeric_limits<float>::quiet_NaN());
  const std::string path = dir_.file("nan.safetensors");
  ASSERT_TRUE(core::save_safetensors(path, t, {{"glimpse", model_->config().to_json()}}).ok());
  auto m = load_error(path, ErrorCode::kCorrupt);
  EXPECT_NE(m.find("cannot load its weights: tensor '" + poisoned + "' holds"), std::string::npos)
      << m;
  EXPECT_NE(m.find("NaN or infinite value"), std::string::npos) << m;
}

TEST_F(BadModelFiles, AContextBlockCountOutOfRange) {
  std::string cfg = model_->config().to_json();
  cfg.replace(cfg.find("\"context\":0"), 11, "\"context\":9");
  auto m = load_error(with_config(cfg), ErrorCode::kCorrupt);
  EXPECT_NE(m.find("encoder.context must be an integer 0..4"), std::string::npos) << m;
}

// nlohmann's get<int64_t>() of 6e77 would be undefined behaviour (found by fuzz_recipe).
TEST_F(BadModelFiles, AnIntegerFieldOutOfItsTypesRange) {
  std::string cfg = model_->config().to_json();
  const auto at = cfg.find("\"width\":");
  cfg.replace(at, cfg.find_first_of(",}", at) - at, "\"width\":6e77");
  auto m = load_error(with_config(cfg), ErrorCode::kCorrupt);
  EXPECT_NE(m.find("model config: encoder.width must be an integer"), std::string::npos) << m;
}

TEST_F(BadModelFiles, AConfigThatIsNotValid) {
  auto m = load_error(with_config("{\"format_version\": 1, \"encoder\": {\"kind\": \"resnet\"}}"),
                      ErrorCode::kCorrupt);
  EXPECT_NE(m.find("unknown encoder 'resnet'"), std::string::npos) << m;
  m = load_error(with_config("{not json"), ErrorCode::kCorrupt);
  EXPECT_NE(m.find("model config: not valid JSON"), std::string::npos) << m;
}

TEST_F(BadModelFiles, MissingFile) {
  auto m = load_error(dir_.file("nope.safetensors"), ErrorCode::kNotFound);
  EXPECT_NE(m.find("nope.safetensors"), std::string::npos);
}

TEST(CaptionModel, RefusesEmptyAndOverlongQuestions) {
  auto model = CaptionModel::create(tiny_model_config("lstm", "additive")).take();
  auto e = model->answer(picture(0), " ?! ", GenerateOptions{});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "the question is empty; ask something");
  GenerateOptions o;
  o.max_question_tokens = 3;
  auto l = model->answer(picture(0), "what colour is the square", o);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(l.error().message, "the question has 5 words, over the limit of 3");
}

}  // namespace
}  // namespace glimpse::fusion

#include "glimpse/train/objective.h"

#include <gtest/gtest.h>

#include "glimpse/core/error.h"
#include "glimpse/train/attention_supervision.h"
#include "tiny_model.h"

namespace glimpse::train {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(Objectives, TheRegistryMakesEachByNameAndListsThemWhenANameIsWrong) {
  EXPECT_EQ(objective_names(), (std::vector<std::string>{"attention_supervision", "cross_entropy",
                                                         "doubly_stochastic", "grounding"}));
  for (const auto& name : objective_names())
    EXPECT_EQ(make_objective({name, 2.0, nlohmann::json::object()})->spec().name, name);
  EXPECT_EQ(error_of([] {
              make_objective({"focal", 1.0, {}});
            }),
            "no objective named 'focal'; the objectives are attention_supervision, "
            "cross_entropy, doubly_stochastic, grounding");
  EXPECT_EQ(error_of([] {
              make_objective({"grounding", -1.0, {}});
            }),
            "objective 'grounding': its weight must be 0 or more, not -1.0");
  EXPECT_EQ(error_of([] {
              make_objective({"attention_supervision", 1.0, {{"each_head", "yes"}}});
            }),
            "objective 'attention_supervision': parameter 'each_head' must be true or false, not "
            "\"yes\"");
}

class ObjectivesOnATinyModel : public ::testing::Test {
 protected:
  ObjectivesOnATinyModel() {
    torch::manual_seed(2);
    model_ =
        fusion::CaptionModel::create(glimpse::testing::tiny_model_config("transformer", "cross:2"))
            .take();
  }
  std::shared_ptr<fusion::CaptionModel> model_;
  data::Dataset set_;
  std::vector<PreparedImage> images_;
};

TEST_F(ObjectivesOnATinyModel, EachRefusesDataOrAModelItCannotUseSayingWhatToDo) {
  const TrainingData cached{set_, images_, *model_, "world", true, cv::Size()};
  EXPECT_EQ(error_of([&] {
              make_objective({"attention_supervision", 1, {}})->prepare(cached);
            }),
            "attention supervision needs object boxes and images, not feature caches");
  EXPECT_EQ(error_of([&] {
              make_objective({"grounding", 1, {}})->prepare(cached);
            }),
            "word grounding needs object boxes and images, not feature caches");
  EXPECT_NE(error_of([&] {
              make_objective({"doubly_stochastic", 1, {}})->prepare(cached);
            }).find("regularises an LSTM decoder's attention"),
            std::string::npos);
  const TrainingData empty{set_, images_, *model_, "world", false, cv::Size(3, 3)};
  EXPECT_EQ(error_of([&] {
              make_objective({"grounding", 1, {}})->prepare(empty);
            }),
            "--grounding needs captions whose words carry object boxes (as glimpse world exports "
            "them); 'world' has none");
}

TEST_F(ObjectivesOnATinyModel, CrossEntropyIsTheMaskedMeanWeightedByThePartsShare) {
  const auto vocab = model_->vocabulary();
  std::vector<text::Sequence> seqs = {
      text::caption_sequence(vocab, {"a", "red", "circle"}),
      text::qa_sequence(vocab, {"what", "colour", "is", "the", "circle"}, {"red"})};
  const auto batch = text::collate(seqs);
  const auto features = torch::randn({1, 9, model_->net().encoder->channels()});
  text::AttentionContext grid;
  grid.grid_h = grid.grid_w = 3;
  torch::NoGradGuard no_grad;
  const auto out =
      model_->net().decoder->forward(features, torch::zeros({2}, torch::kLong), grid, batch.input);
  const double words = batch.loss_mask.sum().item<double>();
  const PartOutput part{out, batch, 0, words, 4 * words, 2, 8};
  const auto ce = text::masked_cross_entropy(out.logits, batch.target, batch.loss_mask);
  auto objective = make_objective({"cross_entropy", 1.0, {}});
  EXPECT_NEAR(objective->part_loss(part).item<double>(), ce.item<double>() / 4, 1e-6);
  objective = make_objective({"cross_entropy", 3.0, {}});
  EXPECT_NEAR(objective->part_loss(part).item<double>(), 3 * ce.item<double>() / 4, 1e-6);
}

// heads_may_split: with each_head, an answer about several objects (a count's two boxes) keeps
// the map averaged over heads, while one object's is held head by head.
TEST_F(ObjectivesOnATinyModel, HeadsMaySplitKeepsTheAverageForAnswersAboutSeveralObjects) {
  const auto& vocab = model_->vocabulary();
  data::ImageEntry entry;
  entry.path = "x.png";
  data::QaEntry two, one;
  two.question = one.question = "what colour is the circle";
  two.answer = one.answer = "red";
  two.family = "count";
  two.boxes = {cv::Rect(0, 0, 10, 10), cv::Rect(20, 20, 10, 10)};
  one.boxes = {cv::Rect(0, 0, 10, 10)};
  entry.questions = {two, one};
  set_.images = {entry};
  PreparedImage img;
  img.size = cv::Size(30, 30);
  for (size_t q = 0; q < 2; ++q) {
    img.sequences.push_back(
        text::qa_sequence(vocab, {"what", "colour", "is", "the", "circle"}, {"red"}));
    img.sources.push_back({false, q});
  }
  images_ = {img};
  const TrainingData data{set_, images_, *model_, "world", false, cv::Size(3, 3)};
  const auto batch = text::collate(img.sequences);
  text::AttentionContext grid;
  grid.grid_h = grid.grid_w = 3;
  torch::manual_seed(3);
  const auto out =
      model_->net().decoder->forward(torch::randn({1, 9, model_->net().encoder->channels()}),
                                     torch::zeros({2}, torch::kLong), grid, batch.input);
  auto loss_with = [&](bool may_split) {
    auto o = make_objective(
        {"attention_supervision", 1.0, {{"each_head", true}, {"heads_may_split", may_split}}});
    o->prepare(data);
    o->begin_step(1);
    o->add_image(0, 0, 0, 0);
    return o->part_loss({out, batch, 0, 1, 1, 2, 2}).item<double>();
  };
  // Both answers are read at the answer's position (after <bos> <question> and 5 words).
  const auto position = static_cast<int64_t>(img.sequences[0].prefix_len) - 1;
  const auto rows = torch::tensor({0, 1}, torch::kLong);
  const auto positions = torch::tensor({position, position}, torch::kLong);
  const auto targets = torch::stack(
      {target_over_cells(data, 0, two.boxes, 1.0), target_over_cells(data, 0, one.boxes, 1.0)});
  auto expected = [&](bool first_each) {
    const auto each = torch::tensor({first_each, true}, torch::kBool);
    return attention_supervision_loss(out.attention, rows, positions, targets, each).item<double>();
  };
  EXPECT_NEAR(loss_with(false), expected(true), 1e-6);
  EXPECT_NEAR(loss_with(true), expected(false), 1e-6);
  EXPECT_GT(std::abs(loss_with(true) - loss_with(false)), 1e-4);
}

}  // namespace
}  // namespace glimpse::train

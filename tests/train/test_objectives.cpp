#include "glimpse/train/objective.h"

#include <gtest/gtest.h>

#include "glimpse/core/error.h"
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
            "objective 'grounding': its weight must be 0 or more, not -1.000000");
  EXPECT_EQ(
      error_of([] {
        make_objective({"attention_supervision", 1.0, {{"each_head", "yes"}}});
      }),
      "objective 'attention_supervision': parameter 'each_head' has the wrong type (\"yes\")");
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

}  // namespace
}  // namespace glimpse::train

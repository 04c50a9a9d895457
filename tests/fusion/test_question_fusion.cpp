// Question fusion: the FiLMed grid against its parts composed by hand, its gradient against finite
// differences, what it may and may not see, its config, and a model that uses it (generation reads
// the same grid as training does).
#include "glimpse/fusion/question_fusion.h"

#include <gtest/gtest.h>

#include "block_checks.h"

#include "finite_differences.h"

#include <limits>
#include <string>
#include <utility>

#include "glimpse/fusion/caption_model.h"
#include "glimpse/text/vocabulary.h"
#include "tiny_model.h"

namespace glimpse::fusion {
namespace {

using text::kAnswer;
using text::kBos;
using text::kEos;
using text::kQuestion;

FusionOptions film_options(int64_t blocks, int64_t channels, int64_t kernel) {
  FusionOptions o;
  o.kind = FusionKind::kFilm;
  o.blocks = blocks;
  o.channels = channels;
  o.embed_dim = 4;
  o.question_dim = 5;
  o.kernel = kernel;
  return o;
}

torch::Tensor questions() {  // [2, 7]: two questions, each answered
  const std::vector<int64_t> rows = {kBos, kQuestion, 8, 9, kAnswer, 10,      kEos,
                                     kBos, kQuestion, 9, 9, 8,       kAnswer, 11};
  return torch::tensor(rows, torch::kLong).view({2, 7});
}

TEST(QuestionFusion, IsTheProjectionThenEachFilmBlockOnTheQuestionVector) {
  torch::manual_seed(1);
  QuestionFusion fusion(film_options(2, 6, 3), 12, 7);
  const auto features = torch::randn({2, 3 * 4, 7});  // [S, N, C], a 3x4 grid
  const auto out = fusion->forward(features, 3, 4, questions());
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 12, 6}));
  // By hand: the grid as [S, C, H, W] (cell n = row * 4 + column), then the parts in order.
  auto x = fusion->project->forward(features.permute({0, 2, 1}).reshape({2, 7, 3, 4}));
  const auto q = fusion->question->forward(questions());
  for (const auto& b : *fusion->blocks)
    x = b->as<FilmBlockImpl>()->forward(x, q);
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t n = 0; n < 12; ++n)
      for (int64_t c = 0; c < 6; ++c)
        EXPECT_FLOAT_EQ(out[s][n][c].item<float>(), x[s][c][n / 4][n % 4].item<float>());
}

// What the FiLM block of a one-block fusion gives for features [2, 3·4, 7]: its grid [2, 6, 3, 4]
// and the question vector.
std::pair<torch::Tensor, torch::Tensor> after_the_film_block(QuestionFusion& fusion,
                                                             const torch::Tensor& features) {
  const auto x = fusion->project->forward(features.permute({0, 2, 1}).reshape({2, 7, 3, 4}));
  const auto q = fusion->question->forward(questions());
  return {(*fusion->blocks)[0]->as<FilmBlockImpl>()->forward(x, q), q};
}

// A FiLM-only fusion has no parameter whose name holds `name`: older files keep their names.
void expect_no_parameter_of_film_only(const std::string& name) {
  QuestionFusion plain(film_options(1, 6, 1), 12, 7);
  for (const auto& p : plain->named_parameters())
    EXPECT_EQ(p.key().find(name), std::string::npos) << p.key();
}

TEST(QuestionFusion, RelationalBlocksFollowTheFilmBlocks) {
  torch::manual_seed(11);
  auto o = film_options(1, 6, 1);
  o.relations = 2;
  o.relation_heads = 3;
  o.relation_pool = 2;
  QuestionFusion fusion(o, 12, 7);
  ASSERT_EQ(fusion->relations->size(), 2u);
  const auto features = torch::randn({2, 3 * 4, 7});
  const auto out = fusion->forward(features, 3, 4, questions());
  auto [x, q] = after_the_film_block(fusion, features);
  for (const auto& b : *fusion->relations)
    x = b->as<RelationBlockImpl>()->forward(x, q);
  EXPECT_TRUE(torch::allclose(out, x.flatten(2).transpose(1, 2), 1e-6, 1e-6));
  // Without relational blocks there is no "relations" module.
  EXPECT_FALSE(QuestionFusion(film_options(1, 6, 1), 12, 7)->relations);
  expect_no_parameter_of_film_only("relations");
  o.relations = 5;
  EXPECT_THROW(QuestionFusion(o, 12, 7), std::invalid_argument);
}

TEST(QuestionFusion, TheCountReadOutComesLast) {
  torch::manual_seed(12);
  auto o = film_options(1, 6, 1);
  o.relations = 1;
  o.relation_heads = 3;
  o.count_maps = 2;
  QuestionFusion fusion(o, 12, 7);
  ASSERT_TRUE(fusion->count);
  EXPECT_EQ(fusion->count->options.maps, 2);
  const auto features = torch::randn({2, 3 * 4, 7});
  const auto out = fusion->forward(features, 3, 4, questions());
  auto [x, q] = after_the_film_block(fusion, features);
  x = (*fusion->relations)[0]->as<RelationBlockImpl>()->forward(x, q);
  x = fusion->count->forward(x, q);
  EXPECT_TRUE(torch::allclose(out, x.flatten(2).transpose(1, 2), 1e-6, 1e-6));
  // Without it there is no "count" module.
  EXPECT_FALSE(QuestionFusion(film_options(1, 6, 1), 12, 7)->count);
  expect_no_parameter_of_film_only("count");
  o.count_maps = 17;
  EXPECT_THROW(QuestionFusion(o, 12, 7), std::invalid_argument);
}

// The locate read-out comes after the FiLM blocks, so that the relational blocks after it can
// compare each cell's place with the places it writes in, and before the count read-out.
TEST(QuestionFusion, TheLocateReadOutComesBeforeTheRelationalBlocks) {
  torch::manual_seed(13);
  auto o = film_options(1, 6, 1);
  o.relations = 1;
  o.relation_heads = 3;
  o.locate_glimpses = 2;
  o.count_maps = 2;
  QuestionFusion fusion(o, 12, 7);
  ASSERT_TRUE(fusion->locate);
  EXPECT_EQ(fusion->locate->options.glimpses, 2);
  EXPECT_FALSE(fusion->locate->options.per_glimpse);
  {
    torch::NoGradGuard no_grad;  // as after training: the places written in
    fusion->locate->write->weight.normal_();
  }
  const auto features = torch::randn({2, 3 * 4, 7});
  const auto out = fusion->forward(features, 3, 4, questions());
  auto [x, q] = after_the_film_block(fusion, features);
  x = fusion->locate->forward(x, q);
  x = (*fusion->relations)[0]->as<RelationBlockImpl>()->forward(x, q);
  x = fusion->count->forward(x, q);
  EXPECT_TRUE(torch::allclose(out, x.flatten(2).transpose(1, 2), 1e-6, 1e-6));
  EXPECT_FALSE(QuestionFusion(film_options(1, 6, 1), 12, 7)->locate);
  expect_no_parameter_of_film_only("locate");
  o.locate_per_glimpse = true;
  EXPECT_TRUE(QuestionFusion(o, 12, 7)->locate->options.per_glimpse);
  o.locate_compare = 16;
  EXPECT_EQ(QuestionFusion(o, 12, 7)->locate->compare_in->options.out_features(), 16);
  o.locate_contents = true;  // glimpses' places, their comparison and their 6 channels each
  EXPECT_EQ(QuestionFusion(o, 12, 7)->locate->write->options.in_features(), 2 * 2 + 16 + 2 * 6);
  o.locate_glimpses = 9;
  EXPECT_EQ(testing::invalid_argument_of([&] { QuestionFusion(o, 12, 7); }),
            "question fusion: locate_glimpses must be 0..8");
}

// Word glimpses read the question encoder's states of the question's words, not only its vector.
TEST(QuestionFusion, WordGlimpsesReadTheQuestionsWordStates) {
  torch::manual_seed(14);
  auto o = film_options(1, 6, 1);
  o.locate_glimpses = 2;
  o.locate_words = true;
  QuestionFusion fusion(o, 12, 7);
  ASSERT_TRUE(fusion->locate->options.words);
  {
    torch::NoGradGuard no_grad;
    fusion->locate->write->weight.normal_();
  }
  const auto features = torch::randn({2, 3 * 4, 7});
  const auto tokens = questions();
  const auto out = fusion->forward(features, 3, 4, tokens);
  auto [x, q] = after_the_film_block(fusion, features);
  const auto reading = fusion->question->read(tokens);
  EXPECT_TRUE(torch::equal(reading.vector, q));
  x = fusion->locate->forward(x, reading);
  EXPECT_TRUE(torch::allclose(out, x.flatten(2).transpose(1, 2), 1e-6, 1e-6));
}

TEST(QuestionFusion, SeesTheQuestionAndTheImageButNotTheAnswer) {
  torch::manual_seed(2);
  QuestionFusion fusion(film_options(1, 4, 1), 12, 3);
  const auto features = torch::randn({2, 4, 3});
  const auto base = fusion->forward(features, 2, 2, questions());
  auto other_answer = questions().clone();
  other_answer[0][5] = 11;
  EXPECT_TRUE(torch::equal(fusion->forward(features, 2, 2, other_answer)[0], base[0]));
  auto other_question = questions().clone();
  other_question[0][3] = 11;
  EXPECT_GT(
      (fusion->forward(features, 2, 2, other_question)[0] - base[0]).abs().max().item<float>(),
      1e-4f);
  EXPECT_TRUE(torch::equal(fusion->forward(features, 2, 2, other_question)[1], base[1]));
}

TEST(QuestionFusion, GradientsMatchFiniteDifferencesInDouble) {
  torch::manual_seed(3);
  QuestionFusion fusion(film_options(2, 3, 3), 12, 2);
  fusion->to(torch::kDouble);
  auto features = torch::randn({2, 6, 2}, torch::kDouble).requires_grad_(true);
  const auto r = torch::randn({2, 6, 3}, torch::kDouble);
  auto loss = [&] { return (fusion->forward(features, 2, 3, questions()) * r).sum(); };
  testing::expect_gradients_match_finite_differences(
      loss, {&features, &fusion->project->weight, &fusion->question->embed->weight}, 5);
}

TEST(QuestionFusion, RefusesWhatItCannotBuildOrRead) {
  EXPECT_THROW(QuestionFusion(FusionOptions{}, 12, 3), std::invalid_argument);  // kind none
  EXPECT_THROW(QuestionFusion(film_options(0, 4, 3), 12, 3), std::invalid_argument);
  QuestionFusion fusion(film_options(1, 4, 3), 12, 3);
  EXPECT_EQ(testing::invalid_argument_of([&] {
              fusion->forward(torch::zeros({2, 5, 3}), 2, 2, questions());
            }),
            "question fusion: features must be [S, grid_h * grid_w, C] and tokens [S, T]");
  EXPECT_EQ(parse_fusion_kind("film").value(), FusionKind::kFilm);
  EXPECT_EQ(parse_fusion_kind("flim").error().message, "unknown fusion 'flim' (none or film)");
}

TEST(QuestionFusion, CaptionsOfOneImageShareOneConditionQuestionsDoNot) {
  using text::kCaption;
  const std::vector<int64_t> rows = {
      kBos, kCaption,  7, 8, 9,       kEos,  // image 0, a caption
      kBos, kCaption,  8, 9, kEos,    0,     // image 0, another caption: the same condition
      kBos, kCaption,  7, 8, 9,       kEos,  // image 1, a caption
      kBos, kQuestion, 8, 9, kAnswer, 10,    // image 0, a question
      kBos, kQuestion, 8, 9, kAnswer, 11,    // image 0, the same question, another answer
      kBos, kQuestion, 8, 7, kAnswer, 10};   // image 0, another question
  const auto [first, which] = distinct_conditions(torch::tensor({0, 0, 1, 0, 0, 0}),
                                                  torch::tensor(rows, torch::kLong).view({6, 6}));
  EXPECT_EQ(std::vector<int64_t>(first.data_ptr<int64_t>(), first.data_ptr<int64_t>() + 4),
            (std::vector<int64_t>{0, 2, 3, 5}));
  EXPECT_EQ(std::vector<int64_t>(which.data_ptr<int64_t>(), which.data_ptr<int64_t>() + 6),
            (std::vector<int64_t>{0, 0, 1, 2, 2, 3}));
}

// --- in a model ---

ModelConfig film_model(bool blind = false) {
  auto c = testing::tiny_model_config("transformer", "cross:2");
  c.fusion = film_options(1, 6, 3);
  c.blind = blind;
  return c;
}

TEST(QuestionFusionModel, TheConfigRoundTripsAndAModelWithoutFusionKeepsItsJson) {
  const auto c = film_model();
  const auto back = ModelConfig::from_json(c.to_json()).take();
  EXPECT_EQ(back.fusion.kind, FusionKind::kFilm);
  EXPECT_EQ(back.fusion.channels, 6);
  EXPECT_EQ(back.fusion.kernel, 3);
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(c.to_json().find("relations"), std::string::npos) << "FiLM-only JSON as it was";
  auto related = c;
  related.fusion.relations = 1;
  related.fusion.relation_heads = 2;
  related.fusion.relation_pool = 2;
  const auto again = ModelConfig::from_json(related.to_json()).take();
  EXPECT_EQ(again.fusion.relations, 1);
  EXPECT_EQ(again.fusion.relation_heads, 2);
  EXPECT_EQ(again.fusion.relation_pool, 2);
  EXPECT_EQ(related.to_json().find("count_maps"), std::string::npos) << "as it was";
  related.fusion.count_maps = 4;
  EXPECT_EQ(ModelConfig::from_json(related.to_json()).take().fusion.count_maps, 4);
  EXPECT_EQ(related.to_json().find("tie_plurals"), std::string::npos) << "as it was";
  related.fusion.tie_plurals = true;
  EXPECT_TRUE(ModelConfig::from_json(related.to_json()).take().fusion.tie_plurals);
  EXPECT_EQ(related.to_json().find("locate_glimpses"), std::string::npos) << "as it was";
  related.fusion.locate_glimpses = 3;
  EXPECT_EQ(ModelConfig::from_json(related.to_json()).take().fusion.locate_glimpses, 3);
  EXPECT_EQ(related.to_json().find("locate_per_glimpse"), std::string::npos) << "as it was";
  related.fusion.locate_per_glimpse = true;
  EXPECT_TRUE(ModelConfig::from_json(related.to_json()).take().fusion.locate_per_glimpse);
  EXPECT_EQ(related.to_json().find("locate_words"), std::string::npos) << "as it was";
  related.fusion.locate_per_glimpse = false;
  related.fusion.locate_words = true;
  EXPECT_TRUE(ModelConfig::from_json(related.to_json()).take().fusion.locate_words);
  EXPECT_EQ(related.to_json().find("locate_compare"), std::string::npos) << "as it was";
  related.fusion.locate_compare = 32;
  EXPECT_EQ(ModelConfig::from_json(related.to_json()).take().fusion.locate_compare, 32);
  EXPECT_EQ(related.to_json().find("locate_contents"), std::string::npos) << "as it was";
  related.fusion.locate_contents = true;
  EXPECT_TRUE(ModelConfig::from_json(related.to_json()).take().fusion.locate_contents);
  EXPECT_EQ(related.to_json().find("locate_word_order"), std::string::npos) << "as it was";
  related.fusion.locate_word_order = true;
  EXPECT_TRUE(ModelConfig::from_json(related.to_json()).take().fusion.locate_word_order);
  const auto plain = testing::tiny_model_config("transformer", "cross:2");
  EXPECT_EQ(plain.to_json().find("fusion"), std::string::npos);
  EXPECT_EQ(plain.to_json().find("blind"), std::string::npos);
}

TEST(QuestionFusionModel, BadFusionFieldsAreRefusedNamingTheField) {
  auto with = [](const std::string& fusion) {
    auto j = film_model().to_json();
    const auto at = j.find("\"fusion\":{");
    const auto end = j.find('}', at);
    j.replace(at, end - at + 1, "\"fusion\":" + fusion);
    const auto r = ModelConfig::from_json(j);
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(with(R"({"kind":"film","kernel":2})"), "model config: fusion.kernel must be 1 or 3");
  EXPECT_EQ(with(R"({"kind":"film","blocks":9})"),
            "model config: fusion.blocks must be an integer 1..8");
  EXPECT_EQ(with(R"({"kind":"mac"})"),
            "model config: fusion.kind: unknown fusion 'mac' (none or film)");
  EXPECT_EQ(with(R"({"kind":"film","coords":1})"),
            "model config: fusion.coords must be true or false");
  EXPECT_EQ(with(R"({"kind":"film","relations":1,"relation_pool":0})"),
            "model config: fusion.relation_pool must be an integer 1..4");
  EXPECT_EQ(with(R"({"kind":"film","relations":5})"),
            "model config: fusion.relations must be an integer 0..4");
  EXPECT_EQ(with(R"({"kind":"film","channels":6,"relations":1,"relation_heads":4})"),
            "model config: fusion.relation_heads (4) must divide fusion.channels (6)");
  EXPECT_EQ(with(R"({"kind":"film","count_maps":17})"),
            "model config: fusion.count_maps must be an integer 0..16");
  EXPECT_EQ(with(R"({"kind":"film","locate_glimpses":9})"),
            "model config: fusion.locate_glimpses must be an integer 0..8");
  EXPECT_EQ(with(R"({"kind":"film","locate_per_glimpse":"yes"})"),
            "model config: fusion.locate_per_glimpse must be true or false");
  EXPECT_EQ(
      with(R"({"kind":"film","locate_glimpses":2,"locate_words":true,"locate_per_glimpse":true})"),
      "model config: fusion.locate_words and fusion.locate_per_glimpse are two ways of "
      "giving each glimpse its own modulation: set one");
  for (const auto* without : {R"("locate_words":true)", R"("locate_compare":16)",
                              R"("locate_contents":true)", R"("locate_per_glimpse":true)"})
    EXPECT_EQ(with(std::string(R"({"kind":"film",)") + without + "}"),
              "model config: fusion.locate_per_glimpse, locate_words, locate_compare, "
              "locate_contents and locate_word_order shape the locate read-out's glimpses: set "
              "fusion.locate_glimpses (1..8) too")
        << without;
  EXPECT_EQ(with(R"({"kind":"film","locate_glimpses":2,"locate_word_order":true})"),
            "model config: fusion.locate_word_order biases which words each glimpse reads: set "
            "fusion.locate_words too");
  EXPECT_EQ(with(R"({"kind":"film","locate_compare":257})"),
            "model config: fusion.locate_compare must be an integer 0..256");
  EXPECT_EQ(with(R"({"kind":"film","tie_plurals":1})"),
            "model config: fusion.tie_plurals must be true or false");
  EXPECT_EQ(with(R"({"kind":"film"})"), "accepted");  // every other field at its default
}

TEST(QuestionFusionModel, GenerationReadsTheGridTrainingReads) {
  torch::manual_seed(4);
  auto model = CaptionModel::create(film_model()).take();
  cv::Mat image(32, 32, CV_8UC3, cv::Scalar(200, 30, 30));
  GenerateOptions o;
  o.max_len = 4;
  const auto p = model->answer(image, "what colour is the square", o).take();
  ASSERT_FALSE(p.log_probs.empty());
  // Teacher-forced on the prefix and what it wrote, the training path gives the same
  // log-probabilities.
  auto tokens = model->question_prefix("what colour is the square", 48).take();
  const auto prefix = static_cast<int64_t>(tokens.size());
  for (const auto& w : p.words)
    tokens.push_back(model->vocabulary().id(w));
  torch::NoGradGuard no_grad;
  const auto batch = vision::to_batch({image}, model->config().image);
  const auto out = model->net().forward(batch, torch::tensor(tokens, torch::kLong).unsqueeze(0));
  // Over what the search may write: not <pad>, <bos>, <unk> nor a task token.
  auto logits = out.logits[0].clone();
  for (int64_t id : {text::kPad, text::kBos, text::kUnk, text::kCaption, kQuestion, kAnswer})
    logits.select(-1, id).fill_(-std::numeric_limits<float>::infinity());
  const auto lp = torch::log_softmax(logits, -1);
  for (size_t t = 0; t < p.words.size(); ++t)
    EXPECT_NEAR(lp[prefix - 1 + static_cast<int64_t>(t)][tokens[prefix + t]].item<float>(),
                p.log_probs[t], 1e-4)
        << t;
}

TEST(QuestionFusionModel, DecodingFromImagesPerSequenceEqualsFromSharedImages) {
  torch::manual_seed(5);
  auto model = CaptionModel::create(film_model()).take();
  auto& net = model->net();
  torch::NoGradGuard no_grad;
  const auto features = torch::randn({2, 9, net.encoder->channels()});
  text::AttentionContext grid;
  grid.grid_h = grid.grid_w = 3;
  const auto index = torch::tensor({1, 0, 1}, torch::kLong);
  const auto tokens =
      torch::cat({questions().narrow(1, 0, 6), questions().narrow(1, 0, 6).narrow(0, 0, 1)});
  const auto shared = net.decode(features, index, grid, tokens);
  const auto own = net.decode(features.index_select(0, index), torch::Tensor(), grid, tokens);
  EXPECT_TRUE(torch::allclose(shared.logits, own.logits, 1e-5, 1e-5));
}

TEST(QuestionFusionModel, ABlindModelGivesTheSameAnswerWhateverTheImage) {
  torch::manual_seed(6);
  auto model = CaptionModel::create(film_model(/*blind=*/true)).take();
  GenerateOptions o;
  o.max_len = 3;
  const auto a =
      model->answer(cv::Mat(32, 32, CV_8UC3, cv::Scalar(255, 0, 0)), "what colour is it", o).take();
  const auto b =
      model->answer(cv::Mat(32, 32, CV_8UC3, cv::Scalar(0, 0, 255)), "what colour is it", o).take();
  EXPECT_EQ(a.log_probs, b.log_probs);
  // The same model with its eyes open does see the difference.
  torch::manual_seed(6);
  auto seeing = CaptionModel::create(film_model(/*blind=*/false)).take();
  const auto c =
      seeing->answer(cv::Mat(32, 32, CV_8UC3, cv::Scalar(255, 0, 0)), "what colour is it", o)
          .take();
  const auto d =
      seeing->answer(cv::Mat(32, 32, CV_8UC3, cv::Scalar(0, 0, 255)), "what colour is it", o)
          .take();
  EXPECT_NE(c.log_probs, d.log_probs);
}

}  // namespace
}  // namespace glimpse::fusion

#include "glimpse/train/trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "glimpse/core/file_util.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/data/world_export.h"
#include "glimpse/fusion/overlay.h"
#include "glimpse/text/sequence.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/vision/image_decode.h"
#include "test_util.h"

namespace glimpse::train {
namespace {

using glimpse::testing::read_bytes;
using glimpse::testing::TempDir;

// A world of 32x32 scenes: 10 training images, 4 dev.
void export_tiny_world(const std::string& dir) {
  data::WorldOptions w;
  w.image_size = 32;
  w.max_objects = 2;
  w.questions_per_scene = 2;
  w.captions_per_scene = 2;
  const data::ShapesWorld world(w);
  data::export_world(world, data::Split::kTrain, 0, 10, dir).take();
  data::export_world(world, data::Split::kDev, 0, 4, dir).take();
}

fusion::ModelConfig tiny_model() {
  fusion::ModelConfig c;
  c.small_cnn = {4, 2, 4, 4};
  c.lstm.embed_dim = 8;
  c.lstm.hidden_dim = 16;
  c.lstm.attention_dim = 8;
  c.lstm.dropout = 0.5;  // dropout draws from the RNG the checkpoint must restore
  c.image.width = c.image.height = 32;
  return c;
}

// Two layers of two heads over an 8x8 grid.
fusion::ModelConfig tiny_transformer() {
  auto c = tiny_model();
  c.small_cnn.grid_h = c.small_cnn.grid_w = 8;
  c.small_cnn.depth = 2;
  c.decoder = fusion::DecoderKind::kTransformer;
  c.transformer.d_model = 16;
  c.transformer.layers = 2;
  c.transformer.heads = 2;
  c.transformer.ffn_dim = 32;
  c.transformer.cross_attention = "cross:2";
  return c;
}

TrainOptions tiny_options(const std::string& world, const std::string& out) {
  TrainOptions o;
  o.train_dir = world;
  o.out = out;
  o.epochs = 3;
  o.batch_size = 6;  // 4 sequences an image: steps of 2 images, 5 steps an epoch
  o.warmup_steps = 3;
  o.checkpoint_every = 4;
  o.eval_images = 4;
  return o;
}

std::map<std::string, torch::Tensor> weights(const std::string& path) {
  auto f = core::SafetensorsFile::open(path).take();
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, entry] : f.entries())
    out[name] = f.tensor(name);
  return out;
}

std::string latest_model(const std::string& out) {
  const std::string dir = out + ".ckpt";
  return dir + "/" + read_bytes(dir + "/LATEST") + "/model.safetensors";
}

TEST(LearningRate, WarmsUpLinearlyThenDecaysByCosineToFivePercent) {
  Optimisation o;
  o.lr = 1e-3;
  o.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0, 111), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 4, 111), 5e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 10, 111), 1e-3);
  EXPECT_NEAR(learning_rate(o, 60, 111), 1e-3 * (0.05 + 0.95 * 0.5), 1e-12);  // half way
  EXPECT_DOUBLE_EQ(learning_rate(o, 110, 111), 5e-5);
}

TEST(Train, AResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne) {
  TempDir d;
  export_tiny_world(d.file("world"));
  const std::string whole = d.file("whole.safetensors"), parts = d.file("parts.safetensors");

  auto a = train(tiny_options(d.file("world"), whole), tiny_model());
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a.value().steps, 15);
  EXPECT_EQ(a.value().epochs_done, 3);
  EXPECT_FALSE(a.value().stopped_early);

  // Killed mid-epoch twice (after steps 7 and 12), resumed each time.
  auto o = tiny_options(d.file("world"), parts);
  o.stop_after_steps = 7;
  auto b1 = train(o, tiny_model());
  ASSERT_TRUE(b1) << b1.error().message;
  EXPECT_TRUE(b1.value().stopped_early);
  EXPECT_EQ(b1.value().steps, 7);
  o.resume = true;
  o.stop_after_steps = 5;
  auto b2 = train(o, tiny_model());
  ASSERT_TRUE(b2) << b2.error().message;
  EXPECT_EQ(b2.value().steps, 12);
  o.stop_after_steps = 0;
  auto b3 = train(o, tiny_model());
  ASSERT_TRUE(b3) << b3.error().message;
  EXPECT_EQ(b3.value().steps, 15);
  EXPECT_FALSE(b3.value().stopped_early);

  const auto wa = weights(latest_model(whole)), wb = weights(latest_model(parts));
  ASSERT_EQ(wa.size(), wb.size());
  int trained = 0;
  for (const auto& [name, t] : wa) {
    ASSERT_TRUE(wb.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, wb.at(name))) << name;
    trained += t.is_floating_point();
  }
  EXPECT_GT(trained, 10);
  // The best model (fp16) and its dev figures agree too.
  EXPECT_EQ(a.value().best_epoch, b3.value().best_epoch);
  EXPECT_DOUBLE_EQ(a.value().best.bleu4(), b3.value().best.bleu4());
  EXPECT_EQ(read_bytes(whole).size(), read_bytes(parts).size());
  // And a different seed gives different weights: the comparison can fail.
  auto c = tiny_options(d.file("world"), d.file("other.safetensors"));
  c.seed = 2;
  ASSERT_TRUE(train(c, tiny_model()));
  const auto wc = weights(latest_model(d.file("other.safetensors")));
  EXPECT_FALSE(torch::equal(wa.at("decoder.fc.weight"), wc.at("decoder.fc.weight")));
}

TEST(Train, AttentionSupervisionPullsAttentionOntoTheObjects) {
  TempDir d;
  export_tiny_world(d.file("world"));
  const auto ds = data::load_world_folder(d.file("world"), "train").take();
  double correctness[2] = {0, 0};
  for (int supervised = 0; supervised < 2; ++supervised) {
    auto o = tiny_options(d.file("world"), d.file("m" + std::to_string(supervised)));
    o.epochs = 8;
    o.lr = 3e-3;
    o.attention_supervision = supervised ? 5.0 : 0.0;
    auto c = tiny_model();
    c.small_cnn.grid_h = c.small_cnn.grid_w = 8;
    c.small_cnn.depth = 2;
    ASSERT_TRUE(train(o, c));
    auto model = fusion::CaptionModel::load(latest_model(o.out)).take();
    // Teacher-forced on the reference captions: the attention at each word that has a box.
    torch::NoGradGuard no_grad;
    model->net().eval();
    double sum = 0;
    int words = 0;
    for (const auto& img : ds.images) {
      const cv::Mat rgb = vision::load_image(img.path).take();
      for (const auto& cap : img.captions) {
        const auto tokens = text::tokenize(cap.text);
        const auto seq = text::caption_sequence(model->vocabulary(), tokens);
        const auto input = torch::tensor(seq.tokens, torch::kLong).unsqueeze(0);
        const auto out =
            model->net().forward(vision::to_batch({rgb}, model->config().image), input);
        const auto att = out.attention[0][0].mean(0);  // [L, N]
        for (size_t w = 0; w < tokens.size(); ++w) {
          if (!cap.word_boxes[w])
            continue;
          auto row = att[static_cast<int64_t>(seq.prefix_len + w - 1)].contiguous();
          const cv::Mat map(8, 8, CV_32F, row.data_ptr<float>());
          sum += fusion::mass_inside(map, rgb.size(), model->config().image, {*cap.word_boxes[w]});
          ++words;
        }
      }
    }
    ASSERT_GT(words, 20);
    correctness[supervised] = sum / words;
  }
  RecordProperty("unsupervised", std::to_string(correctness[0]));
  RecordProperty("supervised", std::to_string(correctness[1]));
  EXPECT_GT(correctness[1], correctness[0] + 0.1)
      << "unsupervised " << correctness[0] << ", supervised " << correctness[1];
}

// "is the red square left of the blue circle": tokens <bos> <question> is the red square ...;
// "red square" ends at token 5, "blue circle" at token 10.
TEST(MentionPositions, AreTheLastWordOfEachPhraseInOrder) {
  const auto words = text::tokenize("is the red square left of the blue circle?");
  const cv::Rect a(0, 0, 4, 4), b(8, 8, 4, 4);
  EXPECT_EQ(mention_positions(words, {{"red square", a}, {"blue circle", b}}, false),
            (std::vector<int64_t>{5, 10}));
  EXPECT_EQ(mention_positions(words, {{"red square", a}, {"blue circle", b}}, true),
            (std::vector<int64_t>{6, 11}));
  // The same phrase twice is found twice; a phrase before the last one found is not.
  const auto twice = text::tokenize("is the square left of the square?");
  EXPECT_EQ(mention_positions(twice, {{"square", a}, {"square", b}}, false),
            (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(mention_positions(words, {{"blue circle", b}, {"red square", a}}, false),
            (std::vector<int64_t>{10, -1}));
  EXPECT_EQ(mention_positions(words, {{"purple zebra", a}, {"", b}}, false),
            (std::vector<int64_t>{-1, -1}));
}

TEST(Train, SupervisedMentionsPullTheReadingOfAQuestionOntoTheObjectItNames) {
  TempDir d;
  data::WorldOptions w;
  w.image_size = 32;
  w.max_objects = 3;
  w.questions_per_scene = 6;
  w.captions_per_scene = 1;
  const data::ShapesWorld world(w);
  data::export_world(world, data::Split::kTrain, 0, 10, d.file("world")).take();
  data::export_world(world, data::Split::kDev, 0, 2, d.file("world")).take();
  const auto ds = data::load_world_folder(d.file("world"), "train").take();
  double correctness[2] = {0, 0};
  for (int mentions = 0; mentions < 2; ++mentions) {
    auto o = tiny_options(d.file("world"), d.file("m" + std::to_string(mentions)));
    // 20 epochs: with word order heard (embeddings at the scale of the positions), the reading
    // of a mention finds its object in part without supervision (0.45 here), since the answer
    // two words later is supervised on the same object; supervised, it reaches 0.58.
    o.epochs = 20;
    o.lr = 3e-3;
    o.batch_size = 14;
    o.attention_supervision = 5.0;
    o.supervise_mentions = mentions == 1;
    auto c = tiny_transformer();
    ASSERT_TRUE(train(o, c));
    auto model = fusion::CaptionModel::load(latest_model(o.out)).take();
    torch::NoGradGuard no_grad;
    model->net().eval();
    double sum = 0;
    int read = 0;
    for (const auto& img : ds.images) {
      const cv::Mat rgb = vision::load_image(img.path).take();
      for (const auto& q : img.questions) {
        if (q.mentions.empty())
          continue;
        const auto words = text::tokenize(q.question);
        const auto seq = text::qa_sequence(model->vocabulary(), words, text::tokenize(q.answer));
        const auto out = model->net().forward(vision::to_batch({rgb}, model->config().image),
                                              torch::tensor(seq.tokens, torch::kLong).unsqueeze(0));
        // Every layer's every head where the first mention is read.
        const int64_t at = mention_positions(words, q.mentions, false)[0];
        ASSERT_GT(at, 1) << q.question;
        auto row = torch::stack({out.attention[0][0].mean(0)[at], out.attention[1][0].mean(0)[at]})
                       .mean(0)
                       .contiguous();
        const cv::Mat map(8, 8, CV_32F, row.data_ptr<float>());
        sum += fusion::mass_inside(map, rgb.size(), model->config().image, {q.mentions[0].second});
        ++read;
      }
    }
    ASSERT_GT(read, 20);
    correctness[mentions] = sum / read;
  }
  EXPECT_GT(correctness[1], correctness[0] + 0.1)
      << "without mentions " << correctness[0] << ", with " << correctness[1];
  // A mention the question does not say is refused before training, naming both.
  const std::string path = d.file("world") + "/annotations_train.json";
  auto anns = nlohmann::json::parse(read_bytes(path));
  nlohmann::json* first = nullptr;
  for (auto& a : anns["annotations"])
    if (a.contains("mentions") && !first)
      first = &a;
  ASSERT_NE(first, nullptr);
  (*first)["mentions"][0]["words"] = "purple zebra";
  core::write_file_atomic(path, anns.dump());
  auto o = tiny_options(d.file("world"), d.file("bad"));
  o.attention_supervision = 1.0;
  o.supervise_mentions = true;
  auto r = train(o, tiny_model());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("its mention \"purple zebra\" is not in \""), std::string::npos)
      << r.error().message;
  o.attention_supervision = 0;
  r = train(o, tiny_model());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "--supervise-mentions is a part of attention supervision: give "
            "--attention-supervision a weight above 0");
}

// One sequence, one position, two cells; layer 0's head looks at the target cell, layer 1's
// head half at it. The average map holds 0.75 there; each head on its own, 1 and 0.5.
TEST(AttentionSupervisionLoss, ScoresTheAverageMapOrEveryHead) {
  const std::vector<torch::Tensor> attention = {torch::tensor({1.0f, 0.0f}).view({1, 1, 1, 2}),
                                                torch::tensor({0.5f, 0.5f}).view({1, 1, 1, 2})};
  const auto rows = torch::tensor({0}, torch::kLong), positions = torch::tensor({0}, torch::kLong);
  const auto target = torch::tensor({1.0f, 0.0f}).view({1, 2});
  EXPECT_NEAR(attention_supervision_loss(attention, rows, positions, target, torch::tensor({false}))
                  .item<double>(),
              -std::log(0.75), 1e-6);
  EXPECT_NEAR(attention_supervision_loss(attention, rows, positions, target, torch::tensor({true}))
                  .item<double>(),
              (-std::log(1.0) - std::log(0.5)) / 2, 1e-6);
  // Two heads in one layer, the second on the other cell: the average forgives it, each does not.
  const std::vector<torch::Tensor> split = {
      torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({1, 2, 1, 2})};
  EXPECT_NEAR(attention_supervision_loss(split, rows, positions, target, torch::tensor({false}))
                  .item<double>(),
              -std::log(0.5), 1e-6);
  EXPECT_GT(attention_supervision_loss(split, rows, positions, target, torch::tensor({true}))
                .item<double>(),
            9.0);
  // Two targets, one of each kind: the mean of the two losses.
  const auto two = torch::tensor({0, 0}, torch::kLong);
  EXPECT_NEAR(attention_supervision_loss(attention, two, two, target.repeat({2, 1}),
                                         torch::tensor({false, true}))
                  .item<double>(),
              (-std::log(0.75) - std::log(0.5) / 2) / 2, 1e-6);
}

// Per-head targets: two heads, each on its own cell, and targets that say so score 0; the
// average map (0.5, 0.5) against the average target (0.5, 0.5) scores log 2.
TEST(AttentionSupervisionLoss, ScoresEachHeadAgainstItsOwnTarget) {
  const std::vector<torch::Tensor> split = {
      torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({1, 2, 1, 2})};
  const auto rows = torch::tensor({0}, torch::kLong), positions = torch::tensor({0}, torch::kLong);
  const auto apart = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}).view({1, 2, 2});
  EXPECT_NEAR(attention_supervision_loss(split, rows, positions, apart, torch::tensor({true}))
                  .item<double>(),
              0.0, 1e-6);
  EXPECT_NEAR(attention_supervision_loss(split, rows, positions, apart, torch::tensor({false}))
                  .item<double>(),
              std::log(2.0), 1e-6);
  // The same targets the other way round: each head is scored on the cell it ignores.
  EXPECT_GT(
      attention_supervision_loss(split, rows, positions, apart.flip({1}), torch::tensor({true}))
          .item<double>(),
      18.0);
  // Three head targets for two heads is a mistake, named.
  try {
    attention_supervision_loss(split, rows, positions, torch::full({1, 3, 2}, 0.5f),
                               torch::tensor({true}));
    ADD_FAILURE() << "three targets for two heads were taken";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 head targets for 2 heads"), std::string::npos)
        << e.what();
  }
}

// Two layers of four heads: a pair's first map goes to heads 0 and 1 of each layer, its second
// to heads 2 and 3; a single map goes to all eight.
TEST(HeadTargets, GiveHalfOfEveryLayersHeadsToEachObject) {
  const std::vector<torch::Tensor> attention = {torch::zeros({1, 4, 1, 3}),
                                                torch::zeros({1, 4, 1, 3})};
  const auto a = torch::tensor({1.0f, 0.0f, 0.0f}), b = torch::tensor({0.0f, 0.0f, 1.0f}),
             c = torch::tensor({0.0f, 1.0f, 0.0f});
  const HeadTarget single{c, torch::Tensor(), false};
  const auto t = head_targets({{a, b, false}, single}, attention);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 8, 3}));
  for (int64_t h = 0; h < 8; ++h) {
    EXPECT_TRUE(torch::equal(t[0][h], h % 4 < 2 ? a : b)) << "head " << h;
    EXPECT_TRUE(torch::equal(t[1][h], c)) << "head " << h;
  }
  // Without pairs, one map a target, as before.
  const auto plain = head_targets({{a, torch::Tensor(), false}, single}, attention);
  EXPECT_EQ(plain.sizes(), (std::vector<int64_t>{2, 3}));
  // Three heads: one for the first object, two for the second.
  const auto three = head_targets({{a, b, false}}, {torch::zeros({1, 3, 1, 3})});
  EXPECT_TRUE(torch::equal(three[0][0], a));
  EXPECT_TRUE(torch::equal(three[0][1], b));
  EXPECT_TRUE(torch::equal(three[0][2], b));
  EXPECT_THROW(head_targets({{a, b, false}}, {torch::zeros({1, 1, 1, 3})}), c10::Error);
  // Split by layer: the first layer's four heads take the reference, the second's the answer.
  const auto hop = head_targets({{a, b, true}}, attention);
  for (int64_t h = 0; h < 8; ++h)
    EXPECT_TRUE(torch::equal(hop[0][h], h < 4 ? a : b)) << "head " << h;
  EXPECT_THROW(head_targets({{a, b, true}}, {torch::zeros({1, 4, 1, 3})}), c10::Error);
}

// A count's target with --count-centres: one cell under each object's centre, the large object
// and the small one an equal share, where the boxes themselves would give the large one 4 times
// the cells.
TEST(CountCentres, EveryObjectWeighsTheSameWhateverItsSize) {
  const std::vector<cv::Rect> boxes = {{8, 8, 32, 32}, {80, 96, 16, 16}};
  EXPECT_EQ(centre_points(boxes), (std::vector<cv::Rect>{{24, 24, 1, 1}, {88, 104, 1, 1}}));
  vision::PreprocessOptions pre;
  pre.width = pre.height = 128;
  const cv::Mat t = fusion::attention_target(
      fusion::cell_coverage({16, 16}, {128, 128}, pre, centre_points(boxes)), 4.0);
  EXPECT_EQ(cv::countNonZero(t), 2);
  EXPECT_FLOAT_EQ(t.at<float>(3, 3), 0.5f);    // (24, 24) lies in cell row 3, column 3
  EXPECT_FLOAT_EQ(t.at<float>(13, 11), 0.5f);  // (88, 104): row 13, column 11
  const cv::Mat whole =
      fusion::attention_target(fusion::cell_coverage({16, 16}, {128, 128}, pre, boxes), 4.0);
  EXPECT_EQ(cv::countNonZero(whole), 16 + 4);
  // It shapes attention supervision, so it needs it on.
  TempDir d;
  export_tiny_world(d.file("world"));
  auto o = tiny_options(d.file("world"), d.file("m.safetensors"));
  o.count_centres = true;
  auto r = train(o, tiny_model());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "--count-centres is a part of attention supervision: give --attention-supervision a "
            "weight above 0");
}

// Each split needs supervision to divide, and the heads or layers to divide it between; the
// tiny LSTM has one of each.
TEST(Train, PairHeadsAndReferenceFirstNeedSupervisionAndHeadsOrLayersToDivide) {
  TempDir d;
  export_tiny_world(d.file("world"));
  auto o = tiny_options(d.file("world"), d.file("m.safetensors"));
  for (const bool pair : {true, false}) {
    o = tiny_options(d.file("world"), d.file("m.safetensors"));
    (pair ? o.pair_heads : o.reference_first) = true;
    auto r = train(o, tiny_model());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              pair ? "--pair-heads divides attention supervision between heads: give "
                     "--attention-supervision a weight above 0"
                   : "--reference-first divides attention supervision between layers: give "
                     "--attention-supervision a weight above 0");
    o.attention_supervision = 1.0;
    r = train(o, tiny_model());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              pair ? "--pair-heads needs an attention of 2 heads or more, and 'additive+gate' has "
                     "1 (try --attention cross:4)"
                   : "--reference-first needs a decoder of 2 layers or more (a transformer with "
                     "--layers 2), and this one has 1");
  }
  // A transformer of 2 layers and 2 heads trains with both on, on relation and what-left
  // questions, and its checkpoints record them.
  data::WorldOptions w;
  w.image_size = 32;
  w.min_objects = 3;
  w.max_objects = 4;
  w.questions_per_scene = 6;
  data::export_world(data::ShapesWorld(w), data::Split::kTrain, 0, 8, d.file("world3")).take();
  data::export_world(data::ShapesWorld(w), data::Split::kDev, 0, 2, d.file("world3")).take();
  const auto ds = data::load_world_folder(d.file("world3"), "train").take();
  int relations = 0, what_left = 0;
  for (const auto& img : ds.images)
    for (const auto& q : img.questions) {
      relations += q.family == "relation";
      what_left += q.family == "what-left";
    }
  ASSERT_GT(relations, 0);
  ASSERT_GT(what_left, 0);
  const auto c = tiny_transformer();
  o = tiny_options(d.file("world3"), d.file("t.safetensors"));
  o.epochs = 1;
  o.attention_supervision = 1.0;
  o.supervise_each_head = true;
  o.pair_heads = o.reference_first = true;
  const auto r = train(o, c);
  ASSERT_TRUE(r) << r.error().message;
  const std::string ckpt = d.file("t.safetensors.ckpt");
  const auto st =
      nlohmann::json::parse(read_bytes(ckpt + "/" + read_bytes(ckpt + "/LATEST") + "/state.json"));
  const auto& supervision = st["run"]["objectives"][1];
  EXPECT_EQ(supervision["name"], "attention_supervision");
  EXPECT_EQ(supervision["params"]["pair_heads"], true);
  EXPECT_EQ(supervision["params"]["reference_first"], true);
}

// The first moment Adam keeps for every parameter after the checkpoint of run `out`, in the
// trainer's order (the network's parameters, then the grounding probe): after one step it is
// (1 - beta1) times the gradient.
std::vector<torch::Tensor> first_moments(const std::string& out) {
  const std::string dir = out + ".ckpt/" + read_bytes(out + ".ckpt/LATEST");
  auto model = fusion::CaptionModel::load(dir + "/model.safetensors").take();
  std::vector<torch::Tensor> params;
  for (auto& p : model->net().parameters())
    if (p.requires_grad())
      params.push_back(p);
  torch::Tensor probe;
  torch::load(probe, dir + "/grounding.pt");
  params.push_back(probe);
  torch::optim::Adam opt(params);
  torch::serialize::InputArchive archive;
  archive.load_from(dir + "/optimizer.pt");
  opt.load(archive);
  std::vector<torch::Tensor> moments;
  for (const auto& p : params)
    moments.push_back(static_cast<torch::optim::AdamParamState&>(
                          *opt.state().at(c10::guts::to_string(p.unsafeGetTensorImpl())))
                          .exp_avg());
  return moments;
}

double first_step_loss(const std::string& out) {
  std::ifstream log(out + ".log.jsonl");
  std::string line;
  std::getline(log, line);
  return nlohmann::json::parse(line).at("loss").get<double>();
}

TEST(Train, DataParallelPartsTakeTheGradientOfTheWholeStepAndResumeExactly) {
  TempDir d;
  export_tiny_world(d.file("world"));
  auto c = tiny_transformer();
  c.transformer.dropout = 0;
  // Steps of 3 images (12 sequences), cut into parts of 2 and 1 images whose sequences,
  // words and supervised positions differ in number: each part's losses are weighted by its
  // share of the step's.
  auto o = tiny_options(d.file("world"), "");
  o.batch_size = 12;
  o.epochs = 1;
  o.attention_supervision = 2;
  o.supervise_each_head = true;
  o.grounding = 1;
  o.stop_after_steps = 1;
  std::vector<std::vector<torch::Tensor>> moments;
  std::vector<double> losses;
  for (int parts : {1, 2, 3}) {
    o.out = d.file("p" + std::to_string(parts) + ".safetensors");
    o.data_parallel = parts;
    auto r = train(o, c);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r.value().steps, 1);
    moments.push_back(first_moments(o.out));
    losses.push_back(first_step_loss(o.out));
  }
  for (size_t k = 1; k < moments.size(); ++k) {
    EXPECT_NEAR(losses[k], losses[0], 1e-5 * losses[0]) << k + 1 << " parts";
    ASSERT_EQ(moments[k].size(), moments[0].size());
    // Float32 sums in another order: each element within 1e-4 of itself, or within 1e-5 of the
    // parameter's largest moment plus 1e-9 (elements near 0, and parameters whose gradient is
    // 0 but for rounding, such as biases under a LayerNorm, then differ by rounding alone; a
    // part weighted wrongly is off by whole percents).
    for (size_t j = 0; j < moments[0].size(); ++j)
      EXPECT_TRUE(torch::allclose(moments[k][j], moments[0][j], 1e-4,
                                  1e-5 * moments[0][j].abs().max().item<double>() + 1e-9))
          << k + 1 << " parts, parameter " << j << ": "
          << (moments[k][j] - moments[0][j]).abs().max().item<double>() << " off, of "
          << moments[0][j].abs().max().item<double>();
  }
  // The encoder's gradient came back through the parts (the probe's is the last).
  EXPECT_GT(moments[1].front().abs().max().item<double>(), 0.0);

  // With dropout, killed after 3 steps and resumed on two parts: the same weights as a run of
  // 8 steps uninterrupted.
  c.transformer.dropout = 0.3;
  auto whole = tiny_options(d.file("world"), d.file("whole.safetensors"));
  whole.batch_size = 12;
  whole.epochs = 2;
  whole.attention_supervision = 2;
  whole.data_parallel = 2;
  auto parts = whole;
  parts.out = d.file("parts.safetensors");
  parts.stop_after_steps = 3;
  ASSERT_TRUE(train(whole, c));
  ASSERT_TRUE(train(parts, c));
  parts.resume = true;
  parts.stop_after_steps = 0;
  auto r = train(parts, c);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().steps, 8);
  const auto wa = weights(latest_model(whole.out)), wb = weights(latest_model(parts.out));
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa)
    EXPECT_TRUE(torch::equal(t, wb.at(name))) << name;
  // Dropout's masks differ by part: one part gives other weights.
  auto one = whole;
  one.out = d.file("one.safetensors");
  one.data_parallel = 1;
  ASSERT_TRUE(train(one, c));
  EXPECT_FALSE(torch::equal(wa.at("decoder.out.weight"),
                            weights(latest_model(one.out)).at("decoder.out.weight")));
}

TEST(Train, GroundingTeachesTheEncoderWhereTheWordsAreAndResumesExactly) {
  TempDir d;
  export_tiny_world(d.file("world"));
  const auto ds = data::load_world_folder(d.file("world"), "train").take();
  auto c = tiny_model();
  c.small_cnn.grid_h = c.small_cnn.grid_w = 8;
  c.small_cnn.depth = 2;
  auto o = tiny_options(d.file("world"), d.file("g.safetensors"));
  o.epochs = 8;
  o.lr = 3e-3;
  o.grounding = 5.0;
  // Interrupted after 9 steps and resumed: the probe and its optimiser state come back too.
  o.stop_after_steps = 9;
  ASSERT_TRUE(train(o, c));
  o.resume = true;
  o.stop_after_steps = 0;
  ASSERT_TRUE(train(o, c));
  auto whole = tiny_options(d.file("world"), d.file("whole.safetensors"));
  whole.epochs = 8;
  whole.lr = 3e-3;
  whole.grounding = 5.0;
  ASSERT_TRUE(train(whole, c));
  const auto wa = weights(latest_model(o.out)), wb = weights(latest_model(whole.out));
  for (const auto& [name, t] : wa)
    EXPECT_TRUE(torch::equal(t, wb.at(name))) << name;

  // The probe's softmax over cells, per boxed caption word, against the share of the box.
  auto model = fusion::CaptionModel::load(latest_model(o.out)).take();
  torch::Tensor probe;
  torch::load(probe, o.out + ".ckpt/" + read_bytes(o.out + ".ckpt/LATEST") + "/grounding.pt");
  ASSERT_EQ(probe.sizes(), (std::vector<int64_t>{static_cast<int64_t>(model->vocabulary().size()),
                                                 8}));  // 4 << 1 channels
  torch::NoGradGuard no_grad;
  model->net().eval();
  double inside = 0, uniform = 0;
  int words = 0;
  for (const auto& img : ds.images) {
    const cv::Mat rgb = vision::load_image(img.path).take();
    const auto g = model->net().encode(vision::to_batch({rgb}, model->config().image));
    for (const auto& cap : img.captions) {
      const auto tokens = text::tokenize(cap.text);
      for (size_t w = 0; w < tokens.size(); ++w) {
        if (!cap.word_boxes[w])
          continue;
        auto p =
            torch::softmax(torch::mv(g.features[0], probe[model->vocabulary().id(tokens[w])]), 0)
                .contiguous();
        const cv::Mat map(8, 8, CV_32F, p.data_ptr<float>());
        inside += fusion::mass_inside(map, rgb.size(), model->config().image, {*cap.word_boxes[w]});
        uniform += fusion::mass_inside(cv::Mat(8, 8, CV_32F, cv::Scalar(1.0f)), rgb.size(),
                                       model->config().image, {*cap.word_boxes[w]});
        ++words;
      }
    }
  }
  ASSERT_GT(words, 20);
  RecordProperty("probe", std::to_string(inside / words));
  RecordProperty("uniform", std::to_string(uniform / words));
  EXPECT_GT(inside / words, 1.5 * uniform / words)  // 0.25 against 0.12 here
      << "probe " << inside / words << ", uniform " << uniform / words;
}

TEST(Train, ResumeRefusesWhatItCannotContinue) {
  TempDir d;
  export_tiny_world(d.file("world"));
  auto o = tiny_options(d.file("world"), d.file("m.safetensors"));
  o.resume = true;
  auto r = train(o, tiny_model());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--resume: no checkpoint in '" + d.file("m.safetensors") +
                                   ".ckpt' (is --out the same as before?)");
  o.resume = false;
  o.stop_after_steps = 2;
  ASSERT_TRUE(train(o, tiny_model()));
  o.resume = true;
  // Resuming with `changed` is refused, naming the recipe's key and both values.
  auto refused = [&](TrainOptions changed, const std::string& what) {
    const auto result = train(changed, tiny_model());
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message,
              "--resume: the run in '" + d.file("m.safetensors") + ".ckpt' was made with " + what +
                  "; resume with the recipe it started with (only output.* and backbone_weights "
                  "may change), or start a new run with another output.out");
  };
  auto changed = o;
  changed.epochs = 4;
  refused(changed, "optimisation.epochs = 3, not 4");
  // Every option that shapes the loss is compared, the weights of its terms included.
  changed = o;
  changed.doubly_stochastic = 0.5;
  refused(changed, "objectives.1.weight = 1.0, not 0.5");
  changed = o;
  changed.doubly_stochastic = 0;
  refused(changed, "objectives.1.name = \"doubly_stochastic\", not \"(none)\"");
  changed = o;
  changed.clip = 1.0;
  refused(changed, "optimisation.clip = 5.0, not 1.0");
  changed = o;
  changed.attention_supervision = 1.0;
  refused(changed, "objectives.2.name = \"(none)\", not \"attention_supervision\"");
  // What may change: where it writes, how often it checkpoints.
  o.checkpoint_every = 7;
  o.log = d.file("other.log.jsonl");
  EXPECT_TRUE(train(o, tiny_model()));
}

// A checkpoint written before recipes recorded the flags flat: the same flags resume it (one
// it lacks was made with its default), other flags are refused naming the flag, and a recipe
// cannot tell, so it is refused.
TEST(Train, ACheckpointFromBeforeRecipesResumesWithItsFlags) {
  TempDir d;
  export_tiny_world(d.file("world"));
  auto o = tiny_options(d.file("world"), d.file("m.safetensors"));
  o.stop_after_steps = 2;
  ASSERT_TRUE(train(o, tiny_model()));
  const std::string ckpt = d.file("m.safetensors.ckpt");
  const std::string state = ckpt + "/" + read_bytes(ckpt + "/LATEST") + "/state.json";
  auto st = nlohmann::json::parse(read_bytes(state));
  ASSERT_EQ(st["run"]["recipe_version"], 1);
  st["run"] = legacy_run(o);
  st["run"].erase("target_power");  // recorded by later versions only
  core::write_file_atomic(state, st.dump());
  o.resume = true;
  auto changed = o;
  changed.target_power = 2.0;
  auto r = train(changed, tiny_model());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--resume: the checkpoint in '" + ckpt +
                                   "' was made with target_power = 1.0, not 2.0; resume with the "
                                   "same options");
  RunOptions run;
  run.resume = true;
  r = train(recipe_from_options(o, tiny_model()), run);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--resume: the checkpoint in '" + ckpt +
                                   "' was written before recipes: resume it with the glimpse "
                                   "train flags it was started with");
  o.stop_after_steps = 1;
  ASSERT_TRUE(train(o, tiny_model()));
  // Its next checkpoint records the recipe.
  st = nlohmann::json::parse(read_bytes(ckpt + "/" + read_bytes(ckpt + "/LATEST") + "/state.json"));
  EXPECT_EQ(st["run"]["optimisation"]["epochs"], o.epochs);
}

TEST(Train, RefusesBadOptionsAndEmptyData) {
  TempDir d;
  export_tiny_world(d.file("world"));
  auto o = tiny_options(d.file("world"), d.file("m.safetensors"));
  o.captions = o.questions = false;
  auto r = train(o, tiny_model());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "train on captions, questions or both");
  o = tiny_options(d.file("nowhere"), d.file("m.safetensors"));
  r = train(o, tiny_model());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nowhere"), std::string::npos) << r.error().message;
}

TEST(Evaluate, CountsEveryImageAndQuestionOfTheSplit) {
  TempDir d;
  export_tiny_world(d.file("world"));
  auto ds = data::load_world_folder(d.file("world"), "dev").take();
  auto c = tiny_model();
  c.vocabulary = text::Vocabulary::build({{"a", "red", "circle"}}, 1).words();
  auto model = fusion::CaptionModel::create(c).take();
  EvalOptions eo;
  eo.batch_size = 3;
  auto r = evaluate(*model, ds, eo);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().images, 4);
  EXPECT_EQ(static_cast<size_t>(r.value().questions), ds.question_count());
  EXPECT_GE(r.value().bleu4(), 0.0);
  EXPECT_LT(r.value().bleu4(), 0.5);  // untrained
  eo.max_images = 2;
  EXPECT_EQ(evaluate(*model, ds, eo).take().images, 2);
}

// A model is scored on its own tasks: one trained only to answer captions nothing (no caption
// figure of 0 stands for "not asked"), one trained only to caption answers nothing; a split with
// nothing for the model's tasks is an error that says so.
TEST(Evaluate, ScoresOnlyTheModelsTasks) {
  TempDir d;
  export_tiny_world(d.file("world"));
  auto ds = data::load_world_folder(d.file("world"), "dev").take();
  auto c = tiny_model();
  c.vocabulary = text::Vocabulary::build({{"a", "red", "circle", "yes"}}, 1).words();
  c.tasks = {"vqa"};
  const auto answers = fusion::CaptionModel::create(c).take();
  const EvalReport a = evaluate(*answers, ds, EvalOptions{}).take();
  EXPECT_EQ(a.images, 4);
  EXPECT_EQ(a.captions, 0);
  EXPECT_EQ(static_cast<size_t>(a.questions), ds.question_count());
  EXPECT_EQ(a.bleu[0], 0.0);
  EXPECT_EQ(a.headline().rfind("VQA accuracy ", 0), 0u) << a.headline();
  EXPECT_EQ(a.headline().find("BLEU"), std::string::npos) << a.headline();
  c.tasks = {"caption"};
  const auto captions = fusion::CaptionModel::create(c).take();
  const EvalReport b = evaluate(*captions, ds, EvalOptions{}).take();
  EXPECT_EQ(b.captions, 4);
  EXPECT_EQ(b.questions, 0);
  EXPECT_EQ(b.headline().rfind("BLEU-4 ", 0), 0u) << b.headline();
  for (auto& image : ds.images)
    image.questions.clear();
  const auto r = evaluate(*answers, ds, EvalOptions{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "nothing to score: the model is trained for questions and the dataset's images have "
            "none; evaluate it on a split that has questions");
}

// Batches generated by several workers at once are scored in batch order: every figure is the
// one a single worker gives, including the pairing of each caption with its references.
TEST(Evaluate, WorkersGiveTheFiguresOfOneWorker) {
  TempDir d;
  export_tiny_world(d.file("world"));
  auto ds = data::load_world_folder(d.file("world"), "dev").take();
  auto c = tiny_model();
  c.vocabulary =
      text::Vocabulary::build(
          {{"a", "red", "blue", "green", "circle", "square", "left", "of", "yes", "no", "1", "2"}},
          1)
          .words();
  torch::manual_seed(3);
  auto model = fusion::CaptionModel::create(c).take();
  EvalOptions eo;
  eo.batch_size = 2;
  eo.attention = true;
  const EvalReport one = evaluate(*model, ds, eo).take();
  for (int workers : {2, 3}) {
    eo.workers = workers;
    const EvalReport many = evaluate(*model, ds, eo).take();
    EXPECT_EQ(many.images, one.images);
    EXPECT_EQ(many.questions, one.questions);
    EXPECT_EQ(many.caption_words, one.caption_words);
    EXPECT_EQ(many.answer_words, one.answer_words);
    EXPECT_NEAR(many.vqa_accuracy, one.vqa_accuracy, 1e-12) << workers;
    for (size_t b = 0; b < 4; ++b)
      EXPECT_NEAR(many.bleu[b], one.bleu[b], 1e-12) << workers;
    EXPECT_NEAR(many.cider_d, one.cider_d, 1e-9) << workers;
    EXPECT_NEAR(many.caption_attention, one.caption_attention, 1e-5) << workers;
    EXPECT_NEAR(many.answer_attention, one.answer_attention, 1e-5) << workers;
  }
  EXPECT_EQ(one.images, 4);
  EXPECT_GT(one.answer_words, 0);
}

}  // namespace
}  // namespace glimpse::train

namespace glimpse::train {
namespace {

data::CaptionEntry ref(const std::string& text, std::vector<std::optional<cv::Rect>> boxes) {
  return {text, std::move(boxes)};
}

TEST(Referent, ReadsTheObjectOffTheReferencesWithTheLeastContextThatIsUnique) {
  const cv::Rect red(0, 0, 10, 10), blue(20, 0, 10, 10), blue2(40, 0, 10, 10);
  const std::vector<data::CaptionEntry> refs = {
      ref("a red circle left of a blue square",
          {std::nullopt, red, red, std::nullopt, std::nullopt, std::nullopt, blue, blue}),
      ref("there is a blue star", {std::nullopt, std::nullopt, std::nullopt, blue2, blue2})};
  const std::vector<std::string> words = {"a", "red", "circle", "left", "of", "a", "blue", "star"};
  EXPECT_EQ(referent(words, 0, refs), std::nullopt);  // "a" never names an object
  EXPECT_EQ(referent(words, 1, refs), red);
  EXPECT_EQ(referent(words, 2, refs), red);
  EXPECT_EQ(referent(words, 3, refs), std::nullopt);
  EXPECT_EQ(referent(words, 6, refs), blue2);  // "blue" is both; "blue star" is one
  EXPECT_EQ(referent(words, 7, refs), blue2);  // "star": one object
  EXPECT_EQ(referent({"a", "blue", "cat"}, 1, refs), std::nullopt);      // both, in any context
  EXPECT_EQ(referent({"a", "green", "circle"}, 1, refs), std::nullopt);  // not in the scene
  // References without boxes give nothing.
  EXPECT_EQ(referent(words, 1, {data::CaptionEntry{"a red circle", {}}}), std::nullopt);
}

}  // namespace
}  // namespace glimpse::train

// glimpse train, eval, caption and ask, end to end on a tiny world and a tiny model.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>
#include <sstream>

#include "glimpse/vision/image_decode.h"
#include "test_util.h"

namespace {

using glimpse::testing::lines;
using glimpse::testing::read_bytes;
using glimpse::testing::run_glimpse;
using glimpse::testing::TempDir;
using glimpse::testing::test_data;
using glimpse::testing::write_bytes;
using nlohmann::json;

// One tiny world and one tiny model trained on it by glimpse train, shared by the tests here.
class CliModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    for (const auto& [split, count] : {std::pair{"train", "12"}, {"dev", "4"}}) {
      auto r = run_glimpse({"world", "--out", world(), "--count", count, "--split", split,
                            "--image-size", "48", "--seed", "3"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    train_ = new glimpse::testing::CommandResult(run_glimpse({"--threads", "1",
                                                              "train",     "--data",
                                                              world(),     "--out",
                                                              model(),     "--epochs",
                                                              "2",         "--batch-size",
                                                              "22",        "--image-size",
                                                              "48",        "--cnn-width",
                                                              "4",         "--cnn-depth",
                                                              "2",         "--grid",
                                                              "6",         "--embed",
                                                              "8",         "--hidden",
                                                              "16",        "--attention-dim",
                                                              "8",         "--eval-images",
                                                              "4"}));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete dir_;
  }
  static std::string world() { return dir_->file("world"); }
  static std::string model() { return dir_->file("m.safetensors"); }
  static std::string image(int i) { return world() + "/images/dev_" + std::to_string(i) + ".png"; }
  static TempDir* dir_;
  static glimpse::testing::CommandResult* train_;
};
TempDir* CliModel::dir_ = nullptr;
glimpse::testing::CommandResult* CliModel::train_ = nullptr;

TEST_F(CliModel, TrainPrintsProgressEvaluatesEachEpochAndWritesTheModelAndLog) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  const auto out = lines(train_->out);
  int epochs = 0;
  for (const auto& l : out)
    epochs += l.rfind("epoch ", 0) == 0 && l.find(" dev: VQA accuracy ") != std::string::npos;
  EXPECT_EQ(epochs, 2) << train_->out;
  EXPECT_EQ(out.back().rfind("trained 12 steps in ", 0), 0u) << out.back();
  EXPECT_TRUE(std::filesystem::exists(model()));
  // The log: one line a step, one an epoch, each valid JSON.
  int steps = 0, evals = 0;
  for (const auto& l : lines(read_bytes(model() + ".log.jsonl"))) {
    const json j = json::parse(l);
    steps += j.contains("loss");
    evals += j.contains("dev_bleu4");
  }
  EXPECT_EQ(steps, 12);
  EXPECT_EQ(evals, 2);
}

TEST_F(CliModel, CaptionPrintsOneLineAndWritesTheOverlaySheetAndOneImageAWord) {
  auto r =
      run_glimpse({"caption", "--model", model(), image(0), "--json", "--overlay",
                   dir_->file("sheet.png"), "--overlay-dir", dir_->file("words"), "--tile", "64"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  const auto words = j[0]["words"].size();
  ASSERT_GE(words, 1u);
  EXPECT_EQ(j[0]["image"], image(0));
  auto sheet = glimpse::vision::load_image(dir_->file("sheet.png"));
  ASSERT_TRUE(sheet) << sheet.error().message;
  const int tiles = static_cast<int>(words) + 1, cols = std::min(5, tiles),
            rows = (tiles + cols - 1) / cols;
  EXPECT_EQ(sheet.value().cols, cols * (64 + 4) + 4);
  EXPECT_EQ(sheet.value().rows, rows * (64 + 18 + 4) + 4);  // tile + label strip + gap
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_->file("words"))) {
    ++files;
    auto w = glimpse::vision::load_image(e.path().string());
    ASSERT_TRUE(w);
    EXPECT_EQ(w.value().cols, 48);
  }
  EXPECT_EQ(files, words);

  r = run_glimpse({"caption", "--model", model(), image(0), image(1)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].rfind(image(1) + ": ", 0), 0u) << out[1];
}

TEST_F(CliModel, AskAnswersEachQuestionOnItsOwnLine) {
  auto r = run_glimpse({"ask", "--model", model(), image(0), "what colour is the circle?",
                        "how many shapes are there?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].rfind("what colour is the circle? ", 0), 0u) << out[0];
  EXPECT_EQ(out[1].rfind("how many shapes are there? ", 0), 0u) << out[1];
  r = run_glimpse({"ask", "--model", model(), image(0), "is there a zebra?", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)[0]["unknown_words"], json::array({"zebra"}));
}

TEST_F(CliModel, EvalPrintsEveryMetricWithAttentionCorrectness) {
  auto r = run_glimpse({"eval", "--model", model(), "--data", world(), "--split", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want : {"VQA accuracy", "BLEU-1..4", "ROUGE-L", "CIDEr-D", "caption word",
                           "answer words (uniform attention: "})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in\n" << r.out;
  r = run_glimpse({"eval", "--model", model(), "--data", world(), "--split", "dev", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["images"], 4);
  EXPECT_EQ(j["bleu"].size(), 4u);
  const double uniform = j["attention_correctness"]["answer_uniform"];
  EXPECT_GT(uniform, 0.0);
  EXPECT_LT(uniform, 0.5);
}

// Each bad input: exit 1, one line on stderr that starts "glimpse: " and contains `says`.
void expect_one_line_error(const std::vector<std::string>& args, const std::string& says) {
  auto r = run_glimpse(args);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, 1) << says;
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("glimpse: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(says), std::string::npos) << "want '" << says << "' in " << r.err;
}

// --predictions: a line for every dev question in the dataset's order, each the answer `ask`
// gives to that question about that image.
TEST_F(CliModel, EvalWritesEachQuestionsAnswerOnItsLine) {
  TempDir d;
  auto r = run_glimpse({"eval", "--model", model(), "--data", world(), "--split", "dev",
                        "--no-attention", "--predictions", d.file("answers.txt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json questions = json::parse(read_bytes(world() + "/questions_dev.json"))["questions"];
  const auto answers = lines(read_bytes(d.file("answers.txt")));
  ASSERT_EQ(answers.size(), questions.size());
  for (size_t k : {size_t{0}, questions.size() - 1}) {
    const std::string q = questions[k]["question"];
    const int img = questions[k]["image_id"];
    r = run_glimpse({"ask", "--model", model(), image(img), q});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(lines(r.out)[0], answers[k]) << q;  // one question: its answer alone
  }
  expect_one_line_error({"eval", "--model", model(), "--data", world(), "--split", "dev",
                         "--predictions", d.file("no/such/folder/answers.txt")},
                        "--predictions: ");
}

TEST_F(CliModel, CaptionAndAskRefuseBrokenAndHostileFilesWithOneLine) {
  TempDir d;
  write_bytes(d.file("empty.png"), "");
  write_bytes(d.file("text.jpg"), "not an image\n");
  const std::string png = read_bytes(test_data("images/rgb.png"));
  write_bytes(d.file("truncated.png"), png.substr(0, png.size() / 2));
  std::string huge = png;
  huge[16] = huge[17] = '\x7f';
  write_bytes(d.file("huge.png"), huge);
  std::filesystem::create_directory(d.file("folder.png"));
  for (const char* f :
       {"empty.png", "text.jpg", "truncated.png", "huge.png", "folder.png", "missing.png"}) {
    expect_one_line_error({"caption", "--model", model(), d.file(f)}, "'" + d.file(f) + "'");
    expect_one_line_error({"ask", "--model", model(), d.file(f), "what shape is it?"},
                          "'" + d.file(f) + "'");
  }
  // Mutated images: never a crash, only our own one-line errors.
  std::mt19937 rng(7);
  std::vector<std::string> args = {"caption", "--model", model(), "--beam", "1"};
  const std::string good = read_bytes(image(0));
  for (int k = 0; k < 40; ++k) {
    std::string m = good;
    for (int f = 0; f < 1 + static_cast<int>(rng() % 6); ++f)
      m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
    if (k % 3 == 0)
      m.resize(rng() % m.size());
    args.push_back(d.file("m" + std::to_string(k) + ".png"));
    write_bytes(args.back(), m);
  }
  auto r = run_glimpse(args);
  EXPECT_EQ(r.signal, 0);
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1);
  for (const auto& l : lines(r.err))
    EXPECT_EQ(l.rfind("glimpse: '" + d.path(), 0), 0u) << l;
}

TEST_F(CliModel, BadModelsQuestionsAndOptionsAreOneLineErrors) {
  TempDir d;
  write_bytes(d.file("junk.safetensors"), "this is not a model");
  expect_one_line_error({"caption", "--model", d.file("junk.safetensors"), image(0)},
                        d.file("junk.safetensors"));
  expect_one_line_error({"caption", "--model", "no-such-model", image(0)},
                        "no model named 'no-such-model'");
  expect_one_line_error({"ask", "--model", model(), image(0), "  ?! "}, "question 1 has no words");
  expect_one_line_error({"eval", "--model", model(), "--data", d.file("nowhere")},
                        d.file("nowhere"));
  expect_one_line_error({"eval", "--model", model()}, "give one dataset");
  auto r = run_glimpse({"caption", "--model", model(), image(0), "--colormap", "rainbow"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("rainbow"), std::string::npos) << r.err;
  r = run_glimpse({"caption", "--model", model(), image(0), "--beam", "0"});
  EXPECT_NE(r.exit_code, 0);
  expect_one_line_error({"ask", "--model", model(), image(0)},
                        "glimpse: ask needs a question after the image: glimpse ask " + image(0) +
                            " \"what colour is the circle?\"");
  expect_one_line_error({"ask", "--model", model(), image(0), "what is \xff\xfe?", "--json"},
                        "question 1 is not valid UTF-8 text ('what is \xEF\xBF\xBD\xEF\xBF\xBD?')");
  expect_one_line_error({"caption", "--model", model(), image(0), "--overlay", d.file("o.gif")},
                        "--overlay: cannot write '" + d.file("o.gif") +
                            "': name it .png, .jpg, .jpeg, .bmp, .tif, .tiff or .webp");
  // A write that fails names the file asked for, not the temporary file beside it.
  r = run_glimpse(
      {"caption", "--model", model(), image(0), "--overlay", d.file("missing/sheet.png")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "glimpse: cannot write '" + d.file("missing/sheet.png") +
                       "': No such file or directory\n");
}

TEST_F(CliModel, JsonCarriesTheApisAttentionLayoutAndPlainAskNotesUnknownWords) {
  auto r = run_glimpse({"caption", "--model", model(), image(0), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json c = json::parse(r.out)[0];
  const auto& a = c["attention"];
  const int cells = a["grid_h"].get<int>() * a["grid_w"].get<int>();
  EXPECT_EQ(a["grid_h"], 6);
  ASSERT_EQ(a["maps"].size(), c["words"].size());  // [word][layer][head][cell]
  ASSERT_EQ(a["maps"][0].size(), a["layers"].get<size_t>());
  ASSERT_EQ(a["maps"][0][0].size(), a["heads"].get<size_t>());
  ASSERT_EQ(a["maps"][0][0][0].size(), static_cast<size_t>(cells));
  double sum = 0;
  for (const auto& v : a["maps"][0][0][0])
    sum += v.get<double>();
  EXPECT_NEAR(sum, 1.0, 2e-3);  // values rounded to 4 decimals

  r = run_glimpse({"ask", "--model", model(), image(0), "is there a zebra?", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json q = json::parse(r.out)[0];
  EXPECT_EQ(q["attention"]["maps"].size(), q["words"].size());
  EXPECT_EQ(q["question"], "is there a zebra?");

  r = run_glimpse({"ask", "--model", model(), image(0), "is there a zebra?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines(r.out).size(), 1u);
  EXPECT_EQ(r.err, "glimpse: note: the model does not know 'zebra': its answer cannot use it\n");
}

TEST_F(CliModel, CaptionReadsStandardInputAndWritesTheOverlayFormatItsNameSays) {
  auto file = run_glimpse({"caption", "--model", model(), image(0)});
  ASSERT_EQ(file.exit_code, 0) << file.err;
  auto piped = glimpse::testing::run_command(
      "/bin/sh", {"-c", glimpse::testing::shell_quote(glimpse::testing::kGlimpseBinary) +
                            " caption --model " + glimpse::testing::shell_quote(model()) + " - < " +
                            glimpse::testing::shell_quote(image(0))});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, file.out);
  auto empty = glimpse::testing::run_command(
      "/bin/sh",
      {"-c", glimpse::testing::shell_quote(glimpse::testing::kGlimpseBinary) + " caption --model " +
                 glimpse::testing::shell_quote(model()) + " - < /dev/null"});
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_EQ(empty.err.rfind("glimpse: standard input: ", 0), 0u) << empty.err;

  TempDir d;
  auto r = run_glimpse({"caption", "--model", model(), image(0), "--overlay", d.file("o.jpg")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string jpeg = read_bytes(d.file("o.jpg"));
  ASSERT_GE(jpeg.size(), 3u);
  EXPECT_EQ(jpeg.substr(0, 3), "\xFF\xD8\xFF");  // a JPEG, as its name says
  r = run_glimpse(
      {"caption", "--model", model(), image(0), image(1), "--overlay", d.file("many.webp")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_bytes(d.file("many-2.webp")).substr(8, 4), "WEBP");
}

TEST_F(CliModel, TrainRefusesABadDatasetFolderAndResumeWithoutCheckpoint) {
  TempDir d;
  expect_one_line_error({"train", "--data", d.path(), "--out", d.file("m.safetensors")},
                        "has no captions_train.json");
  expect_one_line_error({"train", "--data", world(), "--out", d.file("m.safetensors"), "--resume"},
                        "--resume: no checkpoint");
  expect_one_line_error(
      {"train", "--data", world(), "--out", d.file("m.safetensors"), "--attention", "bogus"},
      "bogus");
  auto r = run_glimpse(
      {"train", "--data", world(), "--out", d.file("m.safetensors"), "--data-parallel", "99"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--data-parallel: Value 99 not in range 0 to 64"), std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(d.file("m.safetensors.ckpt")));
  expect_one_line_error({"eval", "--model", model(), "--flickr8k", d.path(), "--split", "dev"},
                        "cannot open '" + d.file("dev_images.txt") + "'");
}

TEST_F(CliModel, CompareTrainsEachVariantAndPrintsOneTableRowEach) {
  TempDir d;
  auto r = run_glimpse({"--threads",
                        "1",
                        "compare",
                        "--data",
                        world(),
                        "--split",
                        "dev",
                        "--variants",
                        "additive,dot",
                        "--fusions",
                        "none,film:1:1:1:2:1:2:1:16:1",
                        "--epochs",
                        "1",
                        "--batch-size",
                        "22",
                        "--image-size",
                        "48",
                        "--grid",
                        "4",
                        "--cnn-width",
                        "4",
                        "--cnn-depth",
                        "2",
                        "--embed",
                        "8",
                        "--attention-dim",
                        "8",
                        "--out-dir",
                        d.file("cmp"),
                        "--table",
                        d.file("table.md")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = lines(r.out);
  ASSERT_EQ(rows.size(), 6u) << r.out;
  EXPECT_EQ(rows[0].rfind(
                "| variant | fusion | VQA accuracy | BLEU-4 | CIDEr-D | attention correctness", 0),
            0u);
  EXPECT_EQ(rows[2].rfind("| additive | none | ", 0), 0u) << rows[2];
  EXPECT_EQ(rows[3].rfind("| dot | none | ", 0), 0u) << rows[3];
  EXPECT_EQ(rows[4].rfind("| additive | film:1:1:1:2:1:2:1:16:1 | ", 0), 0u) << rows[4];
  EXPECT_EQ(rows[5].rfind("| dot | film:1:1:1:2:1:2:1:16:1 | ", 0), 0u) << rows[5];
  for (int i : {2, 3, 4, 5}) {
    // variant, fusion, VQA, BLEU-4, CIDEr-D, two correctness (uniform), ms per step, steps
    std::vector<std::string> cells;
    std::stringstream in(rows[i]);
    for (std::string c; std::getline(in, c, '|');)
      cells.push_back(c);
    ASSERT_EQ(cells.size(), 10u) << rows[i];
    EXPECT_NE(cells[3].find('%'), std::string::npos);
    EXPECT_GT(std::stod(cells[8]), 0.0) << "ms per step";
    EXPECT_GE(std::stoi(cells[9]), 3) << "12 train images of 5 captions and some questions";
  }
  EXPECT_TRUE(std::filesystem::exists(d.file("cmp/additive-film_1_1_1_2_1_2_1_16_1.safetensors")));
  EXPECT_EQ(read_bytes(d.file("table.md")), r.out);
  EXPECT_TRUE(std::filesystem::exists(d.file("cmp/additive.safetensors")));

  expect_one_line_error({"compare", "--data", world(), "--variants", "additive,warp"}, "warp");
  expect_one_line_error({"compare", "--data", world(), "--fusions", "none,film:9"},
                        "--fusions: 'film:9' is not a fusion (none, film, film:BLOCKS with 1..8 "
                        "blocks, or film:BLOCKS:KERNEL with kernel 1 or 3, "
                        "film:BLOCKS:KERNEL:RELATIONS with 0..4 relational blocks, "
                        "film:BLOCKS:KERNEL:RELATIONS:COUNT_MAPS with 0, 1, 2, 4, 8 or 16 density "
                        "maps, :PLURALS 0 or 1, :GLIMPSES 0..8 of a locate read-out, "
                        ":MODE 0, 1 (per glimpse), 2 (words) or 3 (words in order), :COMPARE 0, "
                        "16, 32, 64, 128 or 256 hidden units and :CONTENTS 0 or 1)");
  expect_one_line_error({"compare", "--data", world(), "--fusions", "film:1:1:0:0:0:0:3"},
                        "--fusions: 'film:1:1:0:0:0:0:3': fusion.locate_per_glimpse, "
                        "locate_words, locate_compare, locate_contents and locate_word_order "
                        "shape the locate read-out's glimpses: set fusion.locate_glimpses (1..8) "
                        "too");
  expect_one_line_error({"compare", "--data", world(), "--fusions", "film:1:1:0:0:0:2:0:48"},
                        "--fusions: 'film:1:1:0:0:0:2:0:48' is not a fusion");
  expect_one_line_error({"compare", "--data", world(), "--fusions", "film:1:1:0:0:0:2:0:32:2"},
                        "--fusions: 'film:1:1:0:0:0:2:0:32:2' is not a fusion");
  expect_one_line_error({"compare", "--data", world(), "--fusions", "film:1:1:0:0:0:2:0:32:1:0"},
                        "--fusions: 'film:1:1:0:0:0:2:0:32:1:0' is not a fusion");
  expect_one_line_error({"compare", "--data", world(), "--fusions", "mac"},
                        "unknown fusion 'mac' (none or film)");
  expect_one_line_error({"compare", "--data", d.path(), "--variants", "dot"},
                        "has no captions_test.json");
  // dot needs the decoder's hidden size to equal the encoder's channels: refused before training
  expect_one_line_error({"compare", "--data", world(), "--split", "dev", "--variants",
                         "additive,dot", "--hidden", "16", "--out-dir", d.file("cmp2")},
                        "dot: attention 'dot': needs query dim == key dim");
  EXPECT_FALSE(std::filesystem::exists(d.file("cmp2/additive.safetensors")));
}

}  // namespace

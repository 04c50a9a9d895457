// glimpse world exports data that the general COCO and VQA readers take back.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

#include "test_util.h"

namespace {

using glimpse::testing::lines;
using glimpse::testing::read_bytes;
using glimpse::testing::run_glimpse;
using glimpse::testing::TempDir;
using glimpse::testing::write_bytes;
using nlohmann::json;

TEST(CliWorld, ExportsImagesCocoAndVqaFilesThatScoreBack) {
  TempDir d;
  auto r =
      run_glimpse({"world", "--out", d.path(), "--count", "12", "--seed", "5", "--split", "dev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "wrote 12 images, 60 captions, 72 questions (dev split) to " + d.path() + "\n");
  for (int i = 0; i < 12; ++i)
    EXPECT_TRUE(std::filesystem::exists(d.file("images/dev_" + std::to_string(i) + ".png")));

  const json caps = json::parse(read_bytes(d.file("captions_dev.json")));
  ASSERT_EQ(caps["images"].size(), 12u);
  const json& first = caps["annotations"][0];
  ASSERT_TRUE(first.contains("word_boxes"));
  const std::string caption = first["caption"];
  EXPECT_EQ(first["word_boxes"].size(),
            static_cast<size_t>(std::count(caption.begin(), caption.end(), ' ') + 1));

  // Perfect answers through the VQA evaluation: 100%.
  const json ann = json::parse(read_bytes(d.file("annotations_dev.json")));
  json results = json::array();
  for (const auto& a : ann["annotations"])
    results.push_back({{"question_id", a["question_id"]}, {"answer", a["multiple_choice_answer"]}});
  write_bytes(d.file("r.json"), results.dump());
  r = run_glimpse({"score", "--vqa", "--results", d.file("r.json"), "--questions",
                   d.file("questions_dev.json"), "--annotations", d.file("annotations_dev.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("questions: 72\noverall accuracy: 100.00\n"), std::string::npos) << r.out;

  // The same seed exports the same bytes.
  TempDir d2;
  ASSERT_EQ(
      run_glimpse({"world", "--out", d2.path(), "--count", "12", "--seed", "5", "--split", "dev"})
          .exit_code,
      0);
  EXPECT_EQ(read_bytes(d.file("images/dev_7.png")), read_bytes(d2.file("images/dev_7.png")));
  EXPECT_EQ(read_bytes(d.file("questions_dev.json")), read_bytes(d2.file("questions_dev.json")));

  // More questions per scene: the same scenes, the same first six questions, then more.
  TempDir d3;
  r = run_glimpse({"world", "--out", d3.path(), "--count", "12", "--seed", "5", "--split", "dev",
                   "--questions", "12"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_bytes(d.file("images/dev_7.png")), read_bytes(d3.file("images/dev_7.png")));
  const json few = json::parse(read_bytes(d.file("questions_dev.json")))["questions"];
  const json many = json::parse(read_bytes(d3.file("questions_dev.json")))["questions"];
  EXPECT_GT(many.size(), 120u);
  EXPECT_LE(many.size(), 144u);
  std::vector<std::string> first_six, of_many;
  for (const auto& q : few)
    if (q["image_id"] == 3)
      first_six.push_back(q["question"]);
  for (const auto& q : many)
    if (q["image_id"] == 3 && of_many.size() < first_six.size())
      of_many.push_back(q["question"]);
  EXPECT_EQ(first_six.size(), 6u);
  EXPECT_EQ(of_many, first_six);
}

TEST(CliWorld, BalancedExportsAskRelationsMoreOften) {
  TempDir plain, balanced;
  const std::vector<std::string> args = {"world", "--count",     "60", "--seed",
                                         "5",     "--questions", "12"};
  auto with = [&](const std::string& out, bool balance) {
    auto a = args;
    a.insert(a.end(), {"--out", out});
    if (balance)
      a.push_back("--balanced");
    return run_glimpse(a);
  };
  auto r = with(plain.path(), false);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = with(balanced.path(), true);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto relations = [](const TempDir& d) {
    int n = 0;
    const json ann = json::parse(read_bytes(d.file("annotations_train.json")));
    for (const auto& a : ann["annotations"])
      n += a["question_type"] == "relation";
    return n;
  };
  EXPECT_GT(relations(balanced), relations(plain) + 10)
      << relations(balanced) << " against " << relations(plain);
  EXPECT_EQ(read_bytes(plain.file("captions_train.json")),
            read_bytes(balanced.file("captions_train.json")));
}

TEST(CliWorld, BadArgumentsAreOneLineErrors) {
  TempDir d;
  auto r = run_glimpse({"world", "--out", d.path(), "--split", "holdout"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "glimpse: unknown split 'holdout'; valid: train, dev, test\n");
  write_bytes(d.file("file"), "x");
  r = run_glimpse({"world", "--out", d.file("file") + "/sub", "--count", "1"});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("cannot create"), std::string::npos) << r.err;
  r = run_glimpse({"world", "--out", d.path(), "--count", "0"});
  EXPECT_NE(r.exit_code, 0);
}

TEST(CliWorld, FamilyWeightsAskWhatTheySayOrSayWhatIsWrong) {
  TempDir d;
  auto r = run_glimpse({"world", "--out", d.path(), "--count", "40", "--questions", "12",
                        "--balanced", "--family-weights", "colour=0,relation=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int> families;
  const json ann = json::parse(read_bytes(d.file("annotations_train.json")));
  for (const auto& a : ann["annotations"])
    ++families[a["question_type"].get<std::string>()];
  EXPECT_EQ(families.count("colour"), 0u);
  EXPECT_GT(families["relation"], families["shape"]);

  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--family-weights", "relation=3"},
       "glimpse: --family-weights shares out the turns of --balanced: add --balanced, or drop "
       "--family-weights\n"},
      {{"--balanced", "--family-weights", "relations=3"},
       "glimpse: --family-weights 'relations=3': unknown question family 'relations'; valid: "
       "colour, shape, size, count, exist, relation, what-left\n"},
      {{"--balanced", "--family-weights", "relation"},
       "glimpse: --family-weights 'relation': write FAMILY=W, e.g. relation=3\n"},
      {{"--balanced", "--family-weights", "relation=2.5"},
       "glimpse: --family-weights 'relation=2.5': the weight must be a whole number from 0 to "
       "10\n"},
      {{"--balanced", "--family-weights", "count=11"},
       "glimpse: --family-weights 'count=11': the weight must be a whole number from 0 to 10\n"},
      {{"--balanced", "--family-weights",
        "colour=0,shape=0,size=0,count=0,exist=0,relation=0,what-left=0"},
       "glimpse: every question family has weight 0: give one a weight, or ask 0 questions\n"},
  };
  for (const auto& [extra, message] : cases) {
    std::vector<std::string> args = {"world", "--out", d.file("bad"), "--count", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    r = run_glimpse(args);
    EXPECT_EQ(r.exit_code, 1) << extra.back();
    EXPECT_EQ(r.err, message);
  }
}

}  // namespace

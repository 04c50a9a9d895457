#include "glimpse/text/wups.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_paths.h"

namespace glimpse::text {
namespace {

const WordNetNouns& wordnet() {
  // take() throws, saying what is missing
  static const WordNetNouns w = WordNetNouns::load(WordNetNouns::kDefaultDir).take();
  return w;
}

TEST(WordNet, MorphyFindsTheLemmaAsNltkDoes) {
  EXPECT_EQ(wordnet().morphy("beds"), std::vector<std::string>{"bed"});
  EXPECT_EQ(wordnet().morphy("boxes"), std::vector<std::string>{"box"});
  EXPECT_EQ(wordnet().morphy("women"), std::vector<std::string>{"woman"});  // noun.exc
  // "glasses" is itself a lemma and also "glass" through the rules: both, in that order
  EXPECT_EQ(wordnet().morphy("glasses"), (std::vector<std::string>{"glasses", "glass"}));
  EXPECT_TRUE(wordnet().morphy("zzzqx").empty());
  EXPECT_TRUE(wordnet().synsets("dvd_player").empty());
}

TEST(WordNet, SynsetsNamesAndDepthsMatchNltk) {
  const auto dog = wordnet().synsets("Dog");  // lower-cased first
  ASSERT_EQ(dog.size(), 7u);
  EXPECT_EQ(wordnet().name(dog[0]), "dog.n.01");
  EXPECT_EQ(wordnet().name(dog[1]), "frump.n.01");
  EXPECT_EQ(wordnet().min_depth(dog[0]), 8);
  EXPECT_EQ(wordnet().max_depth(dog[0]), 13);
  const auto cat = wordnet().synsets("cat");
  EXPECT_EQ(wordnet().name(cat[0]), "cat.n.01");
  EXPECT_NEAR(wordnet().wup_similarity(dog[0], cat[0]), 0.8571428571428571, 1e-12);
  // NLTK's quirk (nltk/nltk#1030, still so in 3.8): the lowest common hypernym of dog.n.01 with
  // itself is deeper by minimum depth than dog.n.01 (8, short through domestic_animal.n.01), so
  // dog is not its own subsumer and scores 26/28; orange.n.01 is among its lowest common
  // hypernyms and scores 1.
  EXPECT_NEAR(wordnet().wup_similarity(dog[0], dog[0]), 0.9285714285714286, 1e-12);
  const auto orange = wordnet().synsets("orange");
  EXPECT_EQ(wordnet().wup_similarity(orange[0], orange[0]), 1.0);
  EXPECT_EQ(wordnet().name(wordnet().synsets("2")[0]), "two.n.01");
}

TEST(Wups, ItemsAreCommaSeparatedAndStripped) {
  EXPECT_EQ(answer_items("chair, table"), (std::vector<std::string>{"chair", "table"}));
  EXPECT_EQ(answer_items(" wine_bottle "), std::vector<std::string>{"wine_bottle"});
  EXPECT_TRUE(answer_items("").empty());
  EXPECT_EQ(daquar_accuracy("", ""), 1.0);
  EXPECT_EQ(daquar_accuracy("chair", ""), 0.0);
}

// Every row of the shared reference table (NLTK 3.8 on WordNet 3.0 through calculate_wups.py):
// synonyms, numerals, plurals, repeated items, multi-item sets, words WordNet lacks.
TEST(Wups, MatchesTheReferenceTableOnEveryRow) {
  const auto path = std::string(glimpse::testing::kSharedDir) + "/data/daquar/wups_reference.tsv";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::string line;
  std::getline(in, line);
  ASSERT_EQ(line, "truth\tprediction\taccuracy\twups_0.0\twups_0.9");
  int rows = 0;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string truth, prediction, accuracy, w0, w9;
    std::getline(s, truth, '\t');
    std::getline(s, prediction, '\t');
    s >> accuracy >> w0 >> w9;
    SCOPED_TRACE(truth + " | " + prediction);
    EXPECT_NEAR(daquar_accuracy(truth, prediction), std::stod(accuracy), 1e-9);
    EXPECT_NEAR(wups(wordnet(), truth, prediction, 0.0), std::stod(w0), 1e-9);
    EXPECT_NEAR(wups(wordnet(), truth, prediction, 0.9), std::stod(w9), 1e-9);
    ++rows;
  }
  EXPECT_EQ(rows, 220);
}

TEST(Wups, TheQuirksOfTheReferenceHold) {
  EXPECT_EQ(wups(wordnet(), "2", "two", 0.9), 1.0);        // one synset
  EXPECT_EQ(daquar_accuracy("2", "two"), 0.0);             // not the same item
  EXPECT_EQ(wups(wordnet(), "bed", "beds", 0.9), 1.0);     // morphy
  EXPECT_EQ(daquar_accuracy("book, book", "book"), 1.0);   // sets, not bags
  EXPECT_EQ(wups(wordnet(), "zzzqx", "zzzqx", 0.9), 1.0);  // equal before WordNet is asked
  EXPECT_NEAR(wups(wordnet(), "chair", "table", 0.9), 0.08421052631578947, 1e-12);  // × 0.1
}

TEST(Wups, TheReportAveragesOverAllAndOverSingleWordTruths) {
  const auto r =
      daquar_report(wordnet(), {"chair", "chair, table", "sofa"}, {"chair", "chair", "couch"});
  EXPECT_EQ(r.all.questions, 3);
  EXPECT_NEAR(r.all.accuracy, 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.all.wups_09, (1 + 0.08421052631578947 + 1) / 3, 1e-12);
  EXPECT_NEAR(r.all.wups_00, (1 + 0.8421052631578947 + 1) / 3, 1e-12);
  EXPECT_EQ(r.single_word.questions, 2);
  EXPECT_NEAR(r.single_word.accuracy, 0.5, 1e-12);
  EXPECT_NEAR(r.single_word.wups_09, 1.0, 1e-12);
  EXPECT_THROW(daquar_report(wordnet(), {"a"}, {}), std::invalid_argument);
}

TEST(WordNet, AMissingOrBrokenDatabaseSaysWhichFileAndWhatToDo) {
  const auto dir = std::filesystem::temp_directory_path() / "glimpse_wordnet_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto r = WordNetNouns::load(dir.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cannot read " + (dir / "index.noun").string() +
                                   ": WUPS and glimpse questions read WordNet 3.0 there (apt-get "
                                   "install wordnet-base)");
  std::ofstream(dir / "index.noun") << "  licence line\nbed n 2\n";
  r = WordNetNouns::load(dir.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            (dir / "index.noun").string() +
                ":2: not an index line (lemma n synset_cnt p_cnt ...) (is it WordNet 3.0's file? "
                "reinstall wordnet-base)");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace glimpse::text

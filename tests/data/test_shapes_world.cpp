#include "glimpse/data/shapes_world.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "glimpse/core/error.h"

namespace glimpse::data {
namespace {

const std::vector<Scene>& scenes() {  // 300 training scenes, made once
  static const std::vector<Scene> k = [] {
    ShapesWorld w;
    std::vector<Scene> v;
    for (uint64_t i = 0; i < 300; ++i)
      v.push_back(w.scene(i));
    return v;
  }();
  return k;
}

std::string attr_of(const Object& o, const std::string& word) {
  for (size_t i = 0; i < colour_names().size(); ++i)
    if (word == colour_names()[i])
      return static_cast<size_t>(o.colour) == i ? "ok" : "wrong colour";
  for (size_t i = 0; i < shape_names().size(); ++i)
    if (word == shape_names()[i])
      return static_cast<size_t>(o.shape) == i ? "ok" : "wrong shape";
  for (size_t i = 0; i < size_names().size(); ++i)
    if (word == size_names()[i])
      return static_cast<size_t>(o.size) == i ? "ok" : "wrong size";
  return "not an attribute";
}

const Object* object_at(const Scene& s, const cv::Rect& box) {
  for (const auto& o : s.objects)
    if (o.box == box)
      return &o;
  return nullptr;
}

TEST(ShapesWorld, IsDeterministicFromSeedSplitAndIndex) {
  ShapesWorld a, b;
  const Scene x = a.scene(17), y = b.scene(17);
  EXPECT_EQ(cv::norm(x.image, y.image, cv::NORM_INF), 0.0);
  ASSERT_EQ(x.captions.size(), y.captions.size());
  for (size_t i = 0; i < x.captions.size(); ++i)
    EXPECT_EQ(x.captions[i].text, y.captions[i].text);
  ASSERT_EQ(x.questions.size(), y.questions.size());
  for (size_t i = 0; i < x.questions.size(); ++i)
    EXPECT_EQ(x.questions[i].question, y.questions[i].question);
  EXPECT_GT(cv::norm(x.image, a.scene(18).image, cv::NORM_L1), 0.0);
  EXPECT_GT(cv::norm(x.image, a.scene(17, Split::kDev).image, cv::NORM_L1), 0.0);
  WorldOptions other;
  other.seed = 2;
  EXPECT_GT(cv::norm(x.image, ShapesWorld(other).scene(17).image, cv::NORM_L1), 0.0);
}

TEST(ShapesWorld, ScenesHoldOneToFiveSeparateObjectsDrawnInTheirColours) {
  std::map<int, int> counts;
  std::set<int> shapes, colours, sizes, backgrounds;
  for (const auto& s : scenes()) {
    ASSERT_EQ(s.image.type(), CV_8UC3);
    ASSERT_EQ(s.image.rows, 128);
    ASSERT_GE(s.objects.size(), 1u);
    ASSERT_LE(s.objects.size(), 5u);
    ++counts[static_cast<int>(s.objects.size())];
    backgrounds.insert(static_cast<int>(s.background));
    for (size_t i = 0; i < s.objects.size(); ++i) {
      const auto& o = s.objects[i];
      shapes.insert(static_cast<int>(o.shape));
      colours.insert(static_cast<int>(o.colour));
      sizes.insert(static_cast<int>(o.size));
      ASSERT_TRUE((o.box & cv::Rect(0, 0, 128, 128)) == o.box) << "box inside the image";
      for (size_t j = i + 1; j < s.objects.size(); ++j)
        ASSERT_EQ((o.box & s.objects[j].box).area(), 0) << "overlap";
      // the centre pixel has the object's colour (the fills are exact away from the edges)
      const auto px = s.image.at<cv::Vec3b>(cvRound(o.centre().y), cvRound(o.centre().x));
      static const cv::Vec3b k[] = {{220, 40, 40},  {40, 170, 60},  {40, 80, 220},
                                    {235, 205, 30}, {140, 60, 180}, {245, 135, 25}};
      ASSERT_EQ(px, k[static_cast<int>(o.colour)]) << "scene " << s.index << " object " << i;
    }
  }
  for (int n = 1; n <= 5; ++n)
    EXPECT_GT(counts[n], 20) << n << " objects";
  EXPECT_EQ(shapes.size(), 6u);
  EXPECT_EQ(colours.size(), 6u);
  EXPECT_EQ(sizes.size(), 2u);
  EXPECT_EQ(backgrounds.size(), 3u);
}

TEST(ShapesWorld, CaptionWordsThatNameAnObjectCarryItsBox) {
  std::set<std::string> first_words;
  for (const auto& s : scenes()) {
    ASSERT_EQ(s.captions.size(), 5u);
    for (const auto& c : s.captions) {
      ASSERT_EQ(c.words.size(), c.word_boxes.size());
      first_words.insert(c.words[0]);
      int referring = 0;
      for (size_t w = 0; w < c.words.size(); ++w) {
        if (!c.word_boxes[w]) {
          EXPECT_EQ(attr_of(s.objects[0], c.words[w]), "not an attribute") << c.text;
          continue;
        }
        ++referring;
        const Object* o = object_at(s, *c.word_boxes[w]);
        ASSERT_NE(o, nullptr) << c.text;
        EXPECT_EQ(attr_of(*o, c.words[w]), "ok") << c.text << " word " << c.words[w];
      }
      EXPECT_GE(referring, 2) << c.text;
    }
  }
  EXPECT_GE(first_words.size(), 3u) << "several templates";
}

TEST(ShapesWorld, CaptionsFollowTheirTemplateLeftToRight) {
  int relations = 0;
  for (const auto& s : scenes()) {
    std::vector<const Object*> order;
    for (const auto& o : s.objects)
      order.push_back(&o);
    std::stable_sort(order.begin(), order.end(), [](const Object* a, const Object* b) {
      return a->centre().x != b->centre().x ? a->centre().x < b->centre().x
                                            : a->centre().y < b->centre().y;
    });
    // Template 0 names every object once, left to right; its shape words carry their boxes.
    const Caption& list = s.captions[0];
    std::vector<cv::Rect> named;
    for (size_t w = 0; w < list.words.size(); ++w)
      if (list.word_boxes[w] && std::find(shape_names().begin(), shape_names().end(),
                                          list.words[w]) != shape_names().end())
        named.push_back(*list.word_boxes[w]);
    ASSERT_EQ(named.size(), order.size()) << list.text;
    for (size_t i = 0; i < order.size(); ++i)
      EXPECT_EQ(named[i], order[i]->box) << list.text;
    // Template 4 is the leftmost object with its size.
    const Object& first = *order[0];
    EXPECT_EQ(s.captions[4].text, "there is a " +  // sizes ("small", "large") take "a"
                                      size_names()[static_cast<size_t>(first.size)] + " " +
                                      colour_names()[static_cast<size_t>(first.colour)] + " " +
                                      shape_names()[static_cast<size_t>(first.shape)]);
    relations += s.captions[2].text.find(" of ") != std::string::npos ||
                 s.captions[2].text.find(" above ") != std::string::npos ||
                 s.captions[2].text.find(" below ") != std::string::npos;
  }
  EXPECT_GT(relations, 150) << "most scenes with two objects have a caption with a relation";
}

TEST(ShapesWorld, ArticlesAgreeWithTheNextWord) {
  int an = 0;
  for (const auto& s : scenes()) {
    std::vector<std::string> texts;
    for (const auto& c : s.captions)
      texts.push_back(" " + c.text + " ");
    for (const auto& q : s.questions)
      texts.push_back(" " + q.question + " ");
    for (const auto& t : texts) {
      EXPECT_EQ(t.find(" a orange"), std::string::npos) << t;
      EXPECT_EQ(t.find(" an red"), std::string::npos) << t;
      an += t.find(" an orange ") != std::string::npos;
    }
  }
  EXPECT_GT(an, 10);
}

TEST(ShapesWorld, AnswersAreTrueOfTheScene) {
  std::map<QuestionFamily, int> families;
  for (const auto& s : scenes()) {
    for (const auto& q : s.questions) {
      ++families[q.family];
      if (q.family != QuestionFamily::kWhatLeft) {
        EXPECT_TRUE(q.reference_boxes.empty()) << q.question;
      }
      // Each mention is said in the question, in order, and names its object.
      size_t from = 0;
      for (const auto& m : q.mentions) {
        const size_t at = q.question.find(" the " + m.words, from);
        ASSERT_NE(at, std::string::npos) << q.question << " / " << m.words;
        from = at + 1;
        const Object* o = object_at(s, m.box);
        ASSERT_NE(o, nullptr) << q.question;
        const std::string shape = shape_names()[static_cast<size_t>(o->shape)];
        const std::string colour = colour_names()[static_cast<size_t>(o->colour)];
        EXPECT_TRUE(m.words == shape || m.words == colour + " object" ||
                    m.words == colour + " " + shape)
            << q.question << " / " << m.words;
      }
      const bool counts = q.family == QuestionFamily::kCount || q.family == QuestionFamily::kExist;
      EXPECT_EQ(q.mentions.size(), counts                                  ? 0u
                                   : q.family == QuestionFamily::kRelation ? 2u
                                                                           : 1u)
          << q.question;
      switch (q.family) {
        case QuestionFamily::kCount:
          EXPECT_EQ(q.answer, std::to_string(q.boxes.size())) << q.question;
          break;
        case QuestionFamily::kExist:
          EXPECT_EQ(q.answer, q.boxes.empty() ? "no" : "yes") << q.question;
          break;
        case QuestionFamily::kColour: {
          ASSERT_EQ(q.boxes.size(), 1u);
          EXPECT_EQ(q.answer, colour_names()[static_cast<size_t>(object_at(s, q.boxes[0])->colour)])
              << q.question;
          break;
        }
        case QuestionFamily::kShape:
          EXPECT_EQ(q.answer, shape_names()[static_cast<size_t>(object_at(s, q.boxes[0])->shape)])
              << q.question;
          break;
        case QuestionFamily::kSize:
          EXPECT_EQ(q.answer, size_names()[static_cast<size_t>(object_at(s, q.boxes[0])->size)])
              << q.question;
          break;
        case QuestionFamily::kRelation: {
          ASSERT_EQ(q.boxes.size(), 2u);
          const auto a = object_at(s, q.boxes[0])->centre(), b = object_at(s, q.boxes[1])->centre();
          const bool left = q.question.find(" left of ") != std::string::npos;
          const bool right = q.question.find(" right of ") != std::string::npos;
          const bool above = q.question.find(" above ") != std::string::npos;
          const bool truth = left ? a.x < b.x : right ? a.x > b.x : above ? a.y < b.y : a.y > b.y;
          if (q.answer ==
              "yes") {  // "no" may still hold on the minor axis, so only "yes" is checked
            EXPECT_TRUE(truth) << q.question;
          }
          break;
        }
        case QuestionFamily::kWhatLeft: {
          const Object* l = object_at(s, q.boxes[0]);
          EXPECT_EQ(q.answer, colour_names()[static_cast<size_t>(l->colour)] + " " +
                                  shape_names()[static_cast<size_t>(l->shape)]);
          // The reference is the object the question names, and the answer lies left of it.
          ASSERT_EQ(q.reference_boxes.size(), 1u) << q.question;
          const Object* o = object_at(s, q.reference_boxes[0]);
          EXPECT_NE(q.question.find(" the " + colour_names()[static_cast<size_t>(o->colour)] + " " +
                                    shape_names()[static_cast<size_t>(o->shape)] + "?"),
                    std::string::npos)
              << q.question;
          EXPECT_LT(l->centre().x, o->centre().x) << q.question;
          break;
        }
      }
    }
  }
  for (int f = 0; f < kQuestionFamilies; ++f)
    EXPECT_GT(families[static_cast<QuestionFamily>(f)], 20)
        << to_string(static_cast<QuestionFamily>(f));
}

// The question families of scenes 0..299 of `world`, each question asked once per scene; with
// `same_as`, each scene's image and captions must be those of that world's.
struct Shares {
  std::map<QuestionFamily, int> count;
  int total = 0;
  double of(QuestionFamily f) const {
    auto it = count.find(f);
    return it == count.end() ? 0.0 : double(it->second) / total;
  }
};

Shares shares_of(const ShapesWorld& world, const ShapesWorld* same_as = nullptr) {
  Shares s;
  for (uint64_t i = 0; i < 300; ++i) {
    const Scene b = world.scene(i);
    if (same_as) {
      const Scene a = same_as->scene(i);
      EXPECT_EQ(cv::norm(a.image, b.image, cv::NORM_INF), 0.0) << "scene " << i;
      EXPECT_EQ(a.captions.size(), b.captions.size());
      for (size_t c = 0; c < std::min(a.captions.size(), b.captions.size()); ++c)
        EXPECT_EQ(a.captions[c].text, b.captions[c].text);
    }
    std::set<std::string> distinct;
    for (const auto& q : b.questions) {
      EXPECT_TRUE(distinct.insert(q.question).second) << "asked twice: " << q.question;
      ++s.count[q.family];
    }
    s.total += static_cast<int>(b.questions.size());
  }
  return s;
}

TEST(ShapesWorld, BalancedFamiliesChangeOnlyTheQuestionsAndEvenTheirShares) {
  WorldOptions plain_options, balanced_options;
  plain_options.questions_per_scene = balanced_options.questions_per_scene = 12;
  balanced_options.balanced_families = true;
  const ShapesWorld plain(plain_options), balanced(balanced_options);
  const Shares before = shares_of(plain), after = shares_of(balanced, &plain);
  EXPECT_LT(before.of(QuestionFamily::kRelation), 0.095);
  EXPECT_GT(after.of(QuestionFamily::kRelation), 0.10);
  EXPECT_LT(before.of(QuestionFamily::kWhatLeft), 0.04);
  EXPECT_GT(after.of(QuestionFamily::kWhatLeft), 0.045);
}

// Family weights share out the rotation's turns: relations three times, counts twice, colour
// never; the images and captions stay those of the equal share.
TEST(ShapesWorld, FamilyWeightsShareOutTheTurnsOfTheRotation) {
  WorldOptions even_options, weighted_options;
  even_options.questions_per_scene = weighted_options.questions_per_scene = 12;
  even_options.balanced_families = weighted_options.balanced_families = true;
  weighted_options.family_weights = {0, 1, 1, 2, 1, 3, 1};
  const ShapesWorld even(even_options), weighted(weighted_options);
  const Shares before = shares_of(even), after = shares_of(weighted, &even);
  EXPECT_GT(before.count.at(QuestionFamily::kColour), 300);
  EXPECT_EQ(after.count.count(QuestionFamily::kColour), 0u);
  EXPECT_GT(after.of(QuestionFamily::kRelation), 1.6 * before.of(QuestionFamily::kRelation));
  EXPECT_GT(after.of(QuestionFamily::kCount), 1.2 * before.of(QuestionFamily::kCount));
}

TEST(ShapesWorld, FamilyWeightsOutOfRangeOrAllZeroAreRefused) {
  WorldOptions o;
  o.family_weights = {1, 1, 1, 1, 1, 11, 1};
  try {
    ShapesWorld w(o);
    ADD_FAILURE() << "a weight of 11 was taken";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "the weight of question family 'relation' must be 0..10, got 11");
  }
  o.family_weights = {0, 0, 0, 0, 0, 0, 0};
  try {
    ShapesWorld w(o);
    ADD_FAILURE() << "all weights 0 were taken";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "every question family has weight 0: give one a weight, or ask 0 questions");
  }
  o.questions_per_scene = 0;
  EXPECT_TRUE(ShapesWorld(o).scene(0).questions.empty());
  EXPECT_EQ(parse_question_family("what-left").value(), QuestionFamily::kWhatLeft);
  EXPECT_EQ(parse_question_family("where").error().message,
            "unknown question family 'where'; valid: colour, shape, size, count, exist, relation, "
            "what-left");
}

TEST(ShapesWorld, TheCompositionalSplitKeepsHeldOutPairsOutOfTraining) {
  WorldOptions o;
  o.held_out = compositional_holdout();
  ShapesWorld w(o);
  int held_in_dev = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    for (const auto& obj : w.scene(i, Split::kTrain).objects)
      ASSERT_EQ(o.held_out.count({obj.colour, obj.shape}), 0u) << "scene " << i;
    for (const auto& obj : w.scene(i, Split::kDev).objects)
      held_in_dev += o.held_out.count({obj.colour, obj.shape});
  }
  EXPECT_GT(held_in_dev, 20) << "dev scenes test the held-out pairs";
}

TEST(ShapesWorld, RefusesImpossibleOptions) {
  WorldOptions o;
  o.max_objects = 6;
  EXPECT_THROW(ShapesWorld{o}, Error);
  o = {};
  o.image_size = 16;
  EXPECT_THROW(ShapesWorld{o}, Error);
}

}  // namespace
}  // namespace glimpse::data

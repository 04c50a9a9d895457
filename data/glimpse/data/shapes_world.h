// A synthetic world where the truth of every picture is known: scenes of 1-5 non-overlapping
// shapes on varied backgrounds, with captions from a small grammar and questions with answers
// in seven families. Every caption word and question that refers to an object records that
// object's bounding box, so attention can be measured against where the object really is.
//
//   ShapesWorld world({.image_size = 128});
//   Scene s = world.scene(42);        // deterministic from the index (and the world's seed)
//   s.captions[0].text;               // "a small red circle left of a large blue square"
//   s.questions[0].question;          // "what colour is the square?"
//
// Thread-safe: scenes depend only on (seed, index).
#pragma once

#include <opencv2/core.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "glimpse/core/error.h"

namespace glimpse::data {

enum class Shape { kCircle, kSquare, kTriangle, kDiamond, kStar, kHexagon };
enum class Colour { kRed, kGreen, kBlue, kYellow, kPurple, kOrange };
enum class Size { kSmall, kLarge };
enum class Background { kPlain, kGradient, kNoise };

const std::vector<std::string>& shape_names();   // "circle", "square", ...
const std::vector<std::string>& colour_names();  // "red", "green", ...
const std::vector<std::string>& size_names();    // "small", "large"

struct Object {
  Shape shape;
  Colour colour;
  Size size;
  cv::Rect box;  // in image pixels
  cv::Point2f centre() const { return {box.x + box.width / 2.0f, box.y + box.height / 2.0f}; }
};

struct Caption {
  std::string text;
  std::vector<std::string> words;
  std::vector<std::optional<cv::Rect>> word_boxes;  // per word: the object it refers to, if any
};

enum class QuestionFamily { kColour, kShape, kSize, kCount, kExist, kRelation, kWhatLeft };
constexpr int kQuestionFamilies = 7;
const char* to_string(QuestionFamily family);
// "colour", ..., "what-left" back to the family; an unknown name gets an error listing them.
Result<QuestionFamily> parse_question_family(const std::string& name);

// A phrase of a question that names one object: "square", "red object", "red square".
struct Mention {
  std::string words;
  cv::Rect box;
  bool operator==(const Mention& o) const { return words == o.words && box == o.box; }
};

struct Question {
  QuestionFamily family;
  std::string question;
  std::string answer;
  std::vector<cv::Rect> boxes;  // the objects the question is about
  // The objects the answer is found from, when they are not the answer's: what-left's named
  // object, whose left neighbour is the answer (and the boxes).
  std::vector<cv::Rect> reference_boxes;
  // The phrases that name one object each, in the order the question says them (counts and
  // existence questions name kinds, not objects, and have none).
  std::vector<Mention> mentions;
};

struct Scene {
  uint64_t index = 0;
  cv::Mat image;  // CV_8UC3 RGB, image_size x image_size
  Background background = Background::kPlain;
  std::vector<Object> objects;
  std::vector<Caption> captions;
  std::vector<Question> questions;
};

enum class Split { kTrain, kDev, kTest };

struct WorldOptions {
  int image_size = 128;
  int min_objects = 1;
  int max_objects = 5;
  int captions_per_scene = 5;
  int questions_per_scene = 6;
  uint64_t seed = 1;
  // Balanced question families: each question slot takes the next family in turn and retries
  // it (up to 20 draws) before moving on, so every family that fits the scene gets an equal share.
  // Off: the first seven draws go round the families once, then families are drawn at random,
  // and a draw that does not fit the scene is dropped (relations and what-left come out rarer).
  bool balanced_families = false;
  // With balanced_families: how many turns each family gets in one round of the rotation, in
  // QuestionFamily order (colour, shape, size, count, exist, relation, what-left); 0 = never
  // asked. All 1 is the equal share; {1,1,1,2,1,3,2} asks counts and what-left twice and
  // relations three times as often as each other family, where the scene allows.
  std::array<int, kQuestionFamilies> family_weights{1, 1, 1, 1, 1, 1, 1};
  // Compositional split (as CLEVR-CoGenT): colour-shape pairs never drawn in training scenes;
  // dev and test scenes may contain them. Empty = the plain split.
  std::set<std::pair<Colour, Shape>> held_out;
};

// The pairs the compositional split holds out: one per colour, each with a different shape.
std::set<std::pair<Colour, Shape>> compositional_holdout();

class ShapesWorld {
 public:
  explicit ShapesWorld(WorldOptions options = {});
  // Scene `index` of `split`; the same (seed, split, index) always gives the same scene.
  Scene scene(uint64_t index, Split split = Split::kTrain) const;
  const WorldOptions& options() const { return options_; }

 private:
  WorldOptions options_;
};

}  // namespace glimpse::data

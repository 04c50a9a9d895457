#include "glimpse/data/shapes_world.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "glimpse/core/error.h"

namespace glimpse::data {

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> k = {"circle",  "square", "triangle",
                                             "diamond", "star",   "hexagon"};
  return k;
}
const std::vector<std::string>& colour_names() {
  static const std::vector<std::string> k = {"red", "green", "blue", "yellow", "purple", "orange"};
  return k;
}
const std::vector<std::string>& size_names() {
  static const std::vector<std::string> k = {"small", "large"};
  return k;
}

const char* to_string(QuestionFamily f) {
  switch (f) {
    case QuestionFamily::kColour:
      return "colour";
    case QuestionFamily::kShape:
      return "shape";
    case QuestionFamily::kSize:
      return "size";
    case QuestionFamily::kCount:
      return "count";
    case QuestionFamily::kExist:
      return "exist";
    case QuestionFamily::kRelation:
      return "relation";
    case QuestionFamily::kWhatLeft:
      return "what-left";
  }
  return "unknown";
}

Result<QuestionFamily> parse_question_family(const std::string& name) {
  std::string valid;
  for (int f = 0; f < kQuestionFamilies; ++f) {
    const auto family = static_cast<QuestionFamily>(f);
    if (name == to_string(family))
      return family;
    valid += (f ? ", " : "") + std::string(to_string(family));
  }
  return ErrorInfo{ErrorCode::kInvalidArgument,
                   "unknown question family '" + name + "'; valid: " + valid};
}

std::set<std::pair<Colour, Shape>> compositional_holdout() {
  return {{Colour::kRed, Shape::kCircle},    {Colour::kGreen, Shape::kSquare},
          {Colour::kBlue, Shape::kTriangle}, {Colour::kYellow, Shape::kDiamond},
          {Colour::kPurple, Shape::kStar},   {Colour::kOrange, Shape::kHexagon}};
}

namespace {

constexpr int kShapes = 6, kColours = 6;

// A portable generator: std::mt19937_64 is fully specified; the helpers below avoid the
// library-specific std::*_distribution so a seed gives the same world everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  uint64_t next() { return g_(); }
  int below(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }  // [0, n)
  int between(int lo, int hi) { return lo + below(hi - lo + 1); }                   // [lo, hi]
  double unit() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  bool coin() { return (next() & 1) != 0; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(below(static_cast<int>(v.size())))];
  }

 private:
  std::mt19937_64 g_;
};

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64 of a combined key
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

cv::Scalar rgb(Colour c) {
  static const cv::Scalar k[] = {{220, 40, 40},  {40, 170, 60},  {40, 80, 220},
                                 {235, 205, 30}, {140, 60, 180}, {245, 135, 25}};
  return k[static_cast<int>(c)];
}

std::string name(Shape s) {
  return shape_names()[static_cast<size_t>(s)];
}
std::string name(Colour c) {
  return colour_names()[static_cast<size_t>(c)];
}
std::string name(Size s) {
  return size_names()[static_cast<size_t>(s)];
}

void draw_background(cv::Mat& img, Background bg, Rng& rng) {
  const int n = img.rows;
  if (bg == Background::kPlain) {
    const int g = rng.between(200, 245);
    img.setTo(cv::Scalar(g + rng.between(-8, 8), g + rng.between(-8, 8), g + rng.between(-8, 8)));
  } else if (bg == Background::kGradient) {
    cv::Vec3d a(rng.between(190, 250), rng.between(190, 250), rng.between(190, 250));
    cv::Vec3d b(rng.between(170, 235), rng.between(170, 235), rng.between(170, 235));
    const bool vertical = rng.coin();
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const double t = double(vertical ? y : x) / (n - 1);
        const cv::Vec3d c = a * (1 - t) + b * t;
        img.at<cv::Vec3b>(y, x) =
            cv::Vec3b(cv::saturate_cast<uchar>(c[0]), cv::saturate_cast<uchar>(c[1]),
                      cv::saturate_cast<uchar>(c[2]));
      }
  } else {
    const int g = rng.between(195, 230);
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x) {
        const int d = rng.between(-18, 18);
        img.at<cv::Vec3b>(y, x) =
            cv::Vec3b(cv::saturate_cast<uchar>(g + d), cv::saturate_cast<uchar>(g + d),
                      cv::saturate_cast<uchar>(g + d));
      }
  }
}

std::vector<cv::Point> polygon(const cv::Point2f& c, float r, int sides, float rotation,
                               bool star) {
  std::vector<cv::Point> pts;
  const int n = star ? 10 : sides;
  for (int i = 0; i < n; ++i) {
    const float rr = star && (i % 2 == 1) ? r * 0.45f : r;
    const float a = rotation + static_cast<float>(2 * M_PI * i / n);
    pts.emplace_back(cvRound(c.x + rr * std::cos(a)), cvRound(c.y + rr * std::sin(a)));
  }
  return pts;
}

void draw(cv::Mat& img, const Object& o) {
  const cv::Point2f c = o.centre();
  const float r = o.box.width / 2.0f;
  const cv::Scalar col = rgb(o.colour);
  const float up = static_cast<float>(-M_PI / 2);
  switch (o.shape) {
    case Shape::kCircle:
      cv::circle(img, cv::Point(cvRound(c.x), cvRound(c.y)), cvRound(r), col, cv::FILLED,
                 cv::LINE_AA);
      break;
    case Shape::kSquare:
      cv::rectangle(img, o.box, col, cv::FILLED);
      break;
    case Shape::kTriangle:
      cv::fillConvexPoly(img, polygon(c, r, 3, up, false), col, cv::LINE_AA);
      break;
    case Shape::kDiamond:
      cv::fillConvexPoly(img, polygon(c, r, 4, up, false), col, cv::LINE_AA);
      break;
    case Shape::kStar: {
      std::vector<std::vector<cv::Point>> p = {polygon(c, r, 5, up, true)};
      cv::fillPoly(img, p, col, cv::LINE_AA);
      break;
    }
    case Shape::kHexagon:
      cv::fillConvexPoly(img, polygon(c, r, 6, 0.0f, false), col, cv::LINE_AA);
      break;
  }
}

// Which way b lies from a, when one axis clearly dominates; "" when ambiguous.
std::string relation(const Object& a, const Object& b) {
  const cv::Point2f d = b.centre() - a.centre();
  const float min_gap = (a.box.width + b.box.width) / 4.0f;
  if (std::abs(d.x) > 1.5f * std::abs(d.y) && std::abs(d.x) > min_gap)
    return d.x > 0 ? "right of" : "left of";
  if (std::abs(d.y) > 1.5f * std::abs(d.x) && std::abs(d.y) > min_gap)
    return d.y > 0 ? "below" : "above";
  return "";
}

bool starts_with_vowel(const std::string& w) {
  return !w.empty() && std::string("aeiou").find(w[0]) != std::string::npos;
}

// "a" before a vowel becomes "an": "an orange star".
void fix_articles(std::vector<std::string>& words) {
  for (size_t i = 0; i + 1 < words.size(); ++i)
    if (words[i] == "a" && starts_with_vowel(words[i + 1]))
      words[i] = "an";
}

std::string fix_articles(const std::string& sentence) {
  std::vector<std::string> words;
  for (size_t s = 0, e; s <= sentence.size(); s = e + 1) {
    e = sentence.find(' ', s);
    if (e == std::string::npos)
      e = sentence.size();
    words.push_back(sentence.substr(s, e - s));
  }
  fix_articles(words);
  std::string out;
  for (const auto& w : words)
    out += (out.empty() ? "" : " ") + w;
  return out;
}

class CaptionBuilder {
 public:
  void word(const std::string& w, std::optional<cv::Rect> box = std::nullopt) {
    for (size_t s = 0, e; s <= w.size(); s = e + 1) {  // multi-word pieces split on spaces
      e = w.find(' ', s);
      if (e == std::string::npos)
        e = w.size();
      if (e > s) {
        c_.words.push_back(w.substr(s, e - s));
        c_.word_boxes.push_back(box);
      }
    }
  }
  void object(const Object& o, bool with_size) {
    if (with_size)
      word(name(o.size), o.box);
    word(name(o.colour), o.box);
    word(name(o.shape), o.box);
  }
  Caption done() {
    fix_articles(c_.words);
    for (const auto& w : c_.words)
      c_.text += (c_.text.empty() ? "" : " ") + w;
    return std::move(c_);
  }

 private:
  Caption c_;
};

const char* kNumbers[] = {"zero", "one", "two", "three", "four", "five", "six"};

// The objects read left to right (then top to bottom): every template walks them in this order,
// so a caption is a function of the scene and its template and a model can learn it exactly.
std::vector<const Object*> left_to_right(const std::vector<Object>& objs) {
  std::vector<const Object*> order;
  for (const auto& o : objs)
    order.push_back(&o);
  std::stable_sort(order.begin(), order.end(), [](const Object* a, const Object* b) {
    return a->centre().x != b->centre().x ? a->centre().x < b->centre().x
                                          : a->centre().y < b->centre().y;
  });
  return order;
}

// Caption `index` of a scene uses template index % 5:
//   0 "a red circle a blue square and a green star"   every object, left to right
//   1 "three shapes with a small red circle"          the count and the leftmost object
//   2 "a small red circle left of a large blue square" the first pair with a clear relation
//   3 "a blue square right of a red circle"             the same pair, seen from the other side
//   4 "there is a small red circle"                     the leftmost object
Caption make_caption(const std::vector<Object>& objs, int index) {
  CaptionBuilder b;
  const auto order = left_to_right(objs);
  const int n = static_cast<int>(order.size());
  const Object& first = *order[0];
  const Object* pi = nullptr;  // the first pair (left to right) with a clear relation
  const Object* pj = nullptr;
  for (int i = 0; i < n && !pi; ++i)
    for (int j = i + 1; j < n && !pi; ++j)
      if (!relation(*order[j], *order[i]).empty()) {
        pi = order[i];
        pj = order[j];
      }
  switch (index % 5) {
    case 0:
      b.word("a");
      b.object(first, n == 1);
      for (int i = 1; i < n; ++i) {
        b.word(i + 1 == n ? "and a" : "a");
        b.object(*order[i], false);
      }
      break;
    case 1:
      b.word(n == 1 ? "a single" : std::string(kNumbers[n]) + " shapes with a");
      b.object(first, true);
      break;
    case 2:
    case 3: {
      if (!pi) {  // one object, or no pair with a clear relation: name two (or one) with sizes
        b.word(index % 5 == 2 ? "a" : "there is a");
        b.object(first, index % 5 == 2 || n == 1);
        if (n > 1) {
          b.word("and a");
          b.object(*order[1], index % 5 == 2);
        }
        break;
      }
      const Object& x = index % 5 == 2 ? *pi : *pj;
      const Object& y = index % 5 == 2 ? *pj : *pi;
      b.word("a");
      b.object(x, index % 5 == 2);
      b.word(relation(y, x));  // where x lies from y
      b.word("a");
      b.object(y, index % 5 == 2);
      break;
    }
    default:
      b.word("there is a");
      b.object(first, true);
      break;
  }
  return b.done();
}

template <class Pred>
std::vector<int> matching(const std::vector<Object>& objs, Pred p) {
  std::vector<int> out;
  for (int i = 0; i < static_cast<int>(objs.size()); ++i)
    if (p(objs[i]))
      out.push_back(i);
  return out;
}

std::optional<Question> make_question(QuestionFamily f, const std::vector<Object>& objs, Rng& rng) {
  Question q;
  q.family = f;
  const Object& o = objs[static_cast<size_t>(rng.below(static_cast<int>(objs.size())))];
  switch (f) {
    case QuestionFamily::kColour: {
      if (matching(objs, [&](const Object& x) { return x.shape == o.shape; }).size() != 1)
        return std::nullopt;
      q.question = "what colour is the " + name(o.shape) + "?";
      q.answer = name(o.colour);
      q.boxes = {o.box};
      q.mentions = {{name(o.shape), o.box}};
      return q;
    }
    case QuestionFamily::kShape: {
      if (matching(objs, [&](const Object& x) { return x.colour == o.colour; }).size() != 1)
        return std::nullopt;
      q.question = "what shape is the " + name(o.colour) + " object?";
      q.answer = name(o.shape);
      q.boxes = {o.box};
      q.mentions = {{name(o.colour) + " object", o.box}};
      return q;
    }
    case QuestionFamily::kSize: {
      if (matching(objs, [&](const Object& x) {
            return x.colour == o.colour && x.shape == o.shape;
          }).size() != 1)
        return std::nullopt;
      q.question = "what size is the " + name(o.colour) + " " + name(o.shape) + "?";
      q.answer = name(o.size);
      q.boxes = {o.box};
      q.mentions = {{name(o.colour) + " " + name(o.shape), o.box}};
      return q;
    }
    case QuestionFamily::kCount: {
      std::vector<int> m;
      if (rng.coin()) {
        const Colour c = static_cast<Colour>(rng.below(kColours));
        m = matching(objs, [&](const Object& x) { return x.colour == c; });
        q.question = "how many " + name(c) + " objects are there?";
      } else {
        const Shape s = static_cast<Shape>(rng.below(kShapes));
        m = matching(objs, [&](const Object& x) { return x.shape == s; });
        q.question = "how many " + name(s) + "s are there?";
      }
      q.answer = std::to_string(m.size());
      for (int i : m)
        q.boxes.push_back(objs[static_cast<size_t>(i)].box);
      return q;
    }
    case QuestionFamily::kExist: {
      Colour c = o.colour;
      Shape s = o.shape;
      if (rng.coin()) {  // ask about a pair that may be absent
        c = static_cast<Colour>(rng.below(kColours));
        s = static_cast<Shape>(rng.below(kShapes));
      }
      auto m = matching(objs, [&](const Object& x) { return x.colour == c && x.shape == s; });
      q.question = "is there a " + name(c) + " " + name(s) + "?";
      q.answer = m.empty() ? "no" : "yes";
      for (int i : m)
        q.boxes.push_back(objs[static_cast<size_t>(i)].box);
      return q;
    }
    case QuestionFamily::kRelation: {
      if (objs.size() < 2)
        return std::nullopt;
      const Object& p = objs[static_cast<size_t>(rng.below(static_cast<int>(objs.size())))];
      if (&p == &o)
        return std::nullopt;
      const std::string rel = relation(p, o);  // where o lies from p
      if (rel.empty())
        return std::nullopt;
      for (const Object* x : {&o, &p})
        if (matching(objs, [&](const Object& y) {
              return y.colour == x->colour && y.shape == x->shape;
            }).size() != 1)
          return std::nullopt;
      static const std::vector<std::string> rels = {"left of", "right of", "above", "below"};
      const std::string asked = rng.coin() ? rel : rng.pick(rels);
      q.question = "is the " + name(o.colour) + " " + name(o.shape) + " " + asked + " the " +
                   name(p.colour) + " " + name(p.shape) + "?";
      q.answer = asked == rel ? "yes" : "no";
      q.boxes = {o.box, p.box};
      q.mentions = {{name(o.colour) + " " + name(o.shape), o.box},
                    {name(p.colour) + " " + name(p.shape), p.box}};
      return q;
    }
    case QuestionFamily::kWhatLeft: {
      auto left = matching(objs, [&](const Object& x) { return relation(o, x) == "left of"; });
      if (left.size() != 1)
        return std::nullopt;
      if (matching(objs, [&](const Object& y) {
            return y.colour == o.colour && y.shape == o.shape;
          }).size() != 1)
        return std::nullopt;
      const Object& l = objs[static_cast<size_t>(left[0])];
      q.question = "what is left of the " + name(o.colour) + " " + name(o.shape) + "?";
      q.answer = name(l.colour) + " " + name(l.shape);
      q.boxes = {l.box};
      q.reference_boxes = {o.box};
      q.mentions = {{name(o.colour) + " " + name(o.shape), o.box}};
      return q;
    }
  }
  return std::nullopt;
}

}  // namespace

ShapesWorld::ShapesWorld(WorldOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.image_size < 32 || o.image_size > 1024)
    throw Error(ErrorCode::kInvalidArgument,
                "world image size must be 32..1024, got " + std::to_string(o.image_size));
  if (o.min_objects < 1 || o.max_objects > 5 || o.min_objects > o.max_objects)
    throw Error(ErrorCode::kInvalidArgument, "a scene holds 1 to 5 objects (min <= max)");
  if (o.captions_per_scene < 1 || o.questions_per_scene < 0)
    throw Error(ErrorCode::kInvalidArgument, "a scene needs at least one caption");
  if (o.held_out.size() >= static_cast<size_t>(kColours * kShapes))
    throw Error(ErrorCode::kInvalidArgument,
                "the compositional split cannot hold out every colour-shape pair");
  int turns = 0;
  for (int f = 0; f < kQuestionFamilies; ++f) {
    const int w = o.family_weights[static_cast<size_t>(f)];
    if (w < 0 || w > 10)
      throw Error(ErrorCode::kInvalidArgument, std::string("the weight of question family '") +
                                                   to_string(static_cast<QuestionFamily>(f)) +
                                                   "' must be 0..10, got " + std::to_string(w));
    turns += w;
  }
  if (turns == 0 && o.questions_per_scene > 0)
    throw Error(ErrorCode::kInvalidArgument,
                "every question family has weight 0: give one a weight, or ask 0 questions");
}

Scene ShapesWorld::scene(uint64_t index, Split split) const {
  const auto& o = options_;
  Rng rng(mix(mix(o.seed, static_cast<uint64_t>(split) + 1), index));
  Scene s;
  s.index = index;
  s.image = cv::Mat(o.image_size, o.image_size, CV_8UC3);
  s.background = static_cast<Background>(rng.below(3));
  draw_background(s.image, s.background, rng);

  const int want = rng.between(o.min_objects, o.max_objects);
  const int small = std::max(4, o.image_size * 7 / 100),
            large = std::max(7, o.image_size * 13 / 100);
  for (int tries = 0; static_cast<int>(s.objects.size()) < want && tries < 200; ++tries) {
    Object obj;
    obj.shape = static_cast<Shape>(rng.below(kShapes));
    obj.colour = static_cast<Colour>(rng.below(kColours));
    if (split == Split::kTrain && o.held_out.count({obj.colour, obj.shape}))
      continue;
    obj.size = rng.coin() ? Size::kSmall : Size::kLarge;
    const int r = obj.size == Size::kSmall ? small : large;
    const int cx = rng.between(r + 2, o.image_size - r - 3),
              cy = rng.between(r + 2, o.image_size - r - 3);
    obj.box = cv::Rect(cx - r, cy - r, 2 * r, 2 * r);
    const cv::Rect padded(obj.box.x - 3, obj.box.y - 3, obj.box.width + 6, obj.box.height + 6);
    if (std::any_of(s.objects.begin(), s.objects.end(),
                    [&](const Object& x) { return (x.box & padded).area() > 0; }))
      continue;
    s.objects.push_back(obj);
  }
  for (const auto& obj : s.objects)
    draw(s.image, obj);

  for (int i = 0; i < o.captions_per_scene; ++i)
    s.captions.push_back(make_caption(s.objects, i));
  std::set<std::string> asked;
  auto add = [&](std::optional<Question> q) {
    if (!q)
      return false;
    q->question = fix_articles(q->question);
    if (!asked.insert(q->question).second)
      return false;
    s.questions.push_back(std::move(*q));
    return true;
  };
  if (o.balanced_families) {
    // One round of the rotation: each family as many turns as its weight, in family order.
    std::vector<QuestionFamily> round;
    for (int f = 0; f < kQuestionFamilies; ++f)
      for (int k = 0; k < o.family_weights[static_cast<size_t>(f)]; ++k)
        round.push_back(static_cast<QuestionFamily>(f));
    const int turns = static_cast<int>(round.size());
    // Stops when a whole round in a row has nothing new to ask of this scene.
    for (int slot = 0, misses = 0;
         turns > 0 && static_cast<int>(s.questions.size()) < o.questions_per_scene &&
         misses < turns;
         ++slot) {
      const auto f = round[static_cast<size_t>((static_cast<int>(index) + slot) % turns)];
      bool added = false;
      for (int draw = 0; draw < 20 && !added; ++draw)
        added = add(make_question(f, s.objects, rng));
      misses = added ? 0 : misses + 1;
    }
    return s;
  }
  for (int tries = 0; static_cast<int>(s.questions.size()) < o.questions_per_scene && tries < 60;
       ++tries) {
    const auto f = static_cast<QuestionFamily>(
        tries < kQuestionFamilies ? (static_cast<int>(index) + tries) % kQuestionFamilies
                                  : rng.below(kQuestionFamilies));
    add(make_question(f, s.objects, rng));
  }
  return s;
}

}  // namespace glimpse::data

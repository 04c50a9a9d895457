#include "glimpse/data/world_export.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>

#include "glimpse/core/file_util.h"

namespace glimpse::data {

using nlohmann::json;

const char* to_string(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kDev:
      return "dev";
    case Split::kTest:
      return "test";
  }
  return "unknown";
}

Result<Split> parse_split(const std::string& name) {
  if (name == "train")
    return Split::kTrain;
  if (name == "dev" || name == "val")
    return Split::kDev;
  if (name == "test")
    return Split::kTest;
  return Result<Split>::failure(ErrorCode::kInvalidArgument,
                                "unknown split '" + name + "'; valid: train, dev, test");
}

namespace {
json box_json(const cv::Rect& r) {
  return json::array({r.x, r.y, r.width, r.height});
}

const char* answer_type(QuestionFamily f) {
  switch (f) {
    case QuestionFamily::kExist:
    case QuestionFamily::kRelation:
      return "yes/no";
    case QuestionFamily::kCount:
      return "number";
    default:
      return "other";
  }
}
}  // namespace

Result<ExportSummary> export_world(const ShapesWorld& world, Split split, uint64_t first, int count,
                                   const std::string& dir) {
  return catch_as_result([&] {
    if (count < 1)
      throw Error(ErrorCode::kInvalidArgument, "--count must be at least 1");
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(dir) / "images", ec);
    if (ec)
      throw Error(ErrorCode::kIo, "cannot create '" + dir + "/images': " + ec.message());
    const std::string s = to_string(split);
    json images = json::array(), captions = json::array(), questions = json::array(),
         answers = json::array();
    ExportSummary sum;
    int64_t caption_id = 0;
    for (int i = 0; i < count; ++i) {
      const uint64_t index = first + static_cast<uint64_t>(i);
      const Scene scene = world.scene(index, split);
      const std::string file = s + "_" + std::to_string(index) + ".png";
      cv::Mat bgr;
      cv::cvtColor(scene.image, bgr, cv::COLOR_RGB2BGR);
      std::vector<uchar> png;
      if (!cv::imencode(".png", bgr, png))
        throw Error(ErrorCode::kInternal, "PNG encoding failed");
      core::write_file_atomic(dir + "/images/" + file, std::string(png.begin(), png.end()));
      images.push_back({{"id", index},
                        {"file_name", file},
                        {"width", scene.image.cols},
                        {"height", scene.image.rows}});
      for (const auto& c : scene.captions) {
        json boxes = json::array();
        for (const auto& b : c.word_boxes)
          boxes.push_back(b ? box_json(*b) : json(nullptr));
        captions.push_back({{"id", caption_id++},
                            {"image_id", index},
                            {"caption", c.text},
                            {"word_boxes", boxes}});
      }
      for (size_t k = 0; k < scene.questions.size(); ++k) {
        const auto& q = scene.questions[k];
        const uint64_t qid = index * 100 + k;
        questions.push_back({{"question_id", qid}, {"image_id", index}, {"question", q.question}});
        json human = json::array();
        for (int a = 1; a <= 10; ++a)
          human.push_back({{"answer", q.answer}, {"answer_confidence", "yes"}, {"answer_id", a}});
        json boxes = json::array();
        for (const auto& b : q.boxes)
          boxes.push_back(box_json(b));
        answers.push_back({{"question_id", qid},
                           {"image_id", index},
                           {"question_type", to_string(q.family)},
                           {"answer_type", answer_type(q.family)},
                           {"multiple_choice_answer", q.answer},
                           {"answers", human},
                           {"family", to_string(q.family)},
                           {"boxes", boxes}});
        if (!q.reference_boxes.empty()) {
          json refs = json::array();
          for (const auto& b : q.reference_boxes)
            refs.push_back(box_json(b));
          answers.back()["reference_boxes"] = refs;
        }
        if (!q.mentions.empty()) {
          json mentions = json::array();
          for (const auto& m : q.mentions)
            mentions.push_back({{"words", m.words}, {"box", box_json(m.box)}});
          answers.back()["mentions"] = mentions;
        }
      }
      ++sum.images;
      sum.captions += static_cast<int>(scene.captions.size());
      sum.questions += static_cast<int>(scene.questions.size());
    }
    const json info = {{"description", "glimpse shapes world"},
                       {"seed", world.options().seed},
                       {"split", s},
                       {"compositional", !world.options().held_out.empty()}};
    core::write_file_atomic(
        dir + "/captions_" + s + ".json",
        json{{"info", info}, {"images", images}, {"annotations", captions}}.dump());
    core::write_file_atomic(dir + "/questions_" + s + ".json",
                            json{{"info", info}, {"questions", questions}}.dump());
    core::write_file_atomic(dir + "/annotations_" + s + ".json",
                            json{{"info", info}, {"annotations", answers}}.dump());
    return sum;
  });
}

}  // namespace glimpse::data

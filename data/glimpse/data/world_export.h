// Writes shapes-world scenes in the formats any captioning or VQA tool reads:
//   DIR/images/<split>_<index>.png
//   DIR/captions_<split>.json     COCO captions (images + annotations); each annotation also
//                                 carries "word_boxes": per word [x, y, w, h] or null
//   DIR/questions_<split>.json    VQA v2 questions
//   DIR/annotations_<split>.json  VQA v2 annotations (ten identical human answers, as a
//                                 synthetic world has one truth), plus "boxes" and "family"
#pragma once

#include <string>

#include "glimpse/core/error.h"
#include "glimpse/data/shapes_world.h"

namespace glimpse::data {

const char* to_string(Split split);  // "train", "dev", "test"
Result<Split> parse_split(const std::string& name);

struct ExportSummary {
  int images = 0;
  int captions = 0;
  int questions = 0;
};

// Scenes first_index .. first_index + count - 1 of `split`. Creates DIR if needed; files are
// written atomically. Image ids are the scene indices; question ids are index * 100 + k.
Result<ExportSummary> export_world(const ShapesWorld& world, Split split, uint64_t first_index,
                                   int count, const std::string& dir);

}  // namespace glimpse::data

// The flags that name one dataset, declared once for glimpse eval and glimpse features: any
// format a recipe's data source takes (data/source.h).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "glimpse/core/error.h"
#include "glimpse/data/source.h"

namespace glimpse::app {

struct SourceFlags {
  std::string world, flickr8k, daquar, coco_captions, karpathy, vqa_questions, vqa_annotations;
  std::string images, image_pattern, coco_images, split, source_json;
};

// Adds --data, --flickr8k, --daquar, --coco-captions, --karpathy, --vqa-questions,
// --vqa-annotations,
// --images, --image-pattern, --coco-images, --split (default `split`) and --source.
void add_source_flags(CLI::App& cmd, SourceFlags& flags, const std::string& split);

// The one source the flags name, or an error saying which flags to give.
Result<data::DataSource> source_from_flags(const SourceFlags& flags);

}  // namespace glimpse::app

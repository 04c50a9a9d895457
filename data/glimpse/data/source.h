// A data source as a recipe or a command line names it: one dataset in one of the standard
// formats, read into the in-memory form of datasets.h.
//
//   {"format": "world",         "dir": "world", "split": "train"}
//   {"format": "flickr8k",      "dir": "../shared/data/flickr8k", "split": "train"}
//   {"format": "coco_captions", "captions": "captions_train2014.json", "images": "train2014"}
//   {"format": "karpathy",      "captions": "dataset_coco.json", "images": "coco", "split":
//   "train"}
//   {"format": "vqa_v2",        "questions": "q.json", "annotations": "a.json", "images": "img",
//                               "image_pattern": "COCO_train2014_{id12}.jpg"}
//   {"format": "daquar",        "dir": "../shared/data/daquar", "split": "dev"}
//
// A DAQUAR folder holds qa_train.txt (or the file "qa" names), train_images.txt and images/. Its
// "split" is "all", or "train" and "dev": a fixed dev split carved out of the training images,
// by default every tenth image of train_images.txt (the 10th, 20th, …: 79 of 795), or the images
// a "dev_images" list names (["image3", …]).
//
// In a recipe each source also has a weight: how many times an epoch reads each of its images
// (1 = once; 0.5 = half of them, chosen anew each epoch; 2 = twice).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/data/datasets.h"

namespace glimpse::data {

struct DataSource {
  std::string format;         // world | flickr8k | coco_captions | karpathy | vqa_v2 | daquar
  double weight = 1.0;        // images read per epoch, per image of the source
  std::string dir;            // world, flickr8k: the folder
  std::string split;          // world, flickr8k, karpathy: the split
  std::string captions;       // coco_captions, karpathy: the JSON file
  std::string questions;      // vqa_v2: the questions file
  std::string annotations;    // vqa_v2: the annotations file
  std::string images;         // coco_captions, karpathy, vqa_v2: the image folder
  std::string image_pattern;  // vqa_v2: image file names, "{id}" or "{idN}" (zero-padded to N)
  std::string coco_images;    // vqa_v2: or a COCO captions file whose "images" name the files
  std::string qa;             // daquar: the question file in dir (default qa_train.txt)
  std::vector<std::string> dev_images;  // daquar: the dev split's images (default: every tenth)
};

// The formats there are, in the order messages list them.
const std::vector<std::string>& source_formats();

// The source as JSON: only the fields its format reads, and the weight.
nlohmann::json to_json(const DataSource& source);
// A source from JSON; `where` names it in messages ("data.train[0]"). Throws glimpse::Error
// (kInvalidArgument) naming an unknown format, a field the format lacks or does not read, or a
// weight that is not a positive number.
DataSource source_from_json(const nlohmann::json& j, const std::string& where);

// DAQUAR's default dev split: every tenth image of the official training list (in dir).
Result<std::vector<std::string>> daquar_default_dev_images(const std::string& dir);

// Whether the source's format reads a split (world, flickr8k, karpathy): another split of it names
// other data of the same kind.
bool has_splits(const DataSource& source);

// A short description for logs and model files: "world (train)", "vqa_v2 q.json".
std::string describe(const DataSource& source);

// Reads the source.
Result<Dataset> load_source(const DataSource& source);

}  // namespace glimpse::data

// Datasets on disk, read into one in-memory form: images with their captions and questions.
//   COCO captions: {"images": [{id, file_name}], "annotations": [{image_id, caption, word_boxes?}]}
//   Karpathy:      {"images": [{filename, filepath?, split, sentences: [{raw, tokens?}]}]}
//   VQA v2:        questions {"questions": [{question_id, image_id, question}]} and annotations
//                  {"annotations": [{question_id, image_id, answers: [{answer}], answer_type?,
//                  multiple_choice_answer?, boxes?, reference_boxes?, mentions?: [{words,
//                  box}], family?}]}; image files are named by the COCO captions file's
//                  "images" list when given, else by a pattern with {id}.
// Every error names the file, the entry and the problem, and says what to do.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "glimpse/core/error.h"

namespace glimpse::data {

struct CaptionEntry {
  std::string text;
  std::vector<std::optional<cv::Rect>> word_boxes;  // empty when the file has none
};

struct QaEntry {
  int64_t question_id = 0;
  std::string question;
  std::vector<std::string> answers;  // the human answers (VQA v2 has ten)
  std::string answer;                // the most common human answer (or multiple_choice_answer)
  std::string answer_type;           // "yes/no", "number", "other" (or as the file says)
  std::string family;                // the shapes world's question family, when present
  std::vector<cv::Rect> boxes;       // objects the question is about, when present
  std::vector<cv::Rect> reference_boxes;  // objects the answer is found from, when present
  // Phrases of the question that name one object each, with its box, in the question's order.
  std::vector<std::pair<std::string, cv::Rect>> mentions;
};

struct ImageEntry {
  int64_t id = 0;
  std::string path;  // full path of the image file
  std::vector<CaptionEntry> captions;
  std::vector<QaEntry> questions;
};

struct Dataset {
  std::string name;
  std::vector<ImageEntry> images;
  size_t caption_count() const;
  size_t question_count() const;
};

// COCO captions JSON with its image folder.
Result<Dataset> load_coco_captions(const std::string& json_path, const std::string& image_dir);

// Karpathy's dataset_*.json: images of `split` ("train", "val", "test"; "restval" counts as
// train).
Result<Dataset> load_karpathy(const std::string& json_path, const std::string& image_dir,
                              const std::string& split);

// Flickr8k: the token file (IMAGE.jpg#N<TAB>caption per line) and a split list (one image name
// per line, e.g. Flickr_8k.devImages.txt). Images keep the split list's order; ids are their
// line numbers (from 0). Each malformed line is an error naming the file and the line.
Result<Dataset> load_flickr8k(const std::string& token_file, const std::string& split_file,
                              const std::string& image_dir);

// VQA v2 questions + annotations. Image paths come from `coco_images_json` ("images" list of a
// COCO file) when not empty, else from `image_pattern` with "{id}" replaced by the image id
// (e.g. "COCO_val2014_{id:012}.jpg" is written "COCO_val2014_{id012}.jpg": {idN} zero-pads to N).
Result<Dataset> load_vqa(const std::string& questions_json, const std::string& annotations_json,
                         const std::string& image_dir, const std::string& coco_images_json,
                         const std::string& image_pattern = "");

// A folder in the layout `glimpse world` writes: captions_<split>.json, questions_<split>.json,
// annotations_<split>.json and images/. Captions and questions of one split, merged by image.
Result<Dataset> load_world_folder(const std::string& dir, const std::string& split);

// DAQUAR's raw question file (Malinowski & Fritz 2014): a question line ending "… in the imageN ?",
// then its answer line ("chair, table" for several items); the images are image_dir/imageN.jpg.
// A question keeps its words without the image reference ("what is on the desk?"), its family and
// answer type are its question_kind, and its one answer stands for ten agreeing humans (so that
// the VQA accuracy of a prediction is 1 when it is that answer, as the world's questions are). Only
// the images named in `only` ("image3") when it is not empty, none of those in `except`; images in
// the order of their first question, ids their N.
Result<Dataset> load_daquar(const std::string& qa_file, const std::string& image_dir,
                            const std::set<std::string>& only, const std::set<std::string>& except);

// A question's type, as COCO-QA's and DAQUAR's figures are broken down: "number" (how many …),
// "colour" (what colour/color …), "location" (where …), else "object".
std::string question_kind(const std::string& question);

}  // namespace glimpse::data

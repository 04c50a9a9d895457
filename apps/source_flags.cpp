#include "source_flags.h"

#include <nlohmann/json.hpp>

namespace glimpse::app {

void add_source_flags(CLI::App& cmd, SourceFlags& f, const std::string& split) {
  f.split = split;
  cmd.add_option("--data", f.world, "A folder in the layout glimpse world writes");
  cmd.add_option("--flickr8k", f.flickr8k,
                 "A Flickr8k folder: captions.txt (IMAGE.jpg#N<TAB>caption), <split>_images.txt "
                 "and images/");
  cmd.add_option("--daquar", f.daquar,
                 "A DAQUAR folder: qa_train.txt, train_images.txt and images/ (--split train, dev "
                 "or all; dev is every tenth training image)");
  cmd.add_option("--coco-captions", f.coco_captions, "A COCO captions JSON file (with --images)");
  cmd.add_option("--karpathy", f.karpathy, "A Karpathy dataset_*.json file (with --images)");
  cmd.add_option("--vqa-questions", f.vqa_questions,
                 "A VQA v2 questions file (with --vqa-annotations, --images and --image-pattern "
                 "or --coco-images)");
  cmd.add_option("--vqa-annotations", f.vqa_annotations, "A VQA v2 annotations file");
  cmd.add_option("--images", f.images,
                 "Image folder of --coco-captions, --karpathy or --vqa-questions");
  cmd.add_option("--image-pattern", f.image_pattern,
                 "VQA v2: image file names, {id} or {idN} (zero-padded to N digits) for the image "
                 "id, e.g. COCO_val2014_{id12}.jpg");
  cmd.add_option("--coco-images", f.coco_images,
                 "VQA v2: or a COCO captions file whose \"images\" name the files");
  cmd.add_option("--split", f.split, "Split (world, Flickr8k and DAQUAR folders, Karpathy files)")
      ->capture_default_str();
  cmd.add_option("--source", f.source_json,
                 "Or the data source as a recipe writes it, e.g. '{\"format\": \"vqa_v2\", "
                 "\"questions\": \"q.json\", ...}'");
}

Result<data::DataSource> source_from_flags(const SourceFlags& f) {
  const int given = !f.world.empty() + !f.flickr8k.empty() + !f.daquar.empty() +
                    !f.coco_captions.empty() + !f.karpathy.empty() + !f.vqa_questions.empty() +
                    !f.source_json.empty();
  if (given != 1)
    return ErrorInfo{
        ErrorCode::kInvalidArgument,
        "give one dataset: --data DIR (a glimpse world folder), --flickr8k DIR, --daquar DIR, "
        "--coco-captions FILE --images DIR, --karpathy FILE --images DIR, "
        "--vqa-questions FILE --vqa-annotations FILE --images DIR (--image-pattern "
        "P or --coco-images FILE), or --source JSON"};
  nlohmann::json j;
  if (!f.source_json.empty()) {
    j = nlohmann::json::parse(f.source_json, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
      return ErrorInfo{ErrorCode::kInvalidArgument,
                       "--source is not JSON: write it as a recipe's data source, e.g. "
                       "'{\"format\": \"world\", \"dir\": \"world\", \"split\": \"dev\"}'"};
  } else {
    auto put = [&](const char* key, const std::string& value) {
      if (!value.empty())
        j[key] = value;
    };
    j["format"] = !f.world.empty()           ? "world"
                  : !f.flickr8k.empty()      ? "flickr8k"
                  : !f.daquar.empty()        ? "daquar"
                  : !f.coco_captions.empty() ? "coco_captions"
                  : !f.karpathy.empty()      ? "karpathy"
                                             : "vqa_v2";
    const std::string format = j["format"];
    put("dir", !f.world.empty() ? f.world : !f.flickr8k.empty() ? f.flickr8k : f.daquar);
    put("captions", f.coco_captions.empty() ? f.karpathy : f.coco_captions);
    put("questions", f.vqa_questions);
    put("annotations", f.vqa_annotations);
    put("images", f.images);
    put("image_pattern", f.image_pattern);
    put("coco_images", f.coco_images);
    if (format != "coco_captions" && format != "vqa_v2")
      put("split", f.split);
  }
  try {
    return data::source_from_json(j, "the dataset");
  } catch (const Error& e) {
    std::string message = e.what();
    for (const auto& [key, flag] :  // name the flags, not the recipe's keys
         {std::pair{"\"images\"", "--images"}, std::pair{"\"annotations\"", "--vqa-annotations"},
          std::pair{"\"image_pattern\"", "--image-pattern"},
          std::pair{"\"coco_images\"", "--coco-images"}})
      if (f.source_json.empty())
        for (size_t at = message.find(key); at != std::string::npos; at = message.find(key, at))
          message.replace(at, std::string(key).size(), flag);
    return ErrorInfo{e.code(), message};
  }
}

}  // namespace glimpse::app

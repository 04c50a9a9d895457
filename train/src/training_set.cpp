#include "glimpse/train/training_set.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "glimpse/text/sequence.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/train/step_plan.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/vision/mobilenet_v2.h"
#include "glimpse/vision/preprocess.h"

namespace glimpse::train {

namespace {

data::Dataset join(const std::vector<data::DataSource>& sources,
                   std::vector<TrainingSet::Range>* ranges, std::string* name) {
  data::Dataset out;
  for (const auto& source : sources) {
    data::Dataset ds = data::load_source(source).take();
    const size_t begin = out.images.size();
    for (auto& img : ds.images)
      out.images.push_back(std::move(img));
    if (ranges != nullptr)
      ranges->push_back({begin, out.images.size(), source.weight});
    out.name += (out.name.empty() ? "" : " + ") + ds.name;
    if (name != nullptr)
      *name += (name->empty() ? "" : " + ") + data::describe(source);
  }
  return out;
}

// One training image's sequences.
PreparedImage prepare_image(const Recipe& r, const data::ImageEntry& img,
                            const text::Vocabulary& vocab, bool mirrored) {
  PreparedImage p;
  auto add = [&](text::Sequence seq, text::Sequence flipped, PreparedImage::Source source) {
    p.tokens += seq.tokens.size();
    p.sequences.push_back(std::move(seq));
    if (mirrored)
      p.mirrored.push_back(std::move(flipped));
    p.sources.push_back(source);
  };
  const auto max_words = static_cast<size_t>(r.data.max_caption_words);
  const auto per_image = static_cast<size_t>(r.data.captions_per_image);
  const size_t captions =
      per_image > 0 ? std::min(per_image, img.captions.size()) : img.captions.size();
  for (size_t c = 0; r.captions() && c < captions; ++c) {
    const auto words = text::tokenize(img.captions[c].text);
    if (max_words > 0 && words.size() > max_words)
      continue;
    add(text::caption_sequence(vocab, words),
        mirrored ? text::caption_sequence(vocab, mirrored_words(words)) : text::Sequence{},
        {true, c});
  }
  for (size_t q = 0; r.questions() && q < img.questions.size(); ++q) {
    const auto question = text::tokenize(img.questions[q].question);
    const auto answer = text::tokenize(img.questions[q].answer);
    add(text::qa_sequence(vocab, question, answer),
        mirrored ? text::qa_sequence(vocab, mirrored_words(question), mirrored_words(answer))
                 : text::Sequence{},
        {false, q});
  }
  return p;
}

std::string backbone_name(const fusion::CaptionModel& model) {
  const auto& c = model.config();
  return vision::MobileNetV2::features_name(c.mobilenet_output_stride, c.image.width,
                                            c.image.height);
}

}  // namespace

TrainingSet load_training_set(const DataSection& data) {
  TrainingSet t;
  t.set = join(data.train, &t.sources, &t.name);
  const auto keep = static_cast<size_t>(data.max_train_images);
  if (keep > 0 && t.set.images.size() > keep) {
    t.set.images.resize(keep);
    for (auto& r : t.sources) {
      r.begin = std::min(r.begin, keep);
      r.end = std::min(r.end, keep);
    }
  }
  return t;
}

data::Dataset load_dev_set(const DataSection& data) {
  return join(data.dev, nullptr, nullptr);
}

std::vector<size_t> epoch_images(const TrainingSet& set, uint64_t seed, int epoch) {
  std::vector<size_t> out;
  for (size_t s = 0; s < set.sources.size(); ++s) {
    const auto& r = set.sources[s];
    const double whole = std::floor(r.weight);
    for (int k = 0; k < static_cast<int>(whole); ++k)
      for (size_t i = r.begin; i < r.end; ++i)
        out.push_back(i);
    const auto extra =
        static_cast<size_t>(std::llround((r.weight - whole) * double(r.end - r.begin)));
    if (extra == 0)
      continue;
    const auto order = epoch_order(r.end - r.begin, mix(seed, s + 1), epoch);
    for (size_t k = 0; k < extra; ++k)
      out.push_back(r.begin + order[k]);
  }
  return out;
}

std::vector<std::string> mirrored_words(std::vector<std::string> words) {
  for (auto& w : words)
    if (w == "left")
      w = "right";
    else if (w == "right")
      w = "left";
  return words;
}

std::vector<PreparedImage> prepare_images(const Recipe& recipe, const data::Dataset& set,
                                          const fusion::CaptionModel& model, bool mirrored) {
  const bool cached = !recipe.data.features.empty();
  std::vector<PreparedImage> out;
  out.reserve(set.images.size());
  for (const auto& img : set.images) {
    out.push_back(prepare_image(recipe, img, model.vocabulary(), mirrored));
    if (cached)
      continue;
    const cv::Mat full = vision::load_image(img.path).take();
    out.back().size = full.size();
    out.back().image = vision::resize_for_model(full, model.config().image);
  }
  return out;
}

std::vector<FeatureView> open_views(const DataSection& data, const data::Dataset& set,
                                    const fusion::CaptionModel& model) {
  const std::string backbone = backbone_name(model);
  std::vector<FeatureView> views;
  const int64_t channels = model.net().encoder->channels();
  for (const auto& path : data.features) {
    FeatureView v;
    v.cache = data::FeatureCache::open(path).take();
    const auto& info = v.cache->info();
    if (info.backbone != backbone || info.channels != channels)
      throw Error(ErrorCode::kInvalidArgument,
                  "the feature cache '" + path + "' holds " + info.backbone + " features (" +
                      std::to_string(info.channels) + " channels), not the model's " + backbone +
                      " (" + std::to_string(channels) + ")");
    v.rows = data::cache_rows(*v.cache, "'" + path + "'", set, set.images.size());
    views.push_back(std::move(v));
  }
  return views;
}

std::shared_ptr<data::FeatureCache> open_dev_cache(const DataSection& data,
                                                   const fusion::CaptionModel& model) {
  if (data.dev_features.empty())
    return nullptr;
  const std::string backbone = backbone_name(model);
  auto cache = data::FeatureCache::open(data.dev_features).take();
  if (cache->info().backbone != backbone || cache->info().mirrored)
    throw Error(ErrorCode::kInvalidArgument,
                "the dev feature cache '" + data.dev_features + "' holds " +
                    (cache->info().mirrored ? "mirrored " : "") + cache->info().backbone +
                    " features, not the model's " + backbone);
  return cache;
}

}  // namespace glimpse::train

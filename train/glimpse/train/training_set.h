// The images a run trains on: its recipe's data sources read and joined, each image's sequences
// built once (PreparedImage), and the images of each epoch with the sources' weights.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "glimpse/data/datasets.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/train/objective.h"
#include "glimpse/train/parallel_step.h"
#include "glimpse/train/recipe.h"

namespace glimpse::train {

struct TrainingSet {
  data::Dataset set;  // the sources' images, one source after another
  struct Range {
    size_t begin = 0, end = 0;
    double weight = 1.0;
  };
  std::vector<Range> sources;  // where each source's images lie in `set`
  std::string name;            // the sources described, for messages and the model file
};

// The recipe's training sources, read and joined; max_train_images keeps the first N images.
TrainingSet load_training_set(const DataSection& data);
// The recipe's dev sources, read and joined.
data::Dataset load_dev_set(const DataSection& data);

// The images of an epoch, each as often as its source's weight says: a weight of 1 reads every
// image once; the whole part of a weight repeats the source, its fraction adds that share of the
// source's images, chosen from (seed, epoch). With every weight 1: 0..n-1.
std::vector<size_t> epoch_images(const TrainingSet& set, uint64_t seed, int epoch);

// The words of a caption or question as they read for the mirrored image: "left" and "right"
// trade places (flip augmentation).
std::vector<std::string> mirrored_words(std::vector<std::string> words);

// Every training image: its sequences (its first captions_per_image captions, those of at most
// max_caption_words words, then its questions with their answers, as the recipe's tasks say;
// each also read for the mirrored image when `mirrored`), and without feature caches the image
// decoded once at the model's input size.
std::vector<PreparedImage> prepare_images(const Recipe& recipe, const data::Dataset& set,
                                          const fusion::CaptionModel& model, bool mirrored);

// The recipe's feature caches as views of the training set (checked against the model's
// backbone), and its dev cache (none when it names none).
std::vector<FeatureView> open_views(const DataSection& data, const data::Dataset& set,
                                    const fusion::CaptionModel& model);
std::shared_ptr<data::FeatureCache> open_dev_cache(const DataSection& data,
                                                   const fusion::CaptionModel& model);

}  // namespace glimpse::train

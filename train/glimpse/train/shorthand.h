// The flags of `glimpse train` before recipes, kept as a shorthand: they build a recipe
// (recipe.h), so every command written with them still runs.
//
//   TrainOptions o;  o.train_dir = "world";  o.attention_supervision = 4;
//   Recipe r = recipe_from_options(o, model_config);
//
// Runs started with these flags before recipes recorded them flat in their checkpoints; such a
// checkpoint resumes when the same flags are given again (legacy_run / check_legacy_run).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "glimpse/fusion/model_config.h"
#include "glimpse/train/recipe.h"

namespace glimpse::train {

struct TrainOptions {
  std::string
      train_dir;  // a world-layout folder (captions_/questions_/annotations_<split>.json, images/)
  // Or a Flickr8k folder (captions.txt, <split>_images.txt, images/), as ../shared has it.
  std::string flickr8k_dir;
  std::string train_split = "train";
  int max_train_images = 0;  // train on the first N images only (0 = all)
  std::string dev_dir;       // default: train_dir (or flickr8k_dir)
  std::string dev_split = "dev";
  std::string out = "model.safetensors";
  std::string checkpoint_dir;  // default: out + ".ckpt"
  std::string log;             // JSONL log; default: out + ".log.jsonl"
  int epochs = 10;
  int batch_size = 32;  // sequences per step (whole images: all of an image's captions
                        // and questions go into one step)
  double lr = 1e-3;
  int warmup_steps = 100;          // linear warm-up, then cosine decay to 5% of lr
  double clip = 5.0;               // gradient norm clipping (0 = off)
  double doubly_stochastic = 1.0;  // λ of Show, Attend and Tell's regulariser (LSTM decoders),
                                   // averaged over grid cells as in its PyTorch reimplementation
  // Weight of attention supervision (Liu et al. 2017, "Attention Correctness in Neural Image
  // Captioning"): words with object boxes are pulled toward the cells under the box. 0 = off.
  double attention_supervision = 0;
  // Weight of word grounding: a linear probe on the encoder's grid scores every cell for each
  // word that has an object box, and a softmax over the cells is pulled onto the box (as
  // attention supervision is, but from the word alone), so the encoder learns features that
  // tell apart what the words name before the decoder has learnt to ask. The probe is a
  // training aid: it is checkpointed, not saved in the model. Needs images and word boxes. 0 = off.
  double grounding = 0;
  // Both pull attention toward each cell in proportion to coverage^power, coverage being the
  // share of the cell inside the box: 1 spreads it over every cell the box touches, larger
  // powers concentrate it on the cells that lie inside the object.
  double target_power = 1.0;
  // Attention supervision of the map averaged over layers and heads (false, Liu et al.'s one
  // map), or of every layer's every head on its own (true), so that no head answers from
  // elsewhere.
  bool supervise_each_head = false;
  // With supervise_each_head: answers about several objects (counts, relations) keep the
  // averaged map, so heads may split between the objects.
  bool heads_may_split = false;
  // Relation questions (the shapes world's family "relation", whose two boxes come in the order
  // the question names the objects) hold the first half of every layer's heads on the first
  // object and the other half on the second, each head scored on its own, so that the answer
  // reads the two positions apart instead of their average. Needs a decoder of 2 heads or more.
  bool pair_heads = false;
  // Questions whose answer is found from another object they name (the shapes world's
  // what-left: the answer is the named object's left neighbour; its box comes as the
  // question's reference box) hold the first layer's heads on the named object and the later
  // layers' on the answer, so that the first layer finds the reference and the next looks
  // beside it. Needs a decoder of 2 layers or more.
  bool reference_first = false;
  // Attention supervision also holds the attention read at the last word of each question
  // phrase that names one object (the shapes world's mentions: "the red square") on that
  // object, so the decoder finds what the question names while reading it, and the answer can
  // draw on it. (An LSTM's attention is queried before it reads a word: there it is the
  // attention at the word after the phrase.)
  bool supervise_mentions = false;
  // Count questions (the shapes world's family "count") hold the answer's attention on the
  // cell under each counted object's centre, every object an equal share, so that each object
  // weighs the same in the attention whatever its size; with a sink (+sink) the sink's share
  // then says how many (1 / (1 + k·S) for k objects).
  bool count_centres = false;
  bool captions = true;   // train on captions
  bool questions = true;  // train on questions
  int min_count = 1;      // vocabulary threshold
  uint64_t seed = 1;
  int checkpoint_every = 200;  // steps (and at every epoch end)
  int eval_images = 300;       // dev images used by the per-epoch evaluation
  bool resume = false;
  // Feature caches of the training split (glimpse features): the decoder trains on them with
  // the backbone frozen, and no image is decoded. A cache of mirrored images (features --mirror)
  // is flip augmentation: each epoch every image reads one of the caches, chosen from (seed,
  // epoch, image), with "left" and "right" swapped in its captions when mirrored.
  std::vector<std::string> features;
  std::string dev_features;  // the dev split's cache, for the per-epoch evaluation
  // MobileNetV2 ImageNet weights (with their preprocessing metadata) a new mobilenet_v2 encoder
  // starts from; a LICENSE.mobilenet_v2 beside them goes into the model's notice.
  std::string backbone_weights;
  int max_caption_words = 0;  // train on captions of at most this many words (0 = all)
  std::string command;        // recorded in the model file
  // Data parallelism: each step's images are cut into this many parts of about equal numbers
  // of sequences, whose decoder passes run at once on a thread each (one LibTorch thread
  // apiece), their gradients summed in a fixed order; the encoder runs on the whole step.
  // 0 = as many as LibTorch's threads; 1 = none. The losses are the same means over the whole
  // step whatever the count.
  int data_parallel = 0;
  // Stop (as if killed, after a checkpoint) after this many steps of this run; 0 = run to the end.
  int stop_after_steps = 0;
};

// The recipe the flags stand for: one source (a world folder or a Flickr8k folder) and its dev
// split, the model (its tasks from captions/questions), and the objectives the loss flags name.
// Throws glimpse::Error naming a flag that needs another.
Recipe recipe_from_options(const TrainOptions& options, const fusion::ModelConfig& config);

// The options as checkpoints before recipes recorded them (data_parallel resolved).
nlohmann::json legacy_run(const TrainOptions& options);

// Refuses a resumption whose flags differ from what such a checkpoint recorded (one missing
// from it was made with its default), naming the option and both values.
void check_legacy_run(const nlohmann::json& was, const nlohmann::json& now,
                      const std::string& checkpoint_dir);

}  // namespace glimpse::train

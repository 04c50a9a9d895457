#include "glimpse/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <tuple>

#include "glimpse/core/file_util.h"
#include "glimpse/core/parallel.h"
#include "glimpse/core/safetensors.h"
#include "glimpse/fusion/attention.h"
#include "glimpse/fusion/overlay.h"
#include "glimpse/text/caption_metrics.h"
#include "glimpse/text/decoder.h"
#include "glimpse/text/sequence.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/text/vqa_accuracy.h"
#include "glimpse/train/checkpoint.h"
#include "glimpse/train/step_plan.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/vision/imagenet.h"
#include "glimpse/vision/mobilenet_v2.h"
#include "glimpse/vision/preprocess.h"

namespace glimpse::train {

using nlohmann::json;
namespace fs = std::filesystem;

torch::Tensor attention_supervision_loss(const std::vector<torch::Tensor>& attention,
                                         const torch::Tensor& rows, const torch::Tensor& positions,
                                         const torch::Tensor& targets,
                                         const torch::Tensor& each_head) {
  TORCH_CHECK(!attention.empty() && (targets.dim() == 2 || targets.dim() == 3) &&
                  each_head.size(0) == targets.size(0),
              "attention supervision needs maps and one flag a target");
  // Every layer's every head, [P, layers * heads, N].
  std::vector<torch::Tensor> maps;
  for (const auto& a : attention)  // [B, heads, L, N]
    maps.push_back(a.index({rows, torch::indexing::Slice(), positions}));
  const auto picked = torch::cat(maps, 1);
  const auto per_target = targets.dim() == 3 ? targets : targets.unsqueeze(1);  // [P, 1 or LH, N]
  TORCH_CHECK(per_target.size(1) == 1 || per_target.size(1) == picked.size(1),
              "attention supervision: ", per_target.size(1), " head targets for ", picked.size(1),
              " heads");
  const auto per_head = -(per_target * torch::log(picked + 1e-8)).sum(2).mean(1);  // [P]
  // The map the evaluation reads, averaged over layers and heads (layers hold the same number).
  const auto mean = -(per_target.mean(1) * torch::log(picked.mean(1) + 1e-8)).sum(1);  // [P]
  return torch::where(each_head, per_head, mean).mean();
}

std::vector<cv::Rect> centre_points(std::vector<cv::Rect> boxes) {
  for (auto& b : boxes)
    b = cv::Rect(b.x + b.width / 2, b.y + b.height / 2, 1, 1);
  return boxes;
}

std::vector<int64_t> mention_positions(
    const std::vector<std::string>& words,
    const std::vector<std::pair<std::string, cv::Rect>>& mentions, bool lstm) {
  // Question word j is read at position 2 + j (after <bos> <question>). A Transformer queries
  // that position's attention with the word itself; an LSTM (Show, Attend and Tell) with the
  // state before it, so there a mention is held from the position after it.
  std::vector<int64_t> out;
  size_t from = 0;
  for (const auto& m : mentions) {
    const auto said = text::tokenize(m.first);
    const auto at = said.empty() ? words.end()
                                 : std::search(words.begin() + static_cast<std::ptrdiff_t>(from),
                                               words.end(), said.begin(), said.end());
    if (at == words.end()) {
      out.push_back(-1);
      continue;
    }
    from = static_cast<size_t>(at - words.begin()) + said.size();
    out.push_back(static_cast<int64_t>(2 + from - 1) + (lstm ? 1 : 0));
  }
  return out;
}

torch::Tensor head_targets(const std::vector<HeadTarget>& targets,
                           const std::vector<torch::Tensor>& attention) {
  TORCH_CHECK(!targets.empty() && !attention.empty(), "head_targets needs targets and maps");
  const bool any_split = std::any_of(targets.begin(), targets.end(),
                                     [](const HeadTarget& t) { return t.second.defined(); });
  std::vector<torch::Tensor> rows;
  rows.reserve(targets.size());
  if (!any_split) {
    for (const auto& t : targets)
      rows.push_back(t.first);
    return torch::stack(rows);  // [P, N]
  }
  // Which of the layer-major heads take the second map: the upper half of each layer's heads,
  // or every head of the layers after the first.
  std::vector<int64_t> upper_half, later_layers;
  for (size_t l = 0; l < attention.size(); ++l) {  // [B, heads, L, N]
    const int64_t h = attention[l].size(1);
    for (int64_t k = 0; k < h; ++k) {
      upper_half.push_back(k >= h / 2 ? 1 : 0);
      later_layers.push_back(l > 0 ? 1 : 0);
    }
  }
  auto mask = [](const std::vector<int64_t>& m) {
    return torch::tensor(m, torch::kLong).to(torch::kBool).unsqueeze(1);  // [LH, 1]
  };
  const auto by_head = mask(upper_half), by_layer = mask(later_layers);
  const int64_t heads = by_head.size(0);
  for (const auto& t : targets) {
    const auto first = t.first.unsqueeze(0).expand({heads, t.first.size(0)});
    if (!t.second.defined()) {
      rows.push_back(first);
      continue;
    }
    if (t.by_layer) {
      TORCH_CHECK(attention.size() >= 2, "a target split by layer needs 2 layers or more, not ",
                  attention.size());
    } else {
      for (const auto& a : attention)
        TORCH_CHECK(a.size(1) >= 2,
                    "a target split by head needs 2 heads or more in every "
                    "layer, not ",
                    a.size(1));
    }
    rows.push_back(torch::where(t.by_layer ? by_layer : by_head, t.second.unsqueeze(0), first));
  }
  return torch::stack(rows);  // [P, layers * heads, N]
}

double learning_rate(const TrainOptions& o, int64_t step, int64_t total) {
  if (o.warmup_steps > 0 && step < o.warmup_steps)
    return o.lr * double(step + 1) / o.warmup_steps;
  const double t = total > o.warmup_steps + 1
                       ? double(step - o.warmup_steps) / double(total - o.warmup_steps - 1)
                       : 1.0;
  return o.lr * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * std::min(1.0, t))));
}

namespace {

// One part of a step (data parallelism): its images are the step's [first, first + images).
struct Shard {
  int64_t first = 0, images = 0;
  std::vector<text::Sequence> seqs;
  std::vector<int64_t> image_index;  // per sequence, within the part
  std::vector<int64_t> sup_row, sup_pos, sup_each;
  std::vector<HeadTarget> sup_target;
  text::SequenceBatch batch;
  double words = 0;  // target words
};

json run_options(const TrainOptions& o) {
  return json{{"epochs", o.epochs},
              {"batch_size", o.batch_size},
              {"lr", o.lr},
              {"warmup_steps", o.warmup_steps},
              {"seed", o.seed},
              {"max_train_images", o.max_train_images},
              {"captions", o.captions},
              {"questions", o.questions},
              {"train_dir", o.train_dir},
              {"flickr8k_dir", o.flickr8k_dir},
              {"features", o.features},
              {"max_caption_words", o.max_caption_words},
              {"grounding", o.grounding},
              {"target_power", o.target_power},
              {"supervise_each_head", o.supervise_each_head},
              {"heads_may_split", o.heads_may_split},
              {"pair_heads", o.pair_heads},
              {"reference_first", o.reference_first},
              {"supervise_mentions", o.supervise_mentions},
              {"count_centres", o.count_centres},
              {"train_split", o.train_split}};
}

data::Dataset load_split(const TrainOptions& o, const std::string& dir, const std::string& split) {
  if (!o.flickr8k_dir.empty())
    return data::load_flickr8k(dir + "/captions.txt", dir + "/" + split + "_images.txt",
                               dir + "/images")
        .take();
  return data::load_world_folder(dir, split).take();
}

}  // namespace

std::vector<std::string> mirrored_words(std::vector<std::string> words) {
  for (auto& w : words)
    if (w == "left")
      w = "right";
    else if (w == "right")
      w = "left";
  return words;
}

Result<TrainReport> train(const TrainOptions& o, fusion::ModelConfig config,
                          const std::function<void(const Progress&)>& on_progress,
                          const std::function<void(int, const EvalReport&, bool)>& on_epoch) {
  return catch_as_result([&] {
    if (o.epochs < 1 || o.batch_size < 1 || !(o.lr > 0))
      throw Error(ErrorCode::kInvalidArgument, "--epochs, --batch-size and --lr must be positive");
    if (!o.captions && !o.questions)
      throw Error(ErrorCode::kInvalidArgument, "train on captions, questions or both");
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] {  // seconds of this run
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const std::string ckpt_dir = o.checkpoint_dir.empty() ? o.out + ".ckpt" : o.checkpoint_dir;
    const std::string log_path = o.log.empty() ? o.out + ".log.jsonl" : o.log;
    if (o.train_dir.empty() == o.flickr8k_dir.empty())
      throw Error(ErrorCode::kInvalidArgument,
                  "give one training set: a glimpse world folder (--data) or a Flickr8k folder "
                  "(--flickr8k)");
    const std::string train_root = o.flickr8k_dir.empty() ? o.train_dir : o.flickr8k_dir;
    data::Dataset train_set = load_split(o, train_root, o.train_split);
    if (o.max_train_images > 0 && train_set.images.size() > static_cast<size_t>(o.max_train_images))
      train_set.images.resize(static_cast<size_t>(o.max_train_images));
    const data::Dataset dev_set =
        load_split(o, o.dev_dir.empty() ? train_root : o.dev_dir, o.dev_split);
    const bool cached = !o.features.empty();
    if (cached && config.encoder != "mobilenet_v2")
      throw Error(ErrorCode::kInvalidArgument,
                  "feature caches are MobileNetV2 features: train them with --encoder "
                  "mobilenet_v2");
    if (cached && config.mobilenet_trainable_from < vision::MobileNetV2::kBlocks)
      throw Error(ErrorCode::kInvalidArgument,
                  "feature caches hold a frozen backbone's output: they cannot train its blocks "
                  "(fine-tune from the images, without --features)");
    if (cached && (o.attention_supervision > 0 || o.grounding > 0))
      throw Error(ErrorCode::kInvalidArgument,
                  std::string(o.grounding > 0 ? "word grounding" : "attention supervision") +
                      " needs object boxes and images, not feature caches");
    // The options that shape attention supervision need it on.
    for (const auto& [on, name, what] :
         {std::tuple{o.pair_heads, "--pair-heads", "divides attention supervision between heads"},
          std::tuple{o.reference_first, "--reference-first",
                     "divides attention supervision between layers"},
          std::tuple{o.supervise_mentions, "--supervise-mentions",
                     "is a part of attention supervision"},
          std::tuple{o.count_centres, "--count-centres", "is a part of attention supervision"}})
      if (on && o.attention_supervision <= 0)
        throw Error(
            ErrorCode::kInvalidArgument,
            std::string(name) + " " + what + ": give --attention-supervision a weight above 0");
    if (o.pair_heads) {
      const auto spec = fusion::parse_attention_spec(config.attention());
      if (spec.ok() && spec.value().heads < 2)
        throw Error(ErrorCode::kInvalidArgument,
                    "--pair-heads needs an attention of 2 heads or more, and '" +
                        config.attention() + "' has 1 (try --attention cross:4)");
    }
    if (o.reference_first) {
      const int64_t layers = config.decoder == "lstm" ? 1 : config.transformer.layers;
      if (layers < 2)
        throw Error(ErrorCode::kInvalidArgument,
                    "--reference-first needs a decoder of 2 layers or more (a transformer with "
                    "--layers 2), and this one has 1");
    }
    if (!o.dev_features.empty() && !cached)
      throw Error(ErrorCode::kInvalidArgument,
                  "--dev-features goes with --features (the training split's caches)");

    // The model: from the latest checkpoint, or new with a vocabulary from the training data.
    std::shared_ptr<fusion::CaptionModel> model;
    Position pos;
    pos.run = run_options(o);
    const std::string resume_from = o.resume ? latest_checkpoint(ckpt_dir) : "";
    if (o.resume && resume_from.empty())
      throw Error(ErrorCode::kNotFound,
                  "--resume: no checkpoint in '" + ckpt_dir + "' (is --out the same as before?)");
    if (!resume_from.empty()) {
      model = fusion::CaptionModel::load(resume_from + "/model.safetensors").take();
      const json now = pos.run;
      pos = read_position(resume_from);
      // A checkpoint written before an option existed was made with that option's default.
      check_same_run(pos.run, now, run_options(TrainOptions{}), ckpt_dir);
      pos.run = now;
    } else {
      std::vector<std::vector<std::string>> sentences;
      for (const auto& img : train_set.images) {
        if (o.captions)
          for (const auto& c : img.captions)
            sentences.push_back(text::tokenize(c.text));
        if (o.questions)
          for (const auto& q : img.questions) {
            sentences.push_back(text::tokenize(q.question));
            sentences.push_back(text::tokenize(q.answer));
          }
      }
      config.vocabulary = text::Vocabulary::build(sentences, o.min_count).words();
      config.training["data"] = train_root + " (" + o.train_split + ")";
      std::optional<core::SafetensorsFile> backbone;
      if (config.encoder == "mobilenet_v2") {
        if (o.backbone_weights.empty())
          throw Error(ErrorCode::kInvalidArgument,
                      "a mobilenet_v2 encoder starts from ImageNet weights: give their file");
        backbone = core::SafetensorsFile::open(o.backbone_weights).take();
        config.image = vision::preprocess_from_metadata(*backbone).take();
        const fs::path license =
            fs::path(o.backbone_weights).parent_path() / "LICENSE.mobilenet_v2";
        config.notice =
            "The image encoder's weights derive from Google's MobileNetV2 ImageNet weights "
            "(mobilenet_v2_1.0_224), licensed under the Apache License, Version 2.0 "
            "(http://www.apache.org/licenses/LICENSE-2.0); the decoder was trained by glimpse.";
        if (fs::exists(license))
          config.notice += "\n\n" + core::read_file(license.string());
      }
      torch::manual_seed(o.seed);
      model = fusion::CaptionModel::create(config).take();
      if (backbone) {
        auto& mobilenet = dynamic_cast<vision::MobileNetV2&>(*model->net().encoder);
        if (auto st = mobilenet.load(*backbone); !st)
          throw Error(st.error().code, "'" + o.backbone_weights + "': " + st.error().message);
      }
    }
    auto& net = model->net();
    const auto& vocab = model->vocabulary();

    // Images at the model's input size, decoded once.
    std::vector<cv::Mat> images;
    std::vector<cv::Size> sizes;
    images.reserve(train_set.images.size());
    // Or their features, from each cache (a view of the split: plain or mirrored).
    struct View {
      std::shared_ptr<data::FeatureCache> cache;
      std::vector<size_t> rows;  // per training image
    };
    std::vector<View> views;
    bool any_mirrored = false;
    const std::string backbone_name = vision::MobileNetV2::features_name(
        model->config().mobilenet_output_stride, model->config().image.width,
        model->config().image.height);
    for (const auto& path : o.features) {
      View v;
      v.cache = data::FeatureCache::open(path).take();
      const auto& info = v.cache->info();
      if (info.backbone != backbone_name || info.channels != net.encoder->channels())
        throw Error(ErrorCode::kInvalidArgument,
                    "the feature cache '" + path + "' holds " + info.backbone + " features (" +
                        std::to_string(info.channels) + " channels), not the model's " +
                        backbone_name + " (" + std::to_string(net.encoder->channels()) + ")");
      v.rows = data::cache_rows(*v.cache, "'" + path + "'", train_set, train_set.images.size());
      any_mirrored = any_mirrored || info.mirrored;
      views.push_back(std::move(v));
    }
    std::shared_ptr<data::FeatureCache> dev_cache;
    if (!o.dev_features.empty()) {
      dev_cache = data::FeatureCache::open(o.dev_features).take();
      if (dev_cache->info().backbone != backbone_name || dev_cache->info().mirrored)
        throw Error(ErrorCode::kInvalidArgument,
                    "the dev feature cache '" + o.dev_features + "' holds " +
                        (dev_cache->info().mirrored ? "mirrored " : "") +
                        dev_cache->info().backbone + " features, not the model's " + backbone_name);
    }
    for (const auto& img : train_set.images) {
      if (cached)
        break;
      const cv::Mat full = vision::load_image(img.path).take();
      sizes.push_back(full.size());
      images.push_back(vision::resize_for_model(full, model->config().image));
    }
    // Attention supervision (Liu et al. 2017): for each generated word that names an object,
    // the target is the grid cells under the object's box, weighted by how much of each the box
    // covers. Per image: the distinct targets [K, N]; per sequence: (position, target) pairs.
    const bool supervise = o.attention_supervision > 0;
    const bool ground = o.grounding > 0;
    cv::Size grid;
    if (supervise || ground) {
      torch::NoGradGuard no_grad;
      net.eval();
      const auto g = net.encode(vision::to_batch({images[0]}, model->config().image));
      grid = cv::Size(static_cast<int>(g.grid_w), static_cast<int>(g.grid_h));
    }
    std::vector<torch::Tensor> targets(train_set.images.size());
    std::vector<std::vector<bool>> single_object(train_set.images.size());  // per target
    std::vector<std::vector<int64_t>> grounding_words(train_set.images.size());
    std::vector<std::vector<torch::Tensor>> grounding_rows(train_set.images.size());
    size_t grounded_images = 0;
    // A supervised position of a sequence and its target: row `first` of the image's targets
    // for every head, or `first` for the first part of the heads and `second` for the rest (see
    // HeadTarget): a relation's two objects with pair_heads, split by head; a reference and the
    // answer with reference_first, split by layer.
    struct Supervised {
      int64_t position, first, second = -1;
      bool by_layer = false;
    };
    std::vector<std::vector<std::vector<Supervised>>> supervised(train_set.images.size());
    // The attention target of image i's boxes over the grid cells, [N], summing to 1 (or 0).
    auto target_over_cells = [&](size_t i, const std::vector<cv::Rect>& boxes) {
      const cv::Mat t = fusion::attention_target(
          fusion::cell_coverage(grid, sizes[i], model->config().image, boxes), o.target_power);
      return torch::from_blob(const_cast<float*>(t.ptr<float>()), {static_cast<int64_t>(t.total())},
                              torch::kFloat32)
          .clone();
    };
    auto target_of = [](std::vector<std::vector<cv::Rect>>& seen,
                        const std::vector<cv::Rect>& boxes) -> int64_t {
      for (size_t k = 0; k < seen.size(); ++k)
        if (seen[k] == boxes)
          return static_cast<int64_t>(k);
      seen.push_back(boxes);
      return static_cast<int64_t>(seen.size() - 1);
    };
    // Every caption and question of an image goes into the same step, so the step encodes each
    // image once. An epoch shuffles the images (the order depends only on seed and epoch) and
    // cuts them into steps of at least batch_size sequences.
    std::vector<std::vector<text::Sequence>> per_image(train_set.images.size());
    std::vector<std::vector<text::Sequence>> per_image_mirrored(
        any_mirrored ? train_set.images.size() : 0);
    size_t sequences = 0;
    for (size_t i = 0; i < train_set.images.size(); ++i) {
      const auto& img = train_set.images[i];
      std::vector<std::vector<cv::Rect>> seen;
      if (o.captions)
        for (const auto& c : img.captions) {
          const auto words = text::tokenize(c.text);
          if (o.max_caption_words > 0 && words.size() > static_cast<size_t>(o.max_caption_words))
            continue;
          per_image[i].push_back(text::caption_sequence(vocab, words));
          if (any_mirrored)
            per_image_mirrored[i].push_back(text::caption_sequence(vocab, mirrored_words(words)));
          supervised[i].emplace_back();
          if (supervise && c.word_boxes.size() == words.size())
            for (size_t w = 0; w < words.size(); ++w)
              if (c.word_boxes[w])
                supervised[i].back().push_back(
                    {static_cast<int64_t>(per_image[i].back().prefix_len + w - 1),
                     target_of(seen, {*c.word_boxes[w]})});
        }
      if (o.questions)
        for (const auto& q : img.questions) {
          const auto question = text::tokenize(q.question);
          const auto answer = text::tokenize(q.answer);
          per_image[i].push_back(text::qa_sequence(vocab, question, answer));
          if (any_mirrored)
            per_image_mirrored[i].push_back(
                text::qa_sequence(vocab, mirrored_words(question), mirrored_words(answer)));
          supervised[i].emplace_back();
          if (supervise && o.supervise_mentions) {
            const auto positions =
                mention_positions(question, q.mentions, model->config().decoder == "lstm");
            for (size_t k = 0; k < positions.size(); ++k) {
              if (positions[k] < 0)
                throw Error(ErrorCode::kInvalidArgument,
                            "question " + std::to_string(q.question_id) + " of '" + train_root +
                                "': its mention \"" + q.mentions[k].first + "\" is not in \"" +
                                q.question + "\" (after the mentions before it)");
              supervised[i].back().push_back(
                  {positions[k], target_of(seen, {q.mentions[k].second})});
            }
          }
          const bool pair = o.pair_heads && q.family == "relation" && q.boxes.size() == 2;
          const bool hop = o.reference_first && !q.reference_boxes.empty();
          const std::vector<cv::Rect> boxes =
              o.count_centres && q.family == "count" ? centre_points(q.boxes) : q.boxes;
          if (supervise && !boxes.empty())
            for (size_t w = 0; w < answer.size(); ++w) {
              const auto position = static_cast<int64_t>(per_image[i].back().prefix_len + w - 1);
              if (pair)
                supervised[i].back().push_back({position, target_of(seen, {q.boxes[0]}),
                                                target_of(seen, {q.boxes[1]}), false});
              else if (hop)
                supervised[i].back().push_back(
                    {position, target_of(seen, q.reference_boxes), target_of(seen, q.boxes), true});
              else
                supervised[i].back().push_back({position, target_of(seen, boxes)});
            }
        }
      if (ground) {
        // Word grounding targets: each boxed word of the captions, with the union of its boxes.
        std::map<int64_t, std::vector<cv::Rect>> boxes_of;
        for (const auto& c : img.captions) {
          const auto words = text::tokenize(c.text);
          if (c.word_boxes.size() != words.size())
            continue;
          for (size_t w = 0; w < words.size(); ++w) {
            const int64_t id = vocab.id(words[w]);
            if (!c.word_boxes[w] || id == text::kUnk)
              continue;
            auto& boxes = boxes_of[id];
            if (std::find(boxes.begin(), boxes.end(), *c.word_boxes[w]) == boxes.end())
              boxes.push_back(*c.word_boxes[w]);
          }
        }
        for (const auto& [id, boxes] : boxes_of) {
          auto row = target_over_cells(i, boxes);
          if (row.sum().item<double>() <= 0)
            continue;
          grounding_words[i].push_back(id);
          grounding_rows[i].push_back(row);
        }
        grounded_images += grounding_words[i].empty() ? 0 : 1;
      }
      if (!seen.empty()) {
        std::vector<torch::Tensor> rows;
        for (const auto& boxes : seen) {
          rows.push_back(target_over_cells(i, boxes));
          single_object[i].push_back(boxes.size() == 1);
        }
        targets[i] = torch::stack(rows);  // [K, N]
      }
      sequences += per_image[i].size();
    }
    if (sequences == 0)
      throw Error(ErrorCode::kInvalidArgument, "'" + o.train_dir + "' has nothing to train on");
    std::vector<size_t> image_tokens(per_image.size(), 0);  // the work of an image's sequences
    for (size_t i = 0; i < per_image.size(); ++i)
      for (const auto& seq : per_image[i])
        image_tokens[i] += seq.tokens.size();
    if (ground && grounded_images == 0)
      throw Error(ErrorCode::kInvalidArgument,
                  "--grounding needs captions whose words carry object boxes (as glimpse world "
                  "exports them); '" +
                      train_root + "' has none");
    std::vector<size_t> image_sequences(per_image.size());
    for (size_t i = 0; i < per_image.size(); ++i)
      image_sequences[i] = per_image[i].size();
    auto epoch_steps = [&](int epoch) {
      return train::epoch_steps(image_sequences, o.batch_size, o.seed, epoch);
    };
    int64_t total_steps = 0;
    for (int e = 0; e < o.epochs; ++e)
      total_steps += static_cast<int64_t>(epoch_steps(e).size());

    std::vector<torch::Tensor> params;
    for (auto& p : net.parameters())
      if (p.requires_grad())
        params.push_back(p);
    // The grounding probe: one vector per word over the encoder's channels, [V, C].
    torch::Tensor probe;
    if (ground) {
      probe = torch::randn({static_cast<int64_t>(vocab.size()), net.encoder->channels()}) /
              std::sqrt(double(net.encoder->channels()));
      if (!resume_from.empty())
        torch::load(probe, resume_from + "/grounding.pt");
      probe.set_requires_grad(true);
      params.push_back(probe);
    }
    const std::vector<torch::Tensor> net_params(
        params.begin(), params.begin() + (ground ? params.size() - 1 : params.size()));
    torch::optim::Adam opt(params, torch::optim::AdamOptions(o.lr));
    // Data parallelism: every step's decoder work cut into this many parts, run at once.
    const int shards = o.data_parallel > 0 ? o.data_parallel : torch::get_num_threads();
    if (!resume_from.empty())
      restore_optimizer_and_rng(resume_from, opt);

    std::ofstream log(log_path, std::ios::app);
    TrainReport report;
    report.best_epoch = pos.best_epoch;
    int64_t run_steps = 0;
    const bool lstm = model->config().decoder == "lstm";
    auto last = std::chrono::steady_clock::now();
    double step_seconds = 0;
    for (int epoch = pos.epoch; epoch < o.epochs; ++epoch) {
      const auto steps = epoch_steps(epoch);
      const auto steps_per_epoch = static_cast<int64_t>(steps.size());
      for (int64_t step = (epoch == pos.epoch ? pos.step_in_epoch : 0); step < steps_per_epoch;
           ++step) {
        const auto step_start = std::chrono::steady_clock::now();
        const auto& step_images = steps[static_cast<size_t>(step)];
        // The step's images cut into parts of about equal numbers of tokens, one per shard.
        size_t step_sequences = 0;
        std::vector<size_t> step_tokens;
        for (size_t i : step_images) {
          step_sequences += per_image[i].size();
          step_tokens.push_back(image_tokens[i]);
        }
        const size_t parts = std::min(static_cast<size_t>(shards), step_images.size());
        const auto part_of = step_parts(step_tokens, parts);
        std::vector<Shard> shard(parts);
        std::vector<cv::Mat> batch_images;
        std::vector<torch::Tensor> batch_features;
        std::vector<int64_t> ground_image, ground_word;
        std::vector<torch::Tensor> ground_target;
        for (size_t j = 0; j < step_images.size(); ++j) {
          const size_t i = step_images[j];
          Shard& s = shard[part_of[j]];
          if (s.images == 0)
            s.first = static_cast<int64_t>(j);
          for (size_t g = 0; ground && g < grounding_words[i].size(); ++g) {
            ground_image.push_back(static_cast<int64_t>(j));
            ground_word.push_back(grounding_words[i][g]);
            ground_target.push_back(grounding_rows[i][g]);
          }
          bool mirrored = false;
          if (cached) {
            const size_t v = mix(mix(o.seed, static_cast<uint64_t>(epoch)), i) % views.size();
            batch_features.push_back(views[v].cache->get(views[v].rows[i]));
            mirrored = views[v].cache->info().mirrored;
          } else {
            batch_images.push_back(images[i]);
          }
          const auto& sequences_of = mirrored ? per_image_mirrored[i] : per_image[i];
          for (size_t q = 0; q < sequences_of.size(); ++q) {
            for (const auto& t : supervised[i][q]) {
              s.sup_row.push_back(static_cast<int64_t>(s.seqs.size()));
              s.sup_pos.push_back(t.position);
              if (t.second < 0) {
                s.sup_target.push_back({targets[i][t.first], torch::Tensor(), false});
                s.sup_each.push_back(o.supervise_each_head &&
                                     (!o.heads_may_split || single_object[i][t.first]));
              } else {
                s.sup_target.push_back({targets[i][t.first], targets[i][t.second], t.by_layer});
                s.sup_each.push_back(1);  // the parts only mean something head by head
              }
            }
            s.seqs.push_back(sequences_of[q]);
            s.image_index.push_back(s.images);
          }
          ++s.images;
        }
        // Each loss is a mean over the whole step (of target words, supervised positions,
        // sequences), so a part's share of it is weighted by its share of what is averaged.
        double words = 0, positions = 0;
        for (auto& s : shard) {
          s.batch = text::collate(s.seqs);
          s.words = s.batch.loss_mask.sum().item<double>();
          words += s.words;
          positions += static_cast<double>(s.sup_row.size());
        }
        net.train();
        torch::Tensor features;  // [I, N, C]
        text::AttentionContext grid_of;
        if (cached) {
          features = torch::stack(batch_features);
          grid_of.grid_h = views[0].cache->info().grid_h;
          grid_of.grid_w = views[0].cache->info().grid_w;
        } else {
          const auto g = net.encode(vision::to_batch(batch_images, model->config().image));
          features = g.features;
          grid_of.grid_h = g.grid_h;
          grid_of.grid_w = g.grid_w;
        }
        // The decoder runs on each part at once, from its images' features cut off the
        // encoder's graph; the encoder's gradient is then taken once, from theirs.
        const bool encoder_learns = features.requires_grad();
        std::vector<std::vector<torch::Tensor>> shard_grads(parts);
        std::vector<double> shard_loss(parts, 0.0);
        core::run_parallel(static_cast<int>(parts), [&](int part) {
          Shard& s = shard[static_cast<size_t>(part)];
          // Dropout draws from (seed, step, part): the same masks whichever thread runs first.
          core::ThreadGenerator rng(mix(mix(o.seed, static_cast<uint64_t>(pos.global_step)),
                                        static_cast<uint64_t>(part)));
          auto f = features.narrow(0, s.first, s.images);
          if (encoder_learns)
            f = f.detach().requires_grad_(true);
          const auto out = net.decoder->forward(f, torch::tensor(s.image_index, torch::kLong),
                                                grid_of, s.batch.input);
          auto loss = text::masked_cross_entropy(out.logits, s.batch.target, s.batch.loss_mask) *
                      (s.words / words);
          if (lstm && o.doubly_stochastic > 0)
            loss = loss + o.doubly_stochastic *
                              text::doubly_stochastic_penalty(out.attention[0], s.batch.loss_mask) /
                              static_cast<double>(out.attention[0].size(-1)) *
                              (static_cast<double>(s.seqs.size()) / step_sequences);
          if (supervise && !s.sup_row.empty())
            loss = loss + o.attention_supervision *
                              attention_supervision_loss(
                                  out.attention, torch::tensor(s.sup_row, torch::kLong),
                                  torch::tensor(s.sup_pos, torch::kLong),
                                  head_targets(s.sup_target, out.attention),
                                  torch::tensor(s.sup_each, torch::kLong).to(torch::kBool)) *
                              (static_cast<double>(s.sup_row.size()) / positions);
          auto inputs = net_params;
          if (encoder_learns)
            inputs.push_back(f);
          shard_grads[static_cast<size_t>(part)] =
              torch::autograd::grad({loss}, inputs, {}, false, false, /*allow_unused=*/true);
          shard_loss[static_cast<size_t>(part)] = loss.item<double>();
        });
        opt.zero_grad();
        double step_loss = 0;
        for (double l : shard_loss)
          step_loss += l;
        // The encoder (and the grounding probe) from the parts' feature gradients.
        std::vector<torch::Tensor> roots, root_grads;
        if (encoder_learns) {
          std::vector<torch::Tensor> pieces;
          for (size_t part = 0; part < parts; ++part) {
            const auto& g = shard_grads[part].back();
            pieces.push_back(g.defined() ? g
                                         : torch::zeros_like(features.narrow(0, shard[part].first,
                                                                             shard[part].images)));
          }
          roots.push_back(features);
          root_grads.push_back(torch::cat(pieces));
        }
        if (ground && !ground_word.empty()) {
          const auto f = features.index_select(0, torch::tensor(ground_image, torch::kLong));
          const auto w = probe.index_select(0, torch::tensor(ground_word, torch::kLong));  // [P, C]
          const auto scores = torch::bmm(f, w.unsqueeze(2)).squeeze(2);                    // [P, N]
          const auto grounding_loss =
              o.grounding *
              -(torch::stack(ground_target) * torch::log_softmax(scores, 1)).sum(1).mean();
          step_loss += grounding_loss.item<double>();
          roots.push_back(grounding_loss);
          root_grads.push_back(torch::ones_like(grounding_loss));
        }
        if (!roots.empty())
          torch::autograd::backward(roots, root_grads);
        // The decoder's gradient: the parts' summed in their order.
        for (size_t j = 0; j < net_params.size(); ++j) {
          torch::Tensor sum;
          for (const auto& g : shard_grads)
            if (g[j].defined())
              sum = sum.defined() ? sum + g[j] : g[j];
          if (!sum.defined())
            continue;
          auto& grad = net_params[j].mutable_grad();
          if (grad.defined())
            grad.add_(sum);
          else
            grad = sum.clone();  // not a view: zero_grad detaches it in place
        }
        if (o.clip > 0)
          torch::nn::utils::clip_grad_norm_(params, o.clip);
        const double lr = learning_rate(o, pos.global_step, total_steps);
        for (auto& group : opt.param_groups())
          static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
        opt.step();

        ++pos.global_step;
        ++run_steps;
        pos.epoch = epoch;
        pos.step_in_epoch = step + 1;
        const auto now = std::chrono::steady_clock::now();
        report.step_seconds += std::chrono::duration<double>(now - step_start).count();
        ++report.steps_this_run;
        const double dt = std::chrono::duration<double>(now - last).count();
        last = now;
        step_seconds = run_steps == 1 ? dt : 0.9 * step_seconds + 0.1 * dt;  // smoothed for the ETA
        Progress p;
        p.epoch = epoch + 1;
        p.epochs = o.epochs;
        p.step = step + 1;
        p.steps_per_epoch = steps_per_epoch;
        p.global_step = pos.global_step;
        p.total_steps = total_steps;
        p.loss = step_loss;
        p.lr = lr;
        p.examples_per_second = dt > 0 ? double(step_sequences) / dt : 0;
        p.eta_seconds = step_seconds * double(total_steps - pos.global_step);
        log << json{{"step", p.global_step},
                    {"epoch", p.epoch},
                    {"loss", p.loss},
                    {"lr", lr},
                    {"examples_per_second", p.examples_per_second}}
                   .dump()
            << std::endl;  // flushed: the log is read while training runs
        if (on_progress)
          on_progress(p);
        const bool stop = o.stop_after_steps > 0 && run_steps >= o.stop_after_steps;
        if (stop || (o.checkpoint_every > 0 && pos.global_step % o.checkpoint_every == 0))
          save_checkpoint(ckpt_dir, *model, opt, pos, elapsed(), probe);
        if (stop) {
          report.steps = pos.global_step;
          report.epochs_done = epoch;
          report.stopped_early = true;
          report.seconds = elapsed();
          return report;
        }
      }
      // End of epoch: evaluate on dev, keep the best.
      net.eval();
      EvalOptions eo;
      eo.max_images = o.eval_images;
      eo.features = dev_cache;
      eo.workers = shards;
      const EvalReport ev = evaluate(*model, dev_set, eo).take();
      log << json{{"epoch", epoch + 1},        {"dev_bleu", ev.bleu},
                  {"dev_rouge_l", ev.rouge_l}, {"dev_bleu4", ev.bleu4()},
                  {"dev_cider_d", ev.cider_d}, {"dev_vqa_accuracy", ev.vqa_accuracy},
                  {"dev_images", ev.images}}
                 .dump()
          << "\n";
      log.flush();
      const bool better = ev.selection() > pos.best;
      if (better) {
        pos.best = ev.selection();
        pos.best_epoch = epoch + 1;
        report.best = ev;
        pos.best_report = ev;
        model->set_metrics({{"dev_bleu4", ev.bleu4()},
                            {"dev_cider_d", ev.cider_d},
                            {"dev_vqa_accuracy", ev.vqa_accuracy}});
        model->set_training_fact("command", o.command);
        model->set_training_fact("epoch",
                                 std::to_string(epoch + 1) + " of " + std::to_string(o.epochs));
        model->set_training_fact("seconds",
                                 std::to_string(static_cast<int64_t>(pos.seconds + elapsed())));
        model->save(o.out, /*fp16=*/true).throw_if_error();
      }
      if (on_epoch)
        on_epoch(epoch + 1, ev, better);
      pos.epoch = epoch + 1;
      pos.step_in_epoch = 0;
      save_checkpoint(ckpt_dir, *model, opt, pos, elapsed(), probe);
      report.epochs_done = epoch + 1;
    }
    report.steps = pos.global_step;
    report.best_epoch = pos.best_epoch;
    report.best = pos.best_report;
    report.seconds = pos.seconds + elapsed();
    return report;
  });
}

}  // namespace glimpse::train

#include "glimpse/fusion/caption_model.h"

#include <nlohmann/json.hpp>

#include <utility>
#include <vector>

#include "glimpse/core/safetensors.h"
#include "glimpse/core/state_dict.h"
#include "glimpse/fusion/attention.h"
#include "glimpse/text/tokenizer.h"
#include "glimpse/text/vocabulary.h"
#include "glimpse/vision/mobilenet_v2.h"
#include "glimpse/vision/preprocess.h"
#include "glimpse/vision/small_cnn.h"

namespace glimpse::fusion {

namespace {
constexpr const char* kMetadataKey = "glimpse";

// The prefixes as one [B, T] tensor, each padded with <pad> at its end.
torch::Tensor prefix_tensor(const std::vector<std::vector<int64_t>>& prefixes) {
  size_t longest = 0;
  for (const auto& p : prefixes)
    longest = std::max(longest, p.size());
  auto t = torch::full({static_cast<int64_t>(prefixes.size()), static_cast<int64_t>(longest)},
                       text::kPad, torch::kLong);
  for (size_t b = 0; b < prefixes.size(); ++b)
    if (!prefixes[b].empty())
      t[static_cast<int64_t>(b)]
          .narrow(0, 0, static_cast<int64_t>(prefixes[b].size()))
          .copy_(torch::tensor(prefixes[b], torch::kLong));
  return t;
}
}  // namespace

CaptionNet::CaptionNet(const ModelConfig& c) {
  if (c.encoder == EncoderKind::kSmallCnn) {
    encoder = std::make_shared<vision::SmallCnn>(c.small_cnn);
  } else {
    vision::MobileNetV2Options o;
    o.with_classifier = false;
    o.trainable_from = c.mobilenet_trainable_from;
    o.output_stride = c.mobilenet_output_stride;
    encoder = std::make_shared<vision::MobileNetV2>(o);
  }
  register_module("encoder", encoder);
  blind = c.blind;
  const int64_t vocab = static_cast<int64_t>(c.vocabulary.size());
  int64_t feature_dim = encoder->channels();
  if (c.fusion.kind != FusionKind::kNone) {
    auto singular =  // the plural table is built only for a model that ties plurals
        c.fusion.tie_plurals ? text::singular_ids(c.vocabulary) : std::vector<int64_t>{};
    fusion = register_module("fusion",
                             QuestionFusion(c.fusion, vocab, feature_dim, std::move(singular)));
    feature_dim = c.fusion.channels;
  }
  if (c.decoder == DecoderKind::kLstm) {
    auto o = c.lstm;
    o.vocab_size = vocab;
    o.feature_dim = feature_dim;
    decoder = std::make_shared<text::LstmDecoder>(o, attention_factory());
  } else {
    auto o = c.transformer;
    o.vocab_size = vocab;
    o.feature_dim = feature_dim;
    decoder = std::make_shared<text::TransformerDecoder>(o, attention_factory());
  }
  register_module("decoder", decoder);
}

vision::FeatureGrid CaptionNet::encode(const torch::Tensor& images) {
  auto g = encoder->encode(images);
  if (blind)
    g.features = torch::zeros_like(g.features);
  return g;
}

torch::Tensor CaptionNet::memory(const torch::Tensor& features, torch::Tensor& image_index,
                                 const text::AttentionContext& grid, const torch::Tensor& tokens) {
  if (!fusion)
    return features;
  const auto image_of =
      image_index.defined() ? image_index : torch::arange(features.size(0), torch::kLong);
  image_index = torch::Tensor();
  // One grid per distinct (image, question): the captions of an image share theirs.
  const auto [first, which] = distinct_conditions(image_of, tokens);
  const auto m = fusion->forward(features.index_select(0, image_of.index_select(0, first)),
                                 grid.grid_h, grid.grid_w, tokens.index_select(0, first));
  return m.index_select(0, which);
}

text::DecoderOutput CaptionNet::decode(const torch::Tensor& features,
                                       const torch::Tensor& image_index,
                                       const text::AttentionContext& grid,
                                       const torch::Tensor& tokens) {
  auto index = image_index;
  const auto m = memory(features, index, grid, tokens);
  return index.defined() ? decoder->forward(m, index, grid, tokens)
                         : decoder->forward(m, grid, tokens);
}

text::DecoderOutput CaptionNet::forward(const torch::Tensor& images, const torch::Tensor& tokens) {
  auto g = encode(images);
  text::AttentionContext grid;
  grid.grid_h = g.grid_h;
  grid.grid_w = g.grid_w;
  return decode(g.features, torch::Tensor(), grid, tokens);
}

text::DecoderOutput CaptionNet::forward(const torch::Tensor& images,
                                        const torch::Tensor& image_index,
                                        const torch::Tensor& tokens) {
  auto g = encode(images);
  text::AttentionContext grid;
  grid.grid_h = g.grid_h;
  grid.grid_w = g.grid_w;
  return decode(g.features, image_index, grid, tokens);
}

CaptionModel::CaptionModel(ModelConfig config, text::Vocabulary vocab,
                           std::shared_ptr<CaptionNet> net)
    : config_(std::move(config)), vocab_(std::move(vocab)), net_(std::move(net)) {}

Result<std::shared_ptr<CaptionModel>> CaptionModel::create(ModelConfig config) {
  return catch_as_result([&] {
    auto vocab = text::Vocabulary::from_words(config.vocabulary).take();
    auto net = std::make_shared<CaptionNet>(config);
    net->eval();
    return std::shared_ptr<CaptionModel>(
        new CaptionModel(std::move(config), std::move(vocab), std::move(net)));
  });
}

Status CaptionModel::save(const std::string& path, bool fp16) const {
  return catch_as_status([&] {
    core::NamedTensors tensors;
    for (auto& [name, t] : core::state_dict(*net_))
      tensors.emplace_back(name, fp16 && t.is_floating_point() ? t.to(torch::kFloat16) : t);
    core::save_safetensors(path, tensors,
                           {{kMetadataKey, config_.to_json()}, {"format", "glimpse-model"}})
        .throw_if_error();
  });
}

Result<std::shared_ptr<CaptionModel>> CaptionModel::load(const std::string& path) {
  return catch_as_result([&] {
    auto file = core::SafetensorsFile::open(path).take();
    auto it = file.metadata().find(kMetadataKey);
    if (it == file.metadata().end())
      throw Error(ErrorCode::kInvalidArgument,
                  "'" + path +
                      "' is a safetensors file but not a glimpse model (its "
                      "__metadata__ has no \"glimpse\" config)");
    auto config = ModelConfig::from_json(it->second);
    if (!config)
      throw Error(config.error().code, "'" + path + "': " + config.error().message);
    auto model = create(config.value());
    if (!model)
      throw Error(ErrorCode::kCorrupt,
                  "'" + path + "': its config describes no valid model: " + model.error().message);
    core::LoadStateOptions strict;
    strict.allow_unexpected = false;
    if (auto st = core::load_state_dict(*model.value()->net_, file, strict); !st)
      throw Error(ErrorCode::kCorrupt,
                  "'" + path + "': cannot load its weights: " + st.error().message);
    model.value()->net_->eval();
    return model.value();
  });
}

std::vector<int64_t> CaptionModel::caption_prefix() const {
  return {text::kBos, text::kCaption};
}

Result<std::vector<int64_t>> CaptionModel::question_prefix(const std::string& question,
                                                           int max_tokens) const {
  const auto words = text::tokenize(question);
  if (words.empty())
    return Result<std::vector<int64_t>>::failure(ErrorCode::kInvalidArgument,
                                                 "the question is empty; ask something");
  if (static_cast<int>(words.size()) > max_tokens)
    return Result<std::vector<int64_t>>::failure(
        ErrorCode::kTooLarge, "the question has " + std::to_string(words.size()) +
                                  " words, over the limit of " + std::to_string(max_tokens));
  std::vector<int64_t> p = {text::kBos, text::kQuestion};
  for (int64_t id : vocab_.encode(words))
    p.push_back(id);
  p.push_back(text::kAnswer);
  return p;
}

std::vector<std::string> CaptionModel::unknown_words(const std::string& question) const {
  std::vector<std::string> out;
  for (const auto& w : text::tokenize(question))
    if (vocab_.id(w) == text::kUnk)
      out.push_back(w);
  return out;
}

Result<std::vector<Prediction>> CaptionModel::generate(
    const std::vector<cv::Mat>& images, const std::vector<std::vector<int64_t>>& prefixes,
    const GenerateOptions& o) const {
  if (images.empty() || images.size() != prefixes.size())
    return ErrorInfo{ErrorCode::kInvalidArgument, "generate needs one prefix per image"};
  // Entries sharing one buffer (several questions about one image) are encoded once.
  std::vector<cv::Mat> unique;
  std::vector<int64_t> index;
  for (const auto& m : images) {
    int64_t k = 0;
    while (k < static_cast<int64_t>(unique.size()) &&
           !(unique[static_cast<size_t>(k)].data == m.data &&
             unique[static_cast<size_t>(k)].size == m.size))
      ++k;
    if (k == static_cast<int64_t>(unique.size()))
      unique.push_back(m);
    index.push_back(k);
  }
  auto encoded = encode(unique);
  if (!encoded)
    return encoded.error();
  auto e = std::move(encoded.value());
  if (unique.size() != images.size()) {
    torch::InferenceMode guard;
    e.features = e.features.index_select(0, torch::tensor(index, torch::kLong));  // [B, N, C]
  }
  return generate(e, prefixes, o);
}

Result<EncodedImages> CaptionModel::encode(const std::vector<cv::Mat>& images) const {
  return catch_as_result([&] {
    if (images.empty())
      throw Error(ErrorCode::kInvalidArgument, "encode needs at least one image");
    torch::InferenceMode guard;
    auto batch = vision::to_batch(images, config_.image);  // [B, 3, H, W]
    auto g = net_->encode(batch);
    return EncodedImages{g.features, g.grid_h, g.grid_w};
  });
}

Result<std::vector<Prediction>> CaptionModel::generate(
    const EncodedImages& e, const std::vector<std::vector<int64_t>>& prefixes,
    const GenerateOptions& o) const {
  return catch_as_result([&] {
    if (!e.features.defined() || e.features.dim() != 3 ||
        e.features.size(0) != static_cast<int64_t>(prefixes.size()))
      throw Error(ErrorCode::kInvalidArgument, "generate needs one prefix per encoded image");
    torch::InferenceMode guard;
    text::AttentionContext grid;
    grid.grid_h = e.grid_h;
    grid.grid_w = e.grid_w;
    text::SearchOptions so;
    so.beam = o.beam;
    so.max_len = o.max_len;
    so.length_penalty = o.length_penalty;
    torch::Tensor index;
    const auto memory = net_->memory(e.features, index, grid, prefix_tensor(prefixes));
    auto hyps = text::search(*net_->decoder, memory, grid, prefixes, so);
    std::vector<Prediction> out;
    for (auto& h : hyps) {
      Prediction p;
      p.grid_h = e.grid_h;
      p.grid_w = e.grid_w;
      p.finished = h.finished;
      p.log_probs = h.log_probs;
      for (int64_t id : h.tokens) {
        if (id == text::kEos)
          break;
        p.words.push_back(vocab_.word(id));
      }
      for (const auto& w : p.words)
        p.text += (p.text.empty() ? "" : " ") + w;
      const auto& a = h.attention;  // [T, layers, H, N]
      p.attention = a.view({a.size(0), a.size(1), a.size(2), e.grid_h, e.grid_w});
      out.push_back(std::move(p));
    }
    return out;
  });
}

Result<Prediction> CaptionModel::caption(const cv::Mat& rgb, const GenerateOptions& o) const {
  auto r = generate({rgb}, {caption_prefix()}, o);
  if (!r)
    return r.error();
  return std::move(r.value()[0]);
}

Result<Prediction> CaptionModel::answer(const cv::Mat& rgb, const std::string& question,
                                        const GenerateOptions& o) const {
  auto prefix = question_prefix(question, o.max_question_tokens);
  if (!prefix)
    return prefix.error();
  auto r = generate({rgb}, {prefix.value()}, o);
  if (!r)
    return r.error();
  return std::move(r.value()[0]);
}

}  // namespace glimpse::fusion

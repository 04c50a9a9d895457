#include "glimpse/fusion/question_fusion.h"

#include <map>
#include <stdexcept>
#include <vector>

namespace glimpse::fusion {

const char* to_string(FusionKind kind) {
  return kind == FusionKind::kNone ? "none" : "film";
}

Result<FusionKind> parse_fusion_kind(const std::string& name) {
  for (auto kind : {FusionKind::kNone, FusionKind::kFilm})
    if (name == to_string(kind))
      return kind;
  return ErrorInfo{ErrorCode::kInvalidArgument, "unknown fusion '" + name + "' (none or film)"};
}

std::string locate_conflict(const FusionOptions& o) {
  if (o.locate_words && o.locate_per_glimpse)
    return "fusion.locate_words and fusion.locate_per_glimpse are two ways of giving each glimpse "
           "its own modulation: set one";
  if (o.locate_glimpses == 0 && (o.locate_per_glimpse || o.locate_words || o.locate_compare > 0 ||
                                 o.locate_contents || o.locate_word_order))
    return "fusion.locate_per_glimpse, locate_words, locate_compare, locate_contents and "
           "locate_word_order shape the locate read-out's glimpses: set fusion.locate_glimpses "
           "(1..8) too";
  if (o.locate_word_order && !o.locate_words)
    return "fusion.locate_word_order biases which words each glimpse reads: set "
           "fusion.locate_words too";
  return "";
}

std::pair<torch::Tensor, torch::Tensor> distinct_conditions(const torch::Tensor& image_of,
                                                            const torch::Tensor& tokens) {
  const auto at = question_read_position(tokens).contiguous();
  const auto images = image_of.to(torch::kLong).contiguous();
  const auto t = tokens.to(torch::kLong).contiguous();
  const int64_t S = t.size(0), T = t.size(1);
  std::map<std::vector<int64_t>, int64_t> seen;
  std::vector<int64_t> first, which(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; ++s) {
    const int64_t* row = t.data_ptr<int64_t>() + s * T;
    std::vector<int64_t> key{images.data_ptr<int64_t>()[s]};
    key.insert(key.end(), row, row + at.data_ptr<int64_t>()[s] + 1);
    const auto [it, added] = seen.emplace(std::move(key), static_cast<int64_t>(first.size()));
    if (added)
      first.push_back(s);
    which[static_cast<size_t>(s)] = it->second;
  }
  return {torch::tensor(first, torch::kLong), torch::tensor(which, torch::kLong)};
}

QuestionFusionImpl::QuestionFusionImpl(const FusionOptions& o, int64_t vocab_size,
                                       int64_t feature_dim, std::vector<int64_t> singular)
    : options(o) {
  if (o.kind != FusionKind::kFilm)
    throw std::invalid_argument("question fusion: only film builds a module");
  if (o.blocks < 1 || o.blocks > 8 || o.channels < 1 || feature_dim < 1)
    throw std::invalid_argument("question fusion: blocks must be 1..8 and channels at least 1");
  if (o.relations < 0 || o.relations > 4)
    throw std::invalid_argument("question fusion: relations must be 0..4");
  project = register_module(
      "project", torch::nn::Conv2d(torch::nn::Conv2dOptions(feature_dim, o.channels, 1)));
  if (!o.tie_plurals)
    singular.clear();
  question = register_module(
      "question", QuestionEncoder(QuestionEncoderOptions{vocab_size, o.embed_dim, o.question_dim,
                                                         std::move(singular)}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t b = 0; b < o.blocks; ++b)
    blocks->push_back(FilmBlock(FilmBlockOptions{o.channels, o.question_dim, o.coords, o.kernel}));
  if (o.count_maps < 0 || o.count_maps > 16)
    throw std::invalid_argument("question fusion: count_maps must be 0..16");
  if (o.locate_glimpses < 0 || o.locate_glimpses > 8)
    throw std::invalid_argument("question fusion: locate_glimpses must be 0..8");
  // A model without relational blocks or read-outs keeps its tensor names as they were.
  if (o.locate_glimpses > 0)
    locate = register_module(
        "locate", LocateReadout(LocateReadoutOptions{
                      o.channels, o.question_dim, o.locate_glimpses, o.locate_per_glimpse,
                      o.locate_words, o.locate_compare, o.locate_contents, o.locate_word_order}));
  if (o.relations > 0) {
    relations = register_module("relations", torch::nn::ModuleList());
    for (int64_t b = 0; b < o.relations; ++b)
      relations->push_back(RelationBlock(
          RelationBlockOptions{o.channels, o.question_dim, o.relation_heads, o.relation_pool}));
  }
  if (o.count_maps > 0)
    count = register_module(
        "count", CountReadout(CountReadoutOptions{o.channels, o.question_dim, o.count_maps}));
}

torch::Tensor QuestionFusionImpl::forward(const torch::Tensor& features, int64_t grid_h,
                                          int64_t grid_w, const torch::Tensor& tokens) {
  if (features.dim() != 3 || features.size(1) != grid_h * grid_w || tokens.dim() != 2 ||
      tokens.size(0) != features.size(0))
    throw std::invalid_argument(
        "question fusion: features must be [S, grid_h * grid_w, C] and tokens [S, T]");
  const auto reading = question->read(tokens);
  const auto& q = reading.vector;  // [S, D]
  auto x = project->forward(
      features.transpose(1, 2).reshape({features.size(0), features.size(2), grid_h, grid_w}));
  for (const auto& block : *blocks)
    x = block->as<FilmBlockImpl>()->forward(x, q);
  if (locate)
    x = locate->forward(x, reading);
  if (relations)
    for (const auto& block : *relations)
      x = block->as<RelationBlockImpl>()->forward(x, q);
  if (count)
    x = count->forward(x, q);
  return x.flatten(2).transpose(1, 2);  // [S, N, channels]
}

}  // namespace glimpse::fusion

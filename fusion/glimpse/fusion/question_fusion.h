// Question-conditioned image features: the grid the decoder attends to, remade for each question
// so that the cells that matter to it stand out before any attention looks (early fusion, as
// FiLM does it: Perez et al. 2018). Off by default; a model file without "fusion" has none.
//
//   m = Count(R_r(… R_1(Locate(FiLM_k(… FiLM_1(conv1x1(F_i), q) …, q), q), q) …, q), q)
//   F_i [C, H, W] the image the sequence reads; q = QuestionEncoder(tokens), read before
//   <answer> (question_encoder.h); FiLM_b the FiLM blocks (film.h), R_b the relational blocks
//   (relation.h, none by default), which let each cell see every other one after FiLM has
//   marked the cells the question names, Locate the locate read-out (locate.h, none by default:
//   the identity), which writes where the question's objects are into every cell, so that the
//   relational blocks after it can compare each cell's place with theirs, and Count the count
//   read-out (count.h, none by default), which writes how many of what the question names into
//   every cell.
//
// The decoder then attends over m [N, channels] as it would over F_i, so its attention is still
// where it looked, and a caption (read at its task token) gets one fixed conditioning per model.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/fusion/count.h"
#include "glimpse/fusion/film.h"
#include "glimpse/fusion/locate.h"
#include "glimpse/fusion/question_encoder.h"
#include "glimpse/fusion/relation.h"

namespace glimpse::fusion {

enum class FusionKind { kNone, kFilm };
const char* to_string(FusionKind kind);
Result<FusionKind> parse_fusion_kind(const std::string& name);  // none, film

struct FusionOptions {
  FusionKind kind = FusionKind::kNone;
  int64_t blocks = 2;               // FiLM blocks, 1..8
  int64_t channels = 64;            // the grid's channels after fusion (the decoder's feature size)
  int64_t embed_dim = 64;           // the question encoder's word embedding
  int64_t question_dim = 64;        // its GRU state, the vector γ and β come from
  int64_t kernel = 3;               // each block's modulated convolution: 3 or 1
  bool coords = true;               // coordinate channels into each block
  int64_t relations = 0;            // relational blocks after the FiLM blocks, 0..4
  int64_t relation_heads = 4;       // their attention heads, dividing channels
  int64_t relation_pool = 1;        // the side of the patches they look at, 1..4 (relation.h)
  int64_t count_maps = 0;           // the count read-out's density maps, 0 (none) ..16 (count.h)
  int64_t locate_glimpses = 0;      // the locate read-out's glimpses, 0 (none) ..8 (locate.h)
  bool locate_per_glimpse = false;  // each glimpse its own modulation (locate.h)
  bool locate_words = false;        // each glimpse its modulation from its own words (locate.h)
  int64_t locate_compare = 0;       // hidden units reading the places with the question (locate.h)
  bool locate_contents = false;     // each glimpse's mean features written too (locate.h)
  bool locate_word_order = false;   // word glimpses biased by the words' order (locate.h)
  bool tie_plurals = false;  // a plural question word also reads its singular (question_encoder.h)
};

// What is wrong with the locate read-out's options together, naming the config keys ("" when
// nothing is): words and per_glimpse both, a locate option without glimpses, word_order without
// words.
std::string locate_conflict(const FusionOptions& options);

// Sequences that read one image with one question (all captions of an image: they are read at
// their task token) share one remade grid. Given each sequence's image [S] and tokens [S, T]:
// the first sequence of each distinct pair [U] and, per sequence, which pair it is [S].
std::pair<torch::Tensor, torch::Tensor> distinct_conditions(const torch::Tensor& image_of,
                                                            const torch::Tensor& tokens);

class QuestionFusionImpl : public torch::nn::Module {
 public:
  // singular: per word id its singular's (text::singular_ids), read when options.tie_plurals.
  QuestionFusionImpl(const FusionOptions& options, int64_t vocab_size, int64_t feature_dim,
                     std::vector<int64_t> singular = {});
  // features [S, N, C], one grid per sequence (N = grid_h * grid_w); tokens [S, T]
  // -> [S, N, channels]
  torch::Tensor forward(const torch::Tensor& features, int64_t grid_h, int64_t grid_w,
                        const torch::Tensor& tokens);

  FusionOptions options;
  torch::nn::Conv2d project{nullptr};
  QuestionEncoder question{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::ModuleList relations{nullptr};  // registered only when options.relations > 0
  LocateReadout locate{nullptr};             // registered only when options.locate_glimpses > 0
  CountReadout count{nullptr};               // registered only when options.count_maps > 0
};
TORCH_MODULE(QuestionFusion);

}  // namespace glimpse::fusion

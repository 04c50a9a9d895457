// The question as one vector, for the modules that condition the image on it (film.h): a GRU over
// the token sequence, read at the last token before <answer>, as FiLM reads its question
// (Perez et al. 2018: a GRU's last state).
//
//   <bos> <question> q1 … qm <answer> a1 … ak <eos>   read at qm: the answer is never seen
//   <bos> <caption> w1 … wn <eos>                     read at <caption>: no caption word is seen
//
// So whatever conditions on this vector sees the question, never what the decoder is to write.
//
// With `singular` (text::singular_ids of the vocabulary), a plural word reads as its own embedding
// plus its singular's: e(diamonds) = E[diamonds] + E[diamond], other words E[w]. A plural that
// only count questions use ("how many diamonds are there?") then starts from what the singular
// has learnt from every other question, instead of from nothing.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace glimpse::fusion {

// Per sequence of tokens [B, T], the position the vector is read at: the token before the first
// <answer>, or 1 (the task token) when there is none. [B] int64.
torch::Tensor question_read_position(const torch::Tensor& tokens);

// The question as the modules read it: its vector [B, D] (the state read before <answer>), and
// for a module that picks its own words (locate.h's word glimpses), every position's state
// [B, T, D] with which positions are the question's words [B, T] bool: q1 … qm, or the task
// token alone when there is no question. A GRU is causal: no state has read the answer.
struct QuestionReading {
  torch::Tensor vector, states, words;
};

struct QuestionEncoderOptions {
  int64_t vocab_size = 0;
  int64_t embed_dim = 64;
  int64_t hidden_dim = 64;          // the vector's size
  std::vector<int64_t> singular{};  // per word id, its singular's id (itself if none); empty: none
};

class QuestionEncoderImpl : public torch::nn::Module {
 public:
  explicit QuestionEncoderImpl(const QuestionEncoderOptions& options);
  // tokens [B, T] int64 -> [B, hidden_dim]
  torch::Tensor forward(const torch::Tensor& tokens);
  // tokens [B, T] int64 -> the vector, the states and the question's words
  QuestionReading read(const torch::Tensor& tokens);

  QuestionEncoderOptions options;
  torch::nn::Embedding embed{nullptr};
  torch::Tensor singular;  // [vocab_size] int64, undefined without plural tying (not a parameter)
  torch::nn::GRU gru{nullptr};
};
TORCH_MODULE(QuestionEncoder);

}  // namespace glimpse::fusion

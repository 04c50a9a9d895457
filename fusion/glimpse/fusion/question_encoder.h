// The question as one vector, for the modules that condition the image on it (film.h): a GRU over
// the token sequence, read at the last token before <answer>, as FiLM reads its question
// (Perez et al. 2018: a GRU's last state).
//
//   <bos> <question> q1 … qm <answer> a1 … ak <eos>   read at qm: the answer is never seen
//   <bos> <caption> w1 … wn <eos>                     read at <caption>: no caption word is seen
//
// So whatever conditions on this vector sees the question, never what the decoder is to write.
#pragma once

#include <torch/torch.h>

namespace glimpse::fusion {

// Per sequence of tokens [B, T], the position the vector is read at: the token before the first
// <answer>, or 1 (the task token) when there is none. [B] int64.
torch::Tensor question_read_position(const torch::Tensor& tokens);

struct QuestionEncoderOptions {
  int64_t vocab_size = 0;
  int64_t embed_dim = 64;
  int64_t hidden_dim = 64;  // the vector's size
};

class QuestionEncoderImpl : public torch::nn::Module {
 public:
  explicit QuestionEncoderImpl(const QuestionEncoderOptions& options);
  // tokens [B, T] int64 -> [B, hidden_dim]
  torch::Tensor forward(const torch::Tensor& tokens);

  QuestionEncoderOptions options;
  torch::nn::Embedding embed{nullptr};
  torch::nn::GRU gru{nullptr};
};
TORCH_MODULE(QuestionEncoder);

}  // namespace glimpse::fusion

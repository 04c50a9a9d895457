#include "glimpse/fusion/question_encoder.h"

#include <stdexcept>
#include <string>

#include "glimpse/text/vocabulary.h"

namespace glimpse::fusion {

torch::Tensor question_read_position(const torch::Tensor& tokens) {
  if (tokens.dim() != 2 || tokens.size(1) < 2)
    throw std::invalid_argument(
        "question encoder: tokens must be [B, T] with T >= 2 (<bos> and "
        "a task token at least)");
  const auto is_answer = tokens.eq(text::kAnswer);
  // The first <answer>: argmax of a 0/1 row is its first 1 (0 when there is none).
  const auto first = is_answer.to(torch::kInt64).argmax(1);
  const auto has = is_answer.any(1);
  return torch::where(has, first - 1, torch::ones_like(first));
}

QuestionEncoderImpl::QuestionEncoderImpl(const QuestionEncoderOptions& o) : options(o) {
  if (o.vocab_size < 1 || o.embed_dim < 1 || o.hidden_dim < 1)
    throw std::invalid_argument(
        "question encoder: vocab_size, embed_dim and hidden_dim must be "
        "at least 1");
  if (!o.singular.empty() && static_cast<int64_t>(o.singular.size()) != o.vocab_size)
    throw std::invalid_argument("question encoder: singular must have one id per word (" +
                                std::to_string(o.singular.size()) + " for " +
                                std::to_string(o.vocab_size) + " words)");
  for (int64_t s : o.singular)
    if (s < 0 || s >= o.vocab_size)
      throw std::invalid_argument("question encoder: singular id " + std::to_string(s) +
                                  " is not a word id");
  embed = register_module("embed", torch::nn::Embedding(o.vocab_size, o.embed_dim));
  if (!o.singular.empty())
    singular = torch::tensor(o.singular, torch::kLong);
  gru = register_module(
      "gru", torch::nn::GRU(torch::nn::GRUOptions(o.embed_dim, o.hidden_dim).batch_first(true)));
}

torch::Tensor QuestionEncoderImpl::forward(const torch::Tensor& tokens) {
  return read(tokens).vector;
}

QuestionReading QuestionEncoderImpl::read(const torch::Tensor& tokens) {
  const auto at = question_read_position(tokens);  // checks the shape
  // A GRU is causal: its state at `at` has read tokens 0..at only.
  auto words = embed->forward(tokens);  // [B, T, E]
  if (singular.defined()) {
    const auto s = singular.index({tokens});
    words = words + embed->forward(s) * s.ne(tokens).unsqueeze(-1).to(words.dtype());
  }
  const auto states = std::get<0>(gru->forward(words));  // [B, T, H]
  const auto index = at.view({-1, 1, 1}).expand({-1, 1, options.hidden_dim});
  const auto position = torch::arange(tokens.size(1), at.options()).unsqueeze(0);  // [1, T]
  const auto last = at.unsqueeze(1), first = torch::clamp_max(last, 2);            // q1 is at 2
  return {states.gather(1, index).squeeze(1), states, position.ge(first) & position.le(last)};
}

}  // namespace glimpse::fusion

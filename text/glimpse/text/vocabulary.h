// Word <-> id mapping with the special tokens every glimpse model shares.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "glimpse/core/error.h"

namespace glimpse::text {

// Ids 0..6, in this order, in every vocabulary.
inline constexpr const char* kSpecialTokens[] = {"<pad>",     "<bos>",      "<eos>",   "<unk>",
                                                 "<caption>", "<question>", "<answer>"};
enum SpecialId : int64_t {
  kPad = 0,
  kBos = 1,
  kEos = 2,
  kUnk = 3,
  kCaption = 4,
  kQuestion = 5,
  kAnswer = 6
};

class Vocabulary {
 public:
  Vocabulary();  // only the special tokens

  // Words seen at least `min_count` times in `sentences` (already tokenised), most frequent
  // first, ties alphabetically, so the same data gives the same ids.
  static Vocabulary build(const std::vector<std::vector<std::string>>& sentences, int min_count);
  // From a word list whose first entries are the special tokens (as saved in a model file).
  static Result<Vocabulary> from_words(const std::vector<std::string>& words);

  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  int64_t id(const std::string& word) const;  // kUnk when absent
  const std::string& word(int64_t id) const;  // "<unk>" when out of range
  const std::vector<std::string>& words() const { return words_; }

  std::vector<int64_t> encode(const std::vector<std::string>& tokens) const;
  // Words of the ids, stopping at <eos>, skipping <pad>, <bos> and the task tokens.
  std::vector<std::string> decode(const std::vector<int64_t>& ids) const;

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int64_t> ids_;
};

// Per id of `words`, the id of the word's singular when it is a regular English plural whose
// singular is also in `words` ("diamonds" -> "diamond", "boxes" -> "box", "berries" -> "berry"),
// else its own id. A singular must have 3 letters or more, so "is", "as" and "its" stay
// themselves; special tokens always do.
std::vector<int64_t> singular_ids(const std::vector<std::string>& words);

}  // namespace glimpse::text

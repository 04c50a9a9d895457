#include "glimpse/text/vocabulary.h"

#include <algorithm>

namespace glimpse::text {

Vocabulary::Vocabulary() {
  for (const char* t : kSpecialTokens) {
    ids_[t] = static_cast<int64_t>(words_.size());
    words_.emplace_back(t);
  }
}

Vocabulary Vocabulary::build(const std::vector<std::vector<std::string>>& sentences,
                             int min_count) {
  std::map<std::string, int64_t> counts;
  for (const auto& s : sentences)
    for (const auto& w : s)
      ++counts[w];
  std::vector<std::pair<std::string, int64_t>> kept;
  Vocabulary v;
  for (const auto& [w, c] : counts)
    if (c >= min_count && !v.ids_.count(w))
      kept.emplace_back(w, c);
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [w, c] : kept) {
    v.ids_[w] = static_cast<int64_t>(v.words_.size());
    v.words_.push_back(w);
  }
  return v;
}

Result<Vocabulary> Vocabulary::from_words(const std::vector<std::string>& words) {
  const size_t specials = std::size(kSpecialTokens);
  if (words.size() < specials)
    return Result<Vocabulary>::failure(ErrorCode::kCorrupt,
                                       "vocabulary has " + std::to_string(words.size()) +
                                           " words, fewer than the 7 special tokens");
  Vocabulary v;
  for (size_t i = 0; i < specials; ++i)
    if (words[i] != kSpecialTokens[i])
      return Result<Vocabulary>::failure(
          ErrorCode::kCorrupt, "vocabulary entry " + std::to_string(i) + " is '" + words[i] +
                                   "', expected '" + kSpecialTokens[i] + "'");
  for (size_t i = specials; i < words.size(); ++i) {
    if (words[i].empty() || v.ids_.count(words[i]))
      return Result<Vocabulary>::failure(
          ErrorCode::kCorrupt,
          "vocabulary entry " + std::to_string(i) + " ('" + words[i] + "') is empty or repeated");
    v.ids_[words[i]] = static_cast<int64_t>(v.words_.size());
    v.words_.push_back(words[i]);
  }
  return v;
}

int64_t Vocabulary::id(const std::string& word) const {
  auto it = ids_.find(word);
  return it == ids_.end() ? kUnk : it->second;
}

const std::string& Vocabulary::word(int64_t id) const {
  return (id >= 0 && id < size()) ? words_[static_cast<size_t>(id)] : words_[kUnk];
}

std::vector<int64_t> Vocabulary::encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> out;
  out.reserve(tokens.size());
  for (const auto& t : tokens)
    out.push_back(id(t));
  return out;
}

std::vector<std::string> Vocabulary::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  for (int64_t i : ids) {
    if (i == kEos)
      break;
    if (i == kPad || i == kBos || i == kCaption || i == kQuestion || i == kAnswer)
      continue;
    out.push_back(word(i));
  }
  return out;
}

std::vector<int64_t> singular_ids(const std::vector<std::string>& words) {
  std::unordered_map<std::string, int64_t> at;
  for (size_t i = 0; i < words.size(); ++i)
    at.emplace(words[i], static_cast<int64_t>(i));
  auto ends = [](const std::string& w, const std::string& tail) {
    return w.size() > tail.size() && w.compare(w.size() - tail.size(), tail.size(), tail) == 0;
  };
  std::vector<int64_t> out(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    out[i] = static_cast<int64_t>(i);
    if (w.empty() || w[0] == '<')
      continue;
    std::vector<std::string> singulars;  // the likeliest reading first
    if (ends(w, "ies"))
      singulars.push_back(w.substr(0, w.size() - 3) + "y");
    if (ends(w, "es"))
      singulars.push_back(w.substr(0, w.size() - 2));
    if (ends(w, "s") && !ends(w, "ss"))
      singulars.push_back(w.substr(0, w.size() - 1));
    for (const auto& s : singulars)
      if (const auto found = at.find(s); s.size() >= 3 && found != at.end()) {
        out[i] = found->second;
        break;
      }
  }
  return out;
}

}  // namespace glimpse::text

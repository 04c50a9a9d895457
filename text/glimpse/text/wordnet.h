// WordNet 3.0's nouns, read from the database files Debian's wordnet-base installs
// (/usr/share/wordnet: index.noun, data.noun, noun.exc), and the Wu-Palmer similarity exactly as
// NLTK 3.8 computes it, which DAQUAR's WUPS is defined by (wups.h):
//   - a word's synsets: lower-cased, then NLTK's morphy (the exception list first, else the
//     noun suffix rules applied once, the word itself kept if it is a lemma, then the rules again
//     and again until some form is one), then each form's synsets in index.noun's sense order;
//   - hypernyms are the `@` and `@i` (instance) pointers;
//   - wup(a, b) = 2·d / (l_a + l_b + 2·d): the lowest common hypernyms are the common ones of
//     the largest minimum depth, sorted by name (`lemma.n.NN`); the subsumer is a itself when a is
//     one of them, else the first; d = its maximum depth + 1; l_x the shortest path from x to it
//     (through any common hypernym: min over s of dist(x, s) + dist(subsumer, s)).
// Read-only after load: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "glimpse/core/error.h"

namespace glimpse::text {

class WordNetNouns {
 public:
  // dir holds index.noun, data.noun and noun.exc; each missing or malformed file gets its own
  // message naming the file (and line).
  static Result<WordNetNouns> load(const std::string& dir);
  // Debian's wordnet-base location.
  static constexpr const char* kDefaultDir = "/usr/share/wordnet";

  // The forms of word that are noun lemmas, as NLTK's morphy finds them ("beds" -> "bed").
  std::vector<std::string> morphy(const std::string& word) const;
  // The noun synsets of word (lower-cased, through morphy), as data.noun offsets.
  std::vector<int64_t> synsets(const std::string& word) const;
  // NLTK's name of a synset ("bed.n.01").
  const std::string& name(int64_t synset) const;
  int min_depth(int64_t synset) const;
  int max_depth(int64_t synset) const;
  double wup_similarity(int64_t a, int64_t b) const;
  // Whether `ancestor` (a name, "location.n.01") is synset or one of its hypernyms, at any depth.
  bool descends_from(int64_t synset, const std::string& ancestor) const;
  size_t size() const { return synsets_.size(); }

 private:
  struct Synset {
    std::string name;
    std::vector<size_t> hypernyms;  // indices into synsets_
    int min_depth = -1, max_depth = -1;
  };
  void read_index(const std::string& path);
  void read_exceptions(const std::string& path);
  void read_data(const std::string& path);
  void name_synsets(const std::string& path);
  void compute_depths();
  std::vector<std::string> lemmas_of(const std::vector<std::string>& forms) const;
  size_t at(int64_t offset) const;                               // throws on an unknown offset
  std::unordered_map<size_t, int> distances(size_t from) const;  // BFS up the hypernyms

  std::unordered_map<std::string, std::vector<int64_t>> index_;  // lemma -> offsets
  std::unordered_map<std::string, std::vector<std::string>> exceptions_;
  std::unordered_map<int64_t, size_t> by_offset_;
  std::vector<Synset> synsets_;
};

// The lemmas of a WordNet index file (index.verb, index.adj, ...): the first field of each line.
Result<std::unordered_set<std::string>> load_index_lemmas(const std::string& path);

}  // namespace glimpse::text

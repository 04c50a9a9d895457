// Questions from captions, after COCO-QA (Ren, Kiros & Zemel, "Exploring Models and Data for
// Image Question Answering", NIPS 2015): a caption that describes a photograph is turned into
// questions whose one-word answers it states.
//
//   "a dog is catching a ball"        -> "what is catching a ball?" dog (object, the subject)
//                                        "what is the dog catching?" ball (object, its object)
//   "two girls are sitting on a bench" -> "how many girls are sitting on a bench?" two (number)
//   "a man in a red shirt climbs"      -> "what is the colour of the shirt?" red (colour)
//   "a dog is running in the park"     -> "where is the dog running?" park (location)
//
// COCO-QA parsed captions with the Stanford parser; here a small chunker finds the same parts in
// the short declarative captions of Flickr8k and COCO: a subject noun phrase (determiner or
// number, modifiers, a head noun), prepositional phrases after it, then the verb (an auxiliary
// with a present participle, a participle alone, or a present-tense verb). Nouns, verbs and
// places are WordNet's (wordnet.h); a caption the chunker cannot read gives no question rather
// than a wrong one. Answers are the head nouns' lemmas ("dogs" -> "dog"), number words, colour
// words and place nouns.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "glimpse/core/error.h"
#include "glimpse/text/wordnet.h"

namespace glimpse::text {

struct CaptionQuestion {
  std::string question, answer;
  std::string type;  // object, number, colour or location
};

class CaptionQuestionMaker {
 public:
  // Reads WordNet's nouns and verbs from dir (index.noun, data.noun, noun.exc, index.verb).
  static Result<CaptionQuestionMaker> load(const std::string& dir);
  // The questions one caption gives, at most one of each kind (two object questions).
  std::vector<CaptionQuestion> questions(const std::string& caption) const;

 private:
  struct Phrase {
    size_t begin = 0, end = 0;  // tokens [begin, end)
    size_t head = 0;            // the head noun
    std::string determiner;     // "" when none
  };
  bool noun(const std::string& w) const;
  bool plural(const std::string& w) const;
  std::string lemma(const std::string& w) const;
  bool verb_ing(const std::string& w) const;
  bool verb_s(const std::string& w) const;
  bool verb_bare(const std::string& w) const;
  bool place(const std::string& w) const;
  bool phrase_at(const std::vector<std::string>& t, size_t i, Phrase& p) const;
  std::string subject_words(const std::vector<std::string>& t, const Phrase& p) const;

  WordNetNouns nouns_;
  std::unordered_set<std::string> verbs_;
};

// The pruning of COCO-QA: an answer seen fewer than min_count times among `counted` is dropped
// (too rare to learn), and one more frequent than max_share of them keeps only that share of its
// questions (too common: it would teach the prior), the kept ones chosen by seed. Returns, for
// each question, whether it is kept; `counted` says which questions are counted (the training
// split's), the rest are pruned by the same answers.
std::vector<bool> prune_answers(const std::vector<std::string>& answers,
                                const std::vector<bool>& counted, int min_count, double max_share,
                                uint64_t seed);

}  // namespace glimpse::text

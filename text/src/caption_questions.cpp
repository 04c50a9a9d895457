#include "glimpse/text/caption_questions.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace glimpse::text {

namespace {

const std::unordered_set<std::string> kDeterminers = {"a",   "an",   "the",   "some", "several",
                                                      "his", "her",  "their", "its",  "this",
                                                      "one", "many", "other"};
const std::unordered_set<std::string> kNumbers = {"two",   "three", "four", "five", "six",
                                                  "seven", "eight", "nine", "ten"};
const std::unordered_set<std::string> kPrepositions = {
    "in",     "on",     "at",      "through", "with",    "of",     "near",   "by",
    "under",  "over",   "down",    "up",      "into",    "onto",   "across", "along",
    "behind", "beside", "next",    "from",    "to",      "around", "toward", "towards",
    "past",   "inside", "outside", "between", "against", "off",    "for",    "beneath",
    "above",  "below",  "among",   "while",   "as",      "like",   "during", "out"};
const std::unordered_set<std::string> kBreaks = {"and", "or",  "who",  "that", "which", "is",
                                                 "are", "was", "were", "has",  "have",  "being"};
const std::unordered_set<std::string> kColours = {"red",   "blue",  "green",  "yellow", "black",
                                                  "white", "brown", "orange", "pink",   "purple",
                                                  "gray",  "grey",  "tan"};
// Ground and surroundings a photo's subject is "in" or "on", which WordNet files under
// substances and plants, not places.
const std::unordered_set<std::string> kGrounds = {"grass", "snow",   "sand", "mud",   "dirt",
                                                  "water", "leaves", "surf", "waves", "ocean"};
// Where WordNet puts places: a noun's first sense under one of these is a place.
const char* const kPlaceAncestors[] = {
    "location.n.01",      "structure.n.01", "way.n.06",  "geological_formation.n.01",
    "body_of_water.n.01", "area.n.05",      "land.n.04", "facility.n.01"};

std::vector<std::string> tokens_of(const std::string& caption) {
  std::vector<std::string> out;
  std::string word;
  for (const char c : caption + " ") {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u) || c == '-' || c == '\'') {
      word += static_cast<char>(std::tolower(u));
    } else {
      if (!word.empty())
        out.push_back(word);
      word.clear();
      if (c == ',' || c == ';' || c == ':' || c == '.')
        break;  // the first clause only: the rest of a caption is often another sentence
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& t, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end && i < t.size(); ++i)
    out += (out.empty() ? "" : " ") + t[i];
  return out;
}

}  // namespace

Result<CaptionQuestionMaker> CaptionQuestionMaker::load(const std::string& dir) {
  auto nouns = WordNetNouns::load(dir);
  if (!nouns)
    return nouns.error();
  auto verbs = load_index_lemmas(dir + "/index.verb");
  if (!verbs)
    return verbs.error();
  CaptionQuestionMaker m;
  m.nouns_ = std::move(nouns).take();
  m.verbs_ = std::move(verbs).take();
  return m;
}

bool CaptionQuestionMaker::noun(const std::string& w) const {
  return !nouns_.morphy(w).empty();
}

std::string CaptionQuestionMaker::lemma(const std::string& w) const {
  const auto forms = nouns_.morphy(w);
  return forms.empty() ? w : forms.back();  // "glasses" -> glass; "dogs" -> dog
}

bool CaptionQuestionMaker::plural(const std::string& w) const {
  static const std::unordered_set<std::string> kPluralOnly = {"people", "folks", "police"};
  return kPluralOnly.count(w) || lemma(w) != w;
}

bool CaptionQuestionMaker::verb_ing(const std::string& w) const {
  if (w.size() < 5 || w.compare(w.size() - 3, 3, "ing") != 0)
    return false;
  const std::string stem = w.substr(0, w.size() - 3);
  const bool doubled = stem.size() > 2 && stem.back() == stem[stem.size() - 2];
  return verbs_.count(stem) || verbs_.count(stem + "e") ||
         (doubled && verbs_.count(stem.substr(0, stem.size() - 1)));
}

bool CaptionQuestionMaker::verb_s(const std::string& w) const {
  if (w.size() < 3 || w.back() != 's' || w.compare(w.size() - 2, 2, "ss") == 0)
    return false;
  const std::string stem = w.substr(0, w.size() - 1);
  const bool es = w.size() > 3 && w.compare(w.size() - 2, 2, "es") == 0;
  const bool ies = w.size() > 4 && w.compare(w.size() - 3, 3, "ies") == 0;
  return verbs_.count(stem) || (es && verbs_.count(w.substr(0, w.size() - 2))) ||
         (ies && verbs_.count(w.substr(0, w.size() - 3) + "y"));
}

bool CaptionQuestionMaker::verb_bare(const std::string& w) const {
  return verbs_.count(w) > 0;
}

bool CaptionQuestionMaker::place(const std::string& w) const {
  const std::string l = lemma(w);
  if (kGrounds.count(l) || kGrounds.count(w))
    return true;
  const auto senses = nouns_.synsets(l);
  if (senses.empty())
    return false;
  for (const char* ancestor : kPlaceAncestors)
    if (nouns_.descends_from(senses.front(), ancestor))
      return true;
  return false;
}

// A noun phrase from token i: [determiner or number] modifiers* head-noun. Modifiers are read
// while no verb or break word comes; the phrase ends at its last noun.
bool CaptionQuestionMaker::phrase_at(const std::vector<std::string>& t, size_t i, Phrase& p) const {
  p = Phrase{i, i, 0, ""};
  size_t j = i;
  if (j < t.size() && (kDeterminers.count(t[j]) || kNumbers.count(t[j])))
    p.determiner = t[j++];
  bool found = false;
  for (; j < t.size() && j < i + 5; ++j) {
    const std::string& w = t[j];
    if (kBreaks.count(w) || kPrepositions.count(w) || kDeterminers.count(w) || kNumbers.count(w))
      break;
    // "a couple guys splash": a plural noun before a verb is the head, not the verb
    const bool next_verb =
        plural(w) && j + 1 < t.size() && (verb_bare(t[j + 1]) || verb_ing(t[j + 1]));
    if (found && (verb_ing(w) || (!plural(t[p.head]) && verb_s(w) && !next_verb) ||
                  (plural(t[p.head]) && verb_bare(w) && !plural(w))))
      break;
    if (!found && verb_ing(w) && !noun(w))
      break;
    if (noun(w)) {
      p.head = j;
      found = true;
    }
  }
  if (!found)
    return false;
  p.end = p.head + 1;
  return true;
}

std::string CaptionQuestionMaker::subject_words(const std::vector<std::string>& t,
                                                const Phrase& p) const {
  const size_t from = p.determiner.empty() ? p.begin : p.begin + 1;
  return join(t, from, p.end);
}

std::vector<CaptionQuestion> CaptionQuestionMaker::questions(const std::string& caption) const {
  const auto t = tokens_of(caption);
  std::vector<CaptionQuestion> out;
  Phrase subject;
  if (t.size() < 3 || !phrase_at(t, 0, subject))
    return out;
  // Prepositional phrases after the subject ("a man in a red shirt"), then the verb.
  size_t k = subject.end;
  Phrase pp;
  while (k < t.size() && kPrepositions.count(t[k]) && phrase_at(t, k + 1, pp))
    k = pp.end;
  const bool many = plural(t[subject.head]);
  const bool aux = k + 1 < t.size() && (t[k] == "is" || t[k] == "are") && verb_ing(t[k + 1]);
  const size_t verb = aux ? k + 1 : k;
  const bool ing = verb < t.size() && verb_ing(t[verb]);
  const bool finite = verb < t.size() && !ing && (many ? verb_bare(t[verb]) : verb_s(t[verb]));
  const bool has_verb = ing || finite;
  const bool conjoined = subject.end < t.size() && t[subject.end] == "and";
  const std::string be = many ? "are" : "is";
  const std::string rest = has_verb ? join(t, verb, t.size()) : "";
  const std::string the_subject = "the " + subject_words(t, subject);
  // Number: "two girls are sitting on a bench" -> how many girls are sitting on a bench?
  if (kNumbers.count(subject.determiner) && many && has_verb && !conjoined)
    out.push_back({"how many " + subject_words(t, subject) + " " + (ing ? "are " : "") + rest + "?",
                   subject.determiner, "number"});
  // Object, the subject: "a dog is catching a ball" -> what is catching a ball? Not when the
  // verb is a reduced relative clause ("a boy wearing a hat is climbing") or the clause was cut
  // ("... climbing a large, grey rock": it must end on a noun or a verb).
  const bool second_verb =
      std::any_of(t.begin() + static_cast<long>(verb) + (has_verb ? 1 : 0), t.end(),
                  [](const std::string& w) { return w == "is" || w == "are"; });
  const bool ends_well = !t.empty() && (noun(t.back()) || verb_ing(t.back()) || verb_s(t.back()) ||
                                        verb_bare(t.back()));
  if (!kNumbers.count(subject.determiner) && !many && has_verb && !conjoined && !second_verb &&
      ends_well)
    out.push_back(
        {"what " + std::string(ing ? "is " : "") + rest + "?", lemma(t[subject.head]), "object"});
  // Object, the verb's: "a dog is catching a ball" -> what is the dog catching?
  Phrase object;
  if (ing && !conjoined && verb + 1 < t.size() && kDeterminers.count(t[verb + 1]) &&
      phrase_at(t, verb + 1, object) &&
      (object.end == t.size() || kPrepositions.count(t[object.end])))
    out.push_back(
        {"what " + be + " " + the_subject + " " + t[verb] + "?", lemma(t[object.head]), "object"});
  // Colour: "a man in a red shirt" -> what is the colour of the shirt?
  std::vector<std::pair<std::string, std::string>> coloured;  // (thing, colour), in order
  for (size_t m = 0; m + 1 < t.size(); ++m) {
    Phrase p;
    if (kColours.count(t[m]) && phrase_at(t, m + 1, p) && p.head == m + 1)
      coloured.emplace_back(t[p.head], t[m]);
  }
  for (const auto& [thing, colour] : coloured) {
    const auto& th = thing;
    const auto& co = colour;
    if (std::none_of(coloured.begin(), coloured.end(),  // two colours of one name: ambiguous
                     [&](const auto& x) { return x.first == th && x.second != co; })) {
      out.push_back({"what is the colour of the " + thing + "?", colour, "colour"});
      break;
    }
  }
  // Location: "a dog is running in the park" -> where is the dog running?
  for (size_t m = subject.end; m + 2 < t.size() && !conjoined; ++m) {
    Phrase where;
    if ((t[m] != "in" && t[m] != "on" && t[m] != "at") || !phrase_at(t, m + 1, where) ||
        where.determiner.empty() || !place(t[where.head]) ||
        (where.end < t.size() && t[where.end] == "of"))  // "on top of", "at the edge of"
      continue;
    // The verb only when nothing but this place follows it: "where is the dog running?", but
    // "where is the man?" of "a man holding a cup in the hall"
    const bool intransitive = ing && verb + 1 == m;
    out.push_back({"where " + be + " " + the_subject + (intransitive ? " " + t[verb] : "") + "?",
                   lemma(t[where.head]), "location"});
    break;
  }
  return out;
}

std::vector<bool> prune_answers(const std::vector<std::string>& answers,
                                const std::vector<bool>& counted, int min_count, double max_share,
                                uint64_t seed) {
  std::map<std::string, int> count;
  int total = 0;
  for (size_t i = 0; i < answers.size(); ++i)
    if (counted[i]) {
      ++count[answers[i]];
      ++total;
    }
  std::vector<bool> keep(answers.size());
  for (size_t i = 0; i < answers.size(); ++i) {
    const int n = count.count(answers[i]) ? count[answers[i]] : 0;
    if (n < min_count)
      continue;
    const double share = std::min(1.0, max_share * total / n);
    // splitmix64 of (seed, i): the same choice on every machine
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    keep[i] = static_cast<double>(z >> 11) / 9007199254740992.0 < share;
  }
  return keep;
}

}  // namespace glimpse::text

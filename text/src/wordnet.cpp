#include "glimpse/text/wordnet.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

namespace glimpse::text {

namespace {

// NLTK's MORPHOLOGICAL_SUBSTITUTIONS for nouns, in its order.
const std::pair<const char*, const char*> kNounRules[] = {
    {"s", ""},      {"ses", "s"},   {"ves", "f"},   {"xes", "x"}, {"zes", "z"},
    {"ches", "ch"}, {"shes", "sh"}, {"men", "man"}, {"ies", "y"}};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> apply_rules(const std::vector<std::string>& forms) {
  std::vector<std::string> out;
  for (const auto& form : forms)
    for (const auto& [old, now] : kNounRules)
      if (ends_with(form, old))
        out.push_back(form.substr(0, form.size() - std::string(old).size()) + now);
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

Error malformed(const std::string& path, size_t line, const std::string& what) {
  return Error(ErrorCode::kCorrupt, path + ":" + std::to_string(line) + ": " + what +
                                        " (is it WordNet 3.0's file? reinstall wordnet-base)");
}

// Calls f(line, number) for every line that is not the licence header (which starts with spaces).
void each_line(const std::string& path, const std::function<void(const std::string&, size_t)>& f) {
  std::ifstream in(path);
  if (!in)
    throw Error(ErrorCode::kNotFound,
                "cannot read " + path +
                    ": WUPS and glimpse questions read WordNet 3.0 there (apt-get install "
                    "wordnet-base)");
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n)
    if (!line.empty() && line[0] != ' ')
      f(line, n);
}

}  // namespace

Result<WordNetNouns> WordNetNouns::load(const std::string& dir) {
  try {
    WordNetNouns w;
    w.read_index(dir + "/index.noun");
    w.read_exceptions(dir + "/noun.exc");
    w.read_data(dir + "/data.noun");
    w.name_synsets(dir + "/data.noun");
    w.compute_depths();
    return w;
  } catch (const Error& e) {
    return ErrorInfo{e.code(), e.what()};
  }
}

void WordNetNouns::read_index(const std::string& path) {
  each_line(path, [&](const std::string& line, size_t n) {
    std::istringstream s(line);
    std::string lemma, pos;
    size_t synset_count = 0, pointer_count = 0;
    if (!(s >> lemma >> pos >> synset_count >> pointer_count) || pos != "n")
      throw malformed(path, n, "not an index line (lemma n synset_cnt p_cnt ...)");
    std::string skip;
    for (size_t i = 0; i < pointer_count + 2; ++i)  // the pointer symbols, sense_cnt, tagsense_cnt
      s >> skip;
    auto& offsets = index_[lemma];
    for (size_t i = 0; i < synset_count; ++i) {
      int64_t offset = 0;
      if (!(s >> offset))
        throw malformed(path, n, "fewer synset offsets than its synset_cnt");
      offsets.push_back(offset);
    }
  });
  if (index_.empty())
    throw malformed(path, 0, "no lemmas");
}

void WordNetNouns::read_exceptions(const std::string& path) {
  each_line(path, [&](const std::string& line, size_t) {
    std::istringstream s(line);
    std::string inflected, base;
    s >> inflected;
    while (s >> base)
      exceptions_[inflected].push_back(base);
  });
}

void WordNetNouns::read_data(const std::string& path) {
  std::vector<std::vector<int64_t>> parents;
  each_line(path, [&](const std::string& line, size_t n) {
    std::istringstream s(line);
    int64_t offset = 0;
    std::string lex_file, type, count_hex, word, lex_id;
    if (!(s >> offset >> lex_file >> type >> count_hex) || type != "n")
      throw malformed(path, n, "not a noun synset line (offset lex_filenum n w_cnt ...)");
    const auto words = std::stoul(count_hex, nullptr, 16);
    Synset synset;
    for (size_t i = 0; i < words; ++i) {
      if (!(s >> word >> lex_id))
        throw malformed(path, n, "fewer words than its w_cnt");
      if (i == 0)
        synset.name = lower(word);  // the first lemma; its sense number is added by name_synsets
    }
    size_t pointers = 0;
    s >> pointers;
    std::vector<int64_t> up;
    for (size_t i = 0; i < pointers; ++i) {
      std::string symbol, pos, source_target;
      int64_t target = 0;
      if (!(s >> symbol >> target >> pos >> source_target))
        throw malformed(path, n, "fewer pointers than its p_cnt");
      if ((symbol == "@" || symbol == "@i") && pos == "n")
        up.push_back(target);
    }
    by_offset_[offset] = synsets_.size();
    synsets_.push_back(std::move(synset));
    parents.push_back(std::move(up));
  });
  for (size_t i = 0; i < synsets_.size(); ++i)
    for (const auto offset : parents[i]) {
      const auto it = by_offset_.find(offset);
      if (it == by_offset_.end())
        throw malformed(path, 0, "a hypernym pointer to " + std::to_string(offset) + ", no synset");
      synsets_[i].hypernyms.push_back(it->second);
    }
}

// NLTK's name: the first lemma, ".n.", and the synset's place among that lemma's senses.
void WordNetNouns::name_synsets(const std::string& path) {
  for (const auto& [offset, i] : by_offset_) {
    auto& synset = synsets_[i];
    const auto it = index_.find(synset.name);
    const auto place = it == index_.end() ? std::vector<int64_t>::const_iterator{}
                                          : std::find(it->second.begin(), it->second.end(), offset);
    if (it == index_.end() || place == it->second.end())
      throw malformed(path, 0,
                      "synset " + std::to_string(offset) + " is not among the index's senses of '" +
                          synset.name + "'");
    const auto sense = place - it->second.begin() + 1;
    synset.name += std::string(".n.") + (sense < 10 ? "0" : "") + std::to_string(sense);
  }
}

void WordNetNouns::compute_depths() {
  std::function<void(size_t)> visit = [&](size_t i) {
    auto& s = synsets_[i];
    if (s.min_depth >= 0)
      return;
    int low = std::numeric_limits<int>::max(), high = -1;
    for (const auto h : s.hypernyms) {
      visit(h);
      low = std::min(low, synsets_[h].min_depth);
      high = std::max(high, synsets_[h].max_depth);
    }
    s.min_depth = s.hypernyms.empty() ? 0 : low + 1;
    s.max_depth = s.hypernyms.empty() ? 0 : high + 1;
  };
  for (size_t i = 0; i < synsets_.size(); ++i)
    visit(i);
}

std::vector<std::string> WordNetNouns::lemmas_of(const std::vector<std::string>& forms) const {
  std::vector<std::string> out;
  for (const auto& form : forms)
    if (index_.count(form) && std::find(out.begin(), out.end(), form) == out.end())
      out.push_back(form);
  return out;
}

std::vector<std::string> WordNetNouns::morphy(const std::string& word) const {
  if (const auto e = exceptions_.find(word); e != exceptions_.end()) {
    std::vector<std::string> forms{word};
    forms.insert(forms.end(), e->second.begin(), e->second.end());
    return lemmas_of(forms);
  }
  auto forms = apply_rules({word});
  std::vector<std::string> first{word};
  first.insert(first.end(), forms.begin(), forms.end());
  if (auto found = lemmas_of(first); !found.empty())
    return found;
  while (!forms.empty()) {
    forms = apply_rules(forms);
    if (auto found = lemmas_of(forms); !found.empty())
      return found;
  }
  return {};
}

std::vector<int64_t> WordNetNouns::synsets(const std::string& word) const {
  std::vector<int64_t> out;
  for (const auto& form : morphy(lower(word))) {
    const auto& offsets = index_.at(form);
    out.insert(out.end(), offsets.begin(), offsets.end());
  }
  return out;
}

size_t WordNetNouns::at(int64_t offset) const {
  const auto it = by_offset_.find(offset);
  if (it == by_offset_.end())
    throw Error(ErrorCode::kInvalidArgument, "no noun synset at offset " + std::to_string(offset));
  return it->second;
}

const std::string& WordNetNouns::name(int64_t synset) const {
  return synsets_[at(synset)].name;
}
int WordNetNouns::min_depth(int64_t synset) const {
  return synsets_[at(synset)].min_depth;
}
int WordNetNouns::max_depth(int64_t synset) const {
  return synsets_[at(synset)].max_depth;
}

std::unordered_map<size_t, int> WordNetNouns::distances(size_t from) const {
  std::unordered_map<size_t, int> dist;
  std::deque<std::pair<size_t, int>> queue{{from, 0}};
  while (!queue.empty()) {
    const auto [s, d] = queue.front();
    queue.pop_front();
    if (!dist.emplace(s, d).second)
      continue;
    for (const auto h : synsets_[s].hypernyms)
      queue.emplace_back(h, d + 1);
  }
  return dist;
}

double WordNetNouns::wup_similarity(int64_t a_offset, int64_t b_offset) const {
  const size_t a = at(a_offset), b = at(b_offset);
  const auto up_a = distances(a), up_b = distances(b);
  std::vector<size_t> common;
  int deepest = -1;
  for (const auto& [s, d] : up_a)
    if (up_b.count(s)) {
      common.push_back(s);
      deepest = std::max(deepest, synsets_[s].min_depth);
    }
  if (common.empty())
    return 0.0;  // nouns share entity.n.01: never reached on WordNet 3.0
  std::vector<size_t> lowest;
  for (const auto s : common)
    if (synsets_[s].min_depth == deepest)
      lowest.push_back(s);
  std::sort(lowest.begin(), lowest.end(),
            [&](size_t x, size_t y) { return synsets_[x].name < synsets_[y].name; });
  const size_t subsumer =
      std::find(lowest.begin(), lowest.end(), a) != lowest.end() ? a : lowest.front();
  const auto from_subsumer = distances(subsumer);
  const auto path = [&](size_t x, const std::unordered_map<size_t, int>& up_x) {
    if (x == subsumer)
      return 0;
    int best = std::numeric_limits<int>::max();
    for (const auto& [s, d] : up_x)
      if (const auto it = from_subsumer.find(s); it != from_subsumer.end())
        best = std::min(best, d + it->second);
    return best;
  };
  const double depth = synsets_[subsumer].max_depth + 1;
  return 2.0 * depth / (path(a, up_a) + path(b, up_b) + 2.0 * depth);
}

bool WordNetNouns::descends_from(int64_t synset, const std::string& ancestor) const {
  for (const auto& [s, d] : distances(at(synset)))
    if (synsets_[s].name == ancestor)
      return true;
  return false;
}

Result<std::unordered_set<std::string>> load_index_lemmas(const std::string& path) {
  try {
    std::unordered_set<std::string> lemmas;
    each_line(path, [&](const std::string& line, size_t) {
      lemmas.insert(line.substr(0, line.find(' ')));
    });
    return lemmas;
  } catch (const Error& e) {
    return ErrorInfo{e.code(), e.what()};
  }
}

}  // namespace glimpse::text

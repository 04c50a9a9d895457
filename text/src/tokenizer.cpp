#include "glimpse/text/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace glimpse::text {

namespace {

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

const std::set<std::string>& dropped() {
  static const std::set<std::string> kDropped = {"''",    "'",     "``", "`",   "-lrb-", "-rrb-",
                                                 "-lcb-", "-rcb-", ".",  "?",   "!",     ",",
                                                 ":",     "-",     "--", "...", ";"};
  return kDropped;
}

// Splits clitics off a word: "don't" -> "do", "n't"; "dog's" -> "dog", "'s".
void push_word(std::string w, std::vector<std::string>& out) {
  static const char* kClitics[] = {"'s", "'re", "'ve", "'ll", "'d", "'m"};
  if (w.size() > 3 && w.compare(w.size() - 3, 3, "n't") == 0) {
    out.push_back(w.substr(0, w.size() - 3));
    out.emplace_back("n't");
    return;
  }
  for (const char* c : kClitics) {
    const std::string cl(c);
    if (w.size() > cl.size() && w.compare(w.size() - cl.size(), cl.size(), cl) == 0) {
      out.push_back(w.substr(0, w.size() - cl.size()));
      out.push_back(cl);
      return;
    }
  }
  out.push_back(std::move(w));
}

}  // namespace

std::vector<std::string> tokenize(const std::string& sentence) {
  std::string s = sentence;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<std::string> raw;
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    const bool word_byte = is_alnum(c) || (static_cast<unsigned char>(c) >= 0x80);
    if (word_byte) {
      // A word: letters, digits, non-ASCII bytes, and joiners that sit between word characters
      // (- / & . , ' as in "black-and-white", "and/or", "3.5", "1,000", "don't").
      size_t j = i;
      while (j < n) {
        const char d = s[j];
        if (is_alnum(d) || static_cast<unsigned char>(d) >= 0x80) {
          ++j;
          continue;
        }
        const bool next_word =
            j + 1 < n && (is_alnum(s[j + 1]) || static_cast<unsigned char>(s[j + 1]) >= 0x80);
        if ((d == '-' || d == '/' || d == '\'' || d == '&') && next_word) {
          ++j;
          continue;
        }
        if (d == ',' && j > i && is_digit(s[j - 1]) && j + 1 < n && is_digit(s[j + 1])) {
          ++j;
          continue;
        }
        if (d == '.' && next_word) {  // 3.5, u.s, e.g
          ++j;
          continue;
        }
        break;
      }
      std::string w = s.substr(i, j - i);
      // An abbreviation with inner periods keeps its final one: "u.s." stays whole.
      if (j < n && s[j] == '.' && w.find('.') != std::string::npos && !is_digit(w.back())) {
        w += '.';
        ++j;
      }
      push_word(std::move(w), raw);
      i = j;
      continue;
    }
    // Punctuation runs that PTB keeps together.
    if (s.compare(i, 3, "...") == 0) {
      raw.emplace_back("...");
      i += 3;
    } else if (s.compare(i, 2, "--") == 0) {
      raw.emplace_back("--");
      i += 2;
    } else if (c == '\'' && i + 1 < n && s[i + 1] == '\'') {
      raw.emplace_back("''");
      i += 2;
    } else if (c == '`' && i + 1 < n && s[i + 1] == '`') {
      raw.emplace_back("``");
      i += 2;
    } else if (c == '\'' && i + 1 < n && is_alnum(s[i + 1])) {  // a clitic after a space: 's, 're
      size_t j = i + 1;
      while (j < n && is_alnum(s[j]))
        ++j;
      raw.push_back(s.substr(i, j - i));
      i = j;
    } else {
      switch (c) {
        case '(':
          raw.emplace_back("-lrb-");
          break;
        case ')':
          raw.emplace_back("-rrb-");
          break;
        case '{':
          raw.emplace_back("-lcb-");
          break;
        case '}':
          raw.emplace_back("-rcb-");
          break;
        case '"':
          raw.emplace_back("''");
          break;
        default:
          raw.emplace_back(1, c);
      }
      ++i;
    }
  }
  std::vector<std::string> out;
  for (auto& t : raw)
    if (!dropped().count(t))
      out.push_back(std::move(t));
  return out;
}

std::string normalize_caption(const std::string& sentence) {
  std::string out;
  for (const auto& t : tokenize(sentence)) {
    if (!out.empty())
      out += ' ';
    out += t;
  }
  return out;
}

}  // namespace glimpse::text

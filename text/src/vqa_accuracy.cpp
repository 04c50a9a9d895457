#include "glimpse/text/vqa_accuracy.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

namespace glimpse::text {

namespace {

// The official tables, as vqaEval.py has them (including its mix of ' and ’).
const std::map<std::string, std::string>& contractions() {
  static const std::map<std::string, std::string> kMap = {{"aint", "ain't"},
                                                          {"arent", "aren't"},
                                                          {"cant", "can't"},
                                                          {"couldve", "could've"},
                                                          {"couldnt", "couldn't"},
                                                          {"couldn'tve", "couldn’t’ve"},
                                                          {"couldnt’ve", "couldn’t’ve"},
                                                          {"didnt", "didn’t"},
                                                          {"doesnt", "doesn’t"},
                                                          {"dont", "don’t"},
                                                          {"hadnt", "hadn’t"},
                                                          {"hadnt’ve", "hadn’t’ve"},
                                                          {"hadn'tve", "hadn’t’ve"},
                                                          {"hasnt", "hasn’t"},
                                                          {"havent", "haven’t"},
                                                          {"hed", "he’d"},
                                                          {"hed’ve", "he’d’ve"},
                                                          {"he’dve", "he’d’ve"},
                                                          {"hes", "he’s"},
                                                          {"howd", "how’d"},
                                                          {"howll", "how’ll"},
                                                          {"hows", "how’s"},
                                                          {"Id’ve", "I’d’ve"},
                                                          {"I’dve", "I’d’ve"},
                                                          {"Im", "I’m"},
                                                          {"Ive", "I’ve"},
                                                          {"isnt", "isn’t"},
                                                          {"itd", "it’d"},
                                                          {"itd’ve", "it’d’ve"},
                                                          {"it’dve", "it’d’ve"},
                                                          {"itll", "it’ll"},
                                                          {"let’s", "let’s"},
                                                          {"maam", "ma’am"},
                                                          {"mightnt", "mightn’t"},
                                                          {"mightnt’ve", "mightn’t’ve"},
                                                          {"mightn’tve", "mightn’t’ve"},
                                                          {"mightve", "might’ve"},
                                                          {"mustnt", "mustn’t"},
                                                          {"mustve", "must’ve"},
                                                          {"neednt", "needn’t"},
                                                          {"notve", "not’ve"},
                                                          {"oclock", "o’clock"},
                                                          {"oughtnt", "oughtn’t"},
                                                          {"ow’s’at", "’ow’s’at"},
                                                          {"’ows’at", "’ow’s’at"},
                                                          {"’ow’sat", "’ow’s’at"},
                                                          {"shant", "shan’t"},
                                                          {"shed’ve", "she’d’ve"},
                                                          {"she’dve", "she’d’ve"},
                                                          {"she’s", "she’s"},
                                                          {"shouldve", "should’ve"},
                                                          {"shouldnt", "shouldn’t"},
                                                          {"shouldnt’ve", "shouldn’t’ve"},
                                                          {"shouldn’tve", "shouldn’t’ve"},
                                                          {"somebody’d", "somebodyd"},
                                                          {"somebodyd’ve", "somebody’d’ve"},
                                                          {"somebody’dve", "somebody’d’ve"},
                                                          {"somebodyll", "somebody’ll"},
                                                          {"somebodys", "somebody’s"},
                                                          {"someoned", "someone’d"},
                                                          {"someoned’ve", "someone’d’ve"},
                                                          {"someone’dve", "someone’d’ve"},
                                                          {"someonell", "someone’ll"},
                                                          {"someones", "someone’s"},
                                                          {"somethingd", "something’d"},
                                                          {"somethingd’ve", "something’d’ve"},
                                                          {"something’dve", "something’d’ve"},
                                                          {"somethingll", "something’ll"},
                                                          {"thats", "that’s"},
                                                          {"thered", "there’d"},
                                                          {"thered’ve", "there’d’ve"},
                                                          {"there’dve", "there’d’ve"},
                                                          {"therere", "there’re"},
                                                          {"theres", "there’s"},
                                                          {"theyd", "they’d"},
                                                          {"theyd’ve", "they’d’ve"},
                                                          {"they’dve", "they’d’ve"},
                                                          {"theyll", "they’ll"},
                                                          {"theyre", "they’re"},
                                                          {"theyve", "they’ve"},
                                                          {"twas", "’twas"},
                                                          {"wasnt", "wasn’t"},
                                                          {"wed’ve", "we’d’ve"},
                                                          {"we’dve", "we’d’ve"},
                                                          {"weve", "we've"},
                                                          {"werent", "weren’t"},
                                                          {"whatll", "what’ll"},
                                                          {"whatre", "what’re"},
                                                          {"whats", "what’s"},
                                                          {"whatve", "what’ve"},
                                                          {"whens", "when’s"},
                                                          {"whered", "where’d"},
                                                          {"wheres", "where's"},
                                                          {"whereve", "where’ve"},
                                                          {"whod", "who’d"},
                                                          {"whod’ve", "who’d’ve"},
                                                          {"who’dve", "who’d’ve"},
                                                          {"wholl", "who’ll"},
                                                          {"whos", "who’s"},
                                                          {"whove", "who've"},
                                                          {"whyll", "why’ll"},
                                                          {"whyre", "why’re"},
                                                          {"whys", "why’s"},
                                                          {"wont", "won’t"},
                                                          {"wouldve", "would’ve"},
                                                          {"wouldnt", "wouldn’t"},
                                                          {"wouldnt’ve", "wouldn’t’ve"},
                                                          {"wouldn’tve", "wouldn’t’ve"},
                                                          {"yall", "y’all"},
                                                          {"yall’ll", "y’all’ll"},
                                                          {"y’allll", "y’all’ll"},
                                                          {"yall’d’ve", "y’all’d’ve"},
                                                          {"y’alld’ve", "y’all’d’ve"},
                                                          {"y’all’dve", "y’all’d’ve"},
                                                          {"youd", "you’d"},
                                                          {"youd’ve", "you’d’ve"},
                                                          {"you’dve", "you’d’ve"},
                                                          {"youll", "you’ll"},
                                                          {"youre", "you’re"},
                                                          {"youve", "you’ve"}};
  return kMap;
}

const std::map<std::string, std::string>& number_words() {
  static const std::map<std::string, std::string> kMap = {
      {"none", "0"}, {"zero", "0"}, {"one", "1"},   {"two", "2"},   {"three", "3"}, {"four", "4"},
      {"five", "5"}, {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"},  {"ten", "10"}};
  return kMap;
}

const char* const kPunct[] = {";",  "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+",
                              "\\", "_", "-", ">", "<",  "@", "`", ",", "?", "!"};

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

bool digit_comma_digit(const std::string& s) {
  for (size_t i = 1; i + 1 < s.size(); ++i)
    if (s[i] == ',' && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 1])))
      return true;
  return false;
}

// The byte length of the white space (as Python's str.isspace() counts it) that starts at
// s[i], or 0: ASCII \t\n\v\f\r, space and \x1c-\x1f, and the Unicode spaces in UTF-8.
size_t space_at(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F))
    return 1;
  static const char* const kUnicodeSpaces[] = {"\xC2\x85",     "\xC2\xA0",     "\xE1\x9A\x80",
                                               "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF",
                                               "\xE2\x81\x9F", "\xE3\x80\x80"};
  for (const char* u : kUnicodeSpaces)
    if (s.compare(i, std::strlen(u), u) == 0)
      return std::strlen(u);
  // U+2000..U+200A
  if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
      static_cast<unsigned char>(s[i + 2]) <= 0x8A)
    return 3;
  return 0;
}

// The evaluation's newline/tab replacement, then Python's str.strip().
std::string clean(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\t')
      c = ' ';
  size_t begin = 0;
  while (begin < s.size() && space_at(s, begin) != 0)
    begin += space_at(s, begin);
  size_t end = begin;  // one past the last character that is not white space
  for (size_t i = begin; i < s.size();) {
    const size_t n = space_at(s, i);
    if (n == 0)
      end = ++i;
    else
      i += n;
  }
  return s.substr(begin, end - begin);
}

}  // namespace

std::string vqa_process_punctuation(const std::string& in) {
  std::string out = in;
  const bool digit_comma = digit_comma_digit(in);
  for (const char* p : kPunct) {
    const std::string ps(p);
    const bool spaced =
        in.find(ps + " ") != std::string::npos || in.find(" " + ps) != std::string::npos;
    replace_all(out, ps, (spaced || digit_comma) ? "" : " ");
  }
  // periodStrip.sub("", out, re.UNICODE): re.UNICODE is 32 and lands in `count`, so at most
  // 32 periods go; the pattern's "(?!<=\d)" is a lookahead that always holds here.
  std::string stripped;
  int removed = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const bool digit_next =
        i + 1 < out.size() && std::isdigit(static_cast<unsigned char>(out[i + 1]));
    if (out[i] == '.' && !digit_next && removed < 32) {
      ++removed;
      continue;
    }
    stripped += out[i];
  }
  return stripped;
}

std::string vqa_process_digit_article(const std::string& in) {
  std::string lower = in;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::istringstream words(lower);
  std::vector<std::string> out;
  for (std::string w; words >> w;) {
    auto n = number_words().find(w);
    if (n != number_words().end())
      w = n->second;
    if (w != "a" && w != "an" && w != "the")
      out.push_back(w);
  }
  std::string joined;
  for (auto& w : out) {
    auto c = contractions().find(w);
    if (c != contractions().end())
      w = c->second;
    joined += (joined.empty() ? "" : " ") + w;
  }
  return joined;
}

std::string vqa_normalize_answer(const std::string& answer) {
  return vqa_process_digit_article(vqa_process_punctuation(clean(answer)));
}

double vqa_accuracy(const std::string& predicted, const std::vector<std::string>& human_answers) {
  if (human_answers.empty())
    return 0.0;
  std::string res = clean(predicted);
  std::vector<std::string> gts;
  for (const auto& h : human_answers)
    gts.push_back(clean(h));
  // As the official evaluation does: both sides are normalised only when the humans disagree.
  if (std::set<std::string>(gts.begin(), gts.end()).size() > 1) {
    for (auto& g : gts)
      g = vqa_normalize_answer(g);
    res = vqa_normalize_answer(res);
  }
  double total = 0;
  for (size_t i = 0; i < gts.size(); ++i) {
    int matches = 0;
    for (size_t j = 0; j < gts.size(); ++j)
      if (j != i && gts[j] == res)
        ++matches;
    total += std::min(1.0, matches / 3.0);
  }
  return total / static_cast<double>(gts.size());
}

}  // namespace glimpse::text

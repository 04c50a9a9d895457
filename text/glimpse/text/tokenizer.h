// Caption tokenisation that matches what coco-caption feeds its metrics: Stanford's
// PTBTokenizer with -lowerCase, then the punctuation tokens coco-caption drops
// ('' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;).
//
//   tokenize("A dog's ball, (red).")  ->  {"a", "dog", "'s", "ball", "red"}
//
// PTB rules implemented: lower-case; punctuation split off words; clitics split ("don't" ->
// "do n't", "dog's" -> "dog 's", 're 've 'll 'd 'm); hyphens, slashes, decimal points and
// digit-group commas stay inside words ("black-and-white", "3.5", "1,000"); abbreviations with
// inner periods keep their final period ("u.s."). Thread-safe.
#pragma once

#include <string>
#include <vector>

namespace glimpse::text {

std::vector<std::string> tokenize(const std::string& sentence);

// Tokens joined by single spaces: the string coco-caption's scorers split.
std::string normalize_caption(const std::string& sentence);

}  // namespace glimpse::text

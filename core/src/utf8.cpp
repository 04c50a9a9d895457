#include "glimpse/core/utf8.h"

namespace glimpse::core {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026

// The length of the well-formed sequence starting at text[i], or 0 when it is ill-formed; then
// `bad` is the length of its maximal ill-formed subpart (at least 1). Table 3-7 of the Unicode
// standard: the second byte's range depends on the first.
std::size_t sequence_length(std::string_view text, std::size_t i, std::size_t& bad) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  bad = 1;
  if (b0 < 0x80)
    return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    lo = b0 == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
    hi = b0 == 0xED ? 0x9F : 0xBF;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    lo = b0 == 0xF0 ? 0x90 : 0x80;  // no overlong forms
    hi = b0 == 0xF4 ? 0x8F : 0xBF;  // nothing over U+10FFFF
  } else {
    return 0;  // a continuation byte, C0, C1 or F5..FF
  }
  for (std::size_t k = 1; k < n; ++k) {
    if (i + k >= text.size())
      return 0;
    const unsigned char b = byte(i + k);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
      return 0;
    bad = k + 1;
  }
  return n;
}

}  // namespace

std::string utf8_valid(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t bad = 1;
    const std::size_t n = sequence_length(text, i, bad);
    if (n == 0) {
      out += kReplacement;
      i += bad;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string utf8_prefix(std::string_view text, std::size_t max_bytes) {
  std::string valid = utf8_valid(text);
  if (valid.size() <= max_bytes)
    return valid;
  const std::size_t mark = max_bytes >= kEllipsis.size() ? kEllipsis.size() : 0;
  std::size_t cut = max_bytes - mark;
  // Back up to the first byte of a character (valid UTF-8: never more than 3 steps).
  while (cut > 0 && (static_cast<unsigned char>(valid[cut]) & 0xC0) == 0x80)
    --cut;
  valid.resize(cut);
  if (mark != 0)
    valid += kEllipsis;
  return valid;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (const char ch : utf8_prefix(text, max_bytes)) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t bad = 1;
    const std::size_t n = sequence_length(text, i, bad);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

}  // namespace glimpse::core

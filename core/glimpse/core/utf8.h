// Text that goes back out (JSON replies, error messages, logs) passes through here, so that a
// byte a client sent can never make an encoder throw: invalid UTF-8 becomes U+FFFD and a cut
// never splits a character. Thread-safe, no allocation beyond the returned string.
//
//   refuse("no route " + core::utf8_prefix(path, 200));   // "no route /caf\xC3" -> "/caf…"
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace glimpse::core {

// `text` as valid UTF-8: each maximal ill-formed subsequence (a stray continuation byte, a
// truncated sequence, an overlong form, a surrogate, a code point over U+10FFFF) becomes U+FFFD,
// as the Unicode standard's "substitution of maximal subparts" does.
std::string utf8_valid(std::string_view text);

// utf8_valid(text) cut to at most `max_bytes` bytes on a character boundary, with "…" (3 bytes,
// counted in max_bytes) added where it was cut. max_bytes below 3 cuts without the mark.
std::string utf8_prefix(std::string_view text, std::size_t max_bytes);

// utf8_prefix(text, max_bytes) fit for one line of a log: control characters, '"' and '\\'
// become \xHH escapes, so a client cannot forge or split lines.
std::string printable(std::string_view text, std::size_t max_bytes);

// True when `text` is valid UTF-8 (no U+FFFD substitution would change it).
bool is_valid_utf8(std::string_view text);

}  // namespace glimpse::core

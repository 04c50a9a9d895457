#include "glimpse/core/utf8.h"

#include <gtest/gtest.h>

namespace glimpse::core {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, ValidTextIsUnchanged) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xB6 plain";
  EXPECT_EQ(utf8_valid(text), text);
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_EQ(utf8_valid(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(Utf8, EachMaximalIllFormedSubpartBecomesOneReplacement) {
  EXPECT_EQ(utf8_valid("\xFF"), kFffd);
  EXPECT_EQ(utf8_valid("/\xFF/"), "/" + kFffd + "/");
  EXPECT_EQ(utf8_valid("\x80\x80"), kFffd + kFffd);              // two stray continuations
  EXPECT_EQ(utf8_valid("\xE2\x82"), kFffd);                      // a cut 3-byte character
  EXPECT_EQ(utf8_valid("\xE2\x82x"), kFffd + "x");               // its maximal subpart
  EXPECT_EQ(utf8_valid("\xC0\xAF"), kFffd + kFffd);              // overlong '/'
  EXPECT_EQ(utf8_valid("\xE0\x80\xAF"), kFffd + kFffd + kFffd);  // overlong, 3 bytes
  EXPECT_EQ(utf8_valid("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // a surrogate, U+D800
  EXPECT_EQ(utf8_valid("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // over U+10FFFF
  EXPECT_EQ(utf8_valid("\xF0\x9F\x90"), kFffd);  // a cut 4-byte character
  EXPECT_FALSE(is_valid_utf8("\xC3"));
  EXPECT_FALSE(is_valid_utf8("ok\xED\xBF\xBF"));
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF itself
}

TEST(Utf8, PrefixCutsOnACharacterBoundaryAndMarksTheCut) {
  EXPECT_EQ(utf8_prefix("short", 10), "short");
  EXPECT_EQ(utf8_prefix("abcdefghij", 10), "abcdefghij");
  EXPECT_EQ(utf8_prefix("abcdefghijk", 10), "abcdefg\xE2\x80\xA6");
  // "é" is 2 bytes: a cut that would split it drops it whole.
  const std::string e_acute = "\xC3\xA9";
  const std::string text = "abcd" + e_acute + "wxyz";  // 10 bytes; the 'e' is bytes 4 and 5
  EXPECT_EQ(utf8_prefix(text, 9), "abcd" + e_acute + "\xE2\x80\xA6");
  EXPECT_EQ(utf8_prefix(text, 8), "abcd\xE2\x80\xA6");
  EXPECT_EQ(utf8_prefix("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 6), e_acute + "\xE2\x80\xA6");
  EXPECT_EQ(utf8_prefix("abcdef", 2), "ab");
  // Invalid bytes are replaced before the cut is measured.
  EXPECT_EQ(utf8_prefix("\xFF\xFF\xFF\xFF", 7), kFffd + "\xE2\x80\xA6");
  EXPECT_TRUE(is_valid_utf8(utf8_prefix("\xF0\x9F\x90\xB6\xF0\x9F\x90\xB6", 5)));
}

TEST(Utf8, PrintableEscapesWhatCouldForgeALogLine) {
  using namespace std::string_view_literals;  // NOLINT: the text holds a NUL
  EXPECT_EQ(printable("GET /a\r\nforged 200\x00\"\\ \xff"sv, 100),
            "GET /a\\x0D\\x0Aforged 200\\x00\\x22\\x5C " + kFffd);
  EXPECT_EQ(printable("caf\xc3\xa9", 100), "caf\xc3\xa9");
}

}  // namespace
}  // namespace glimpse::core

#include "glimpse/web/access_log.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace glimpse::web {
namespace {

TEST(AccessLog, OneLineWithTimeClientRequestStatusBytesAndDuration) {
  AccessEntry e{"127.0.0.1", "POST", "/api/v1/caption?beam=3", 11, 200, 18311, 143.25};
  EXPECT_EQ(format_access_line(e, 1796290867),
            "2026-12-03T09:41:07Z 127.0.0.1 \"POST /api/v1/caption?beam=3 HTTP/1.1\" 200 18311 "
            "143.2ms\n");
}

TEST(AccessLog, WhatTheClientChoseCannotForgeOrSplitALine) {
  AccessEntry e{"::1", "-", "/a\"b\r\nGET /x HTTP/1.1\xff", 10, 404, 80, 0.5};
  EXPECT_EQ(format_access_line(e, 0),
            "1970-01-01T00:00:00Z ::1 \"- /a\\x22b\\x0D\\x0AGET /x HTTP/1.1\xEF\xBF\xBD HTTP/1.0\" "
            "404 80 0.5ms\n");
}

TEST(AccessLog, AppendsToItsFileAndRefusesAFolderThatIsNotThere) {
  glimpse::testing::TempDir d;
  AccessLog log;
  ASSERT_TRUE(log.open(d.file("access.log")));
  log.write({"1.2.3.4", "GET", "/healthz", 11, 200, 30, 1.0});
  log.write({"1.2.3.4", "GET", "/nowhere", 11, 404, 90, 2.0});
  const auto lines = glimpse::testing::lines(glimpse::testing::read_bytes(d.file("access.log")));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("\"GET /nowhere HTTP/1.1\" 404 90 2.0ms"), std::string::npos);
  AccessLog bad;
  const auto s = bad.open(d.file("no/such/folder/access.log"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "cannot open the access log '" +
                                   d.file("no/such/folder/access.log") +
                                   "': No such file or directory");
  EXPECT_FALSE(AccessLog().enabled());
}

}  // namespace
}  // namespace glimpse::web

#include "glimpse/core/file_util.h"

#include <gtest/gtest.h>

#include "glimpse/core/error.h"
#include "test_util.h"

namespace glimpse::core {
namespace {

using glimpse::testing::TempDir;

TEST(ReadFile, ReadsWhatWasWritten) {
  TempDir dir;
  write_file_atomic(dir.file("a.bin"), std::string("ab\0cd", 5));
  EXPECT_EQ(read_file(dir.file("a.bin")), std::string("ab\0cd", 5));
}

TEST(ReadFile, MissingFileIsNotFoundAndNamesThePath) {
  try {
    read_file("/nonexistent/glimpse.bin");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/glimpse.bin"), std::string::npos);
  }
}

TEST(ReadFile, RefusesAFolder) {
  TempDir dir;
  try {
    read_file(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("is a folder"), std::string::npos);
  }
}

TEST(ReadFile, RefusesOverTheLimitBeforeReading) {
  TempDir dir;
  write_file_atomic(dir.file("big"), std::string(1000, 'x'));
  try {
    read_file(dir.file("big"), 999);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTooLarge);
    EXPECT_NE(std::string(e.what()).find("1000 bytes, over the limit of 999"), std::string::npos)
        << e.what();
  }
}

TEST(WriteFileAtomic, ReplacesAndLeavesNoTemporaryFiles) {
  TempDir dir;
  write_file_atomic(dir.file("m"), "old");
  write_file_atomic(dir.file("m"), "new");
  EXPECT_EQ(read_file(dir.file("m")), "new");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(WriteFileAtomic, UnwritableFolderIsAnIoError) {
  try {
    write_file_atomic("/nonexistent-dir/x.bin", "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

}  // namespace
}  // namespace glimpse::core

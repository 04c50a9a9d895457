#include "glimpse/core/error.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace glimpse {
namespace {

TEST(Result, HoldsValueOrError) {
  Result<int> ok = 7;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), 7);
  auto bad = Result<int>::failure(ErrorCode::kNotFound, "no such thing");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(bad.error().message, "no such thing");
}

TEST(Result, ValueOfAnErrorThrowsItsMessage) {
  auto bad = Result<int>::failure(ErrorCode::kCorrupt, "broken header");
  try {
    (void)bad.value();
    FAIL() << "value() of an error must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt);
    EXPECT_STREQ(e.what(), "broken header");
  }
}

TEST(CatchAsResult, ConvertsTorchErrorsToTheirFirstLine) {
  auto r = catch_as_result([]() -> int {
    auto a = torch::zeros({2, 3});
    auto b = torch::zeros({4, 5});
    return static_cast<int>(torch::mm(a, b).numel());
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  EXPECT_NE(r.error().message.find("tensor library error"), std::string::npos);
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
}

TEST(CatchAsStatus, KeepsGlimpseErrorCodes) {
  Status s = catch_as_status([] { throw Error(ErrorCode::kTooLarge, "too big"); });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(s.error().message, "too big");
  EXPECT_TRUE(catch_as_status([] {}).ok());
}

}  // namespace
}  // namespace glimpse

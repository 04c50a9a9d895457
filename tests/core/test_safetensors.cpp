#include "glimpse/core/safetensors.h"

#include <gtest/gtest.h>

#include "glimpse/core/file_util.h"
#include "test_util.h"

namespace glimpse::core {
namespace {

using glimpse::testing::TempDir;

std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json + data;
}

std::string parse_error(const std::string& bytes) {
  auto r = SafetensorsFile::parse(bytes, "t.safetensors");
  EXPECT_FALSE(r.ok());
  if (r.ok())
    return "";
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << r.error().message;
  return r.error().message;
}

TEST(Safetensors, RoundTripsDtypesShapesValuesAndMetadata) {
  NamedTensors in = {
      {"a.weight", torch::arange(6, torch::kFloat32).view({2, 3})},
      {"b.half", torch::tensor({1.5, -2.0}).to(torch::kFloat16)},
      {"c.count", torch::tensor(int64_t{42})},
      {"d.mask", torch::tensor({true, false, true})},
      {"e.empty", torch::zeros({0, 4})},
  };
  std::string bytes = serialize_safetensors(in, {{"format", "glimpse"}, {"k", "v"}});
  auto f = SafetensorsFile::parse(bytes).take();
  EXPECT_EQ(f.metadata().at("format"), "glimpse");
  EXPECT_EQ(f.entries().size(), 5u);
  EXPECT_EQ(f.entries().at("a.weight").dtype, "F32");
  EXPECT_EQ(f.entries().at("b.half").dtype, "F16");
  EXPECT_EQ(f.entries().at("c.count").dtype, "I64");
  EXPECT_EQ(f.entries().at("d.mask").dtype, "BOOL");
  EXPECT_TRUE(torch::equal(f.tensor("a.weight"), in[0].second));
  EXPECT_TRUE(torch::equal(f.tensor("b.half"), in[1].second));
  EXPECT_EQ(f.tensor("c.count").item<int64_t>(), 42);
  EXPECT_EQ(f.tensor("c.count").dim(), 0);
  EXPECT_TRUE(torch::equal(f.tensor("d.mask"), in[3].second));
  EXPECT_EQ(f.tensor("e.empty").sizes(), (std::vector<int64_t>{0, 4}));
}

TEST(Safetensors, HeaderIsPaddedToEightBytes) {
  std::string bytes = serialize_safetensors({{"x", torch::ones({3})}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 12);
}

TEST(Safetensors, SaveIsAtomicAndOpenReadsIt) {
  TempDir dir;
  ASSERT_TRUE(save_safetensors(dir.file("m.safetensors"), {{"w", torch::full({2, 2}, 3.0)}}).ok());
  auto f = SafetensorsFile::open(dir.file("m.safetensors")).take();
  EXPECT_FLOAT_EQ(f.tensor("w").sum().item<float>(), 12.0f);
}

TEST(Safetensors, ReadsTheSharedMobileNetWeights) {
  auto r = SafetensorsFile::open(
      glimpse::testing::shared_data("models/mobilenet_v2_imagenet.safetensors"));
  if (!r.ok() && r.error().code == ErrorCode::kNotFound)
    GTEST_SKIP() << "../shared is absent";
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& f = r.value();
  EXPECT_EQ(f.entries().size(), 314u);
  EXPECT_EQ(f.metadata().at("input_size"), "224");
  EXPECT_EQ(f.entries().at("classifier.1.weight").shape, (std::vector<int64_t>{1000, 1280}));
  EXPECT_EQ(f.tensor("features.0.0.weight").sizes(), (std::vector<int64_t>{32, 3, 3, 3}));
}

TEST(Safetensors, MissingTensorNamesTheTensorAndTheSource) {
  auto f = SafetensorsFile::parse(serialize_safetensors({{"x", torch::ones({1})}}), "m.st").take();
  try {
    f.tensor("y");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_STREQ(e.what(), "tensor 'y' is not in 'm.st'");
  }
}

TEST(SafetensorsRefuses, FilesShorterThanTheLengthField) {
  EXPECT_NE(parse_error("").find("shorter than the 8-byte header length"), std::string::npos);
  EXPECT_NE(parse_error("abc").find("3 bytes long"), std::string::npos);
}

TEST(SafetensorsRefuses, HeaderLengthPastTheEnd) {
  std::string b = with_header("{}", "");
  b[0] = 100;
  EXPECT_NE(parse_error(b).find("runs past the end of the file"), std::string::npos);
}

TEST(SafetensorsRefuses, AHugeHeaderLength) {
  std::string b(16, '\0');
  b[5] = 1;  // 2^40
  EXPECT_NE(parse_error(b).find("over the"), std::string::npos);
}

TEST(SafetensorsRefuses, HeaderThatIsNotJson) {
  EXPECT_NE(parse_error(with_header("{nope", "")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error(with_header("[1,2]", "")).find("not a JSON object"), std::string::npos);
}

TEST(SafetensorsRefuses, AnUnknownDtype) {
  auto m =
      parse_error(with_header(R"({"x":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}})", "abcd"));
  EXPECT_NE(m.find("tensor 'x' has unknown dtype 'F7'"), std::string::npos) << m;
}

TEST(SafetensorsRefuses, ASizeThatDisagreesWithDtypeAndShape) {
  auto m =
      parse_error(with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"));
  EXPECT_NE(m.find("holds 4 bytes but its dtype and shape need 8"), std::string::npos) << m;
}

TEST(SafetensorsRefuses, DataPastTheEndAsTruncation) {
  auto m =
      parse_error(with_header(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd"));
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
}

TEST(SafetensorsRefuses, OverlappingAndReversedRanges) {
  auto m = parse_error(with_header(
      R"({"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"y":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
      "abcd"));
  EXPECT_NE(m.find("overlap"), std::string::npos) << m;
  m = parse_error(with_header(R"({"x":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", "abcd"));
  EXPECT_NE(m.find("begin after end"), std::string::npos) << m;
}

TEST(SafetensorsRefuses, NegativeShapesAndMissingFields) {
  EXPECT_NE(
      parse_error(with_header(R"({"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", ""))
          .find("not a non-negative integer"),
      std::string::npos);
  EXPECT_NE(
      parse_error(with_header(R"({"x":{"dtype":"U8","data_offsets":[0,0]}})", "")).find("no shape"),
      std::string::npos);
  EXPECT_NE(
      parse_error(with_header(R"({"x":{"shape":[],"data_offsets":[0,1]}})", "a")).find("no dtype"),
      std::string::npos);
}

TEST(SafetensorsRefuses, NonStringMetadata) {
  EXPECT_NE(parse_error(with_header(R"({"__metadata__":{"a":1}})", ""))
                .find("__metadata__[\"a\"] is not a string"),
            std::string::npos);
}

TEST(SafetensorsRefuses, ATruncatedRealFile) {
  std::string bytes = serialize_safetensors({{"w", torch::ones({256})}});
  bytes.resize(bytes.size() - 100);
  EXPECT_NE(parse_error(bytes).find("truncated"), std::string::npos);
}

TEST(SafetensorsWriter, RefusesDuplicateNames) {
  EXPECT_THROW(serialize_safetensors({{"a", torch::ones(1)}, {"a", torch::ones(1)}}), Error);
}

}  // namespace
}  // namespace glimpse::core

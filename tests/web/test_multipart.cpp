#include "glimpse/web/multipart.h"

#include <gtest/gtest.h>

namespace glimpse::web {
namespace {

TEST(Multipart, BoundaryFromTheContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc").value(), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b;c\"").value(),
            "a b;c");
  EXPECT_EQ(multipart_boundary("text/plain").error().code, ErrorCode::kUnsupported);
  EXPECT_EQ(multipart_boundary("multipart/form-data").error().message,
            "multipart/form-data needs a boundary of 1 to 70 characters");
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'b')));
}

TEST(Multipart, PartsByNameWithFilenameTypeAndBinaryData) {
  const std::string data("\x89PNG\r\n\x1a\n\0\r\n--not-the-boundary", 29);
  const std::string body =
      "preamble\r\n--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a;b.png\"\r\n"
      "Content-Type: Image/PNG\r\n\r\n" +
      data +
      "\r\n--B\r\ncontent-disposition: form-data; name=question\r\n\r\nwhat is it?\r\n--B--\r\n";
  auto parts = parse_multipart(body, "B");
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts.value().size(), 2u);
  const auto& image = parts.value().at("image");
  EXPECT_EQ(image.filename, "a;b.png");
  EXPECT_EQ(image.content_type, "image/png");
  EXPECT_EQ(image.data, data);
  EXPECT_EQ(parts.value().at("question").data, "what is it?");
  EXPECT_TRUE(parts.value().at("question").filename.empty());
}

TEST(Multipart, MalformedBodiesSayWhatIsWrong) {
  auto message = [](const std::string& body) {
    auto r = parse_multipart(body, "B");
    return r ? std::string("parsed") : r.error().message;
  };
  EXPECT_EQ(message("no delimiter"), "malformed multipart body: the boundary never appears");
  EXPECT_EQ(message("--Bxx"), "malformed multipart body: a boundary line does not end in CRLF");
  EXPECT_EQ(message("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n"),
            "malformed multipart body: a part's headers never end");
  EXPECT_EQ(message("--B\r\nbroken header\r\n\r\nx\r\n--B--"),
            "malformed multipart body: a part header has no ':'");
  EXPECT_EQ(message("--B\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--B--"),
            "malformed multipart body: a part's Content-Disposition is not form-data");
  EXPECT_EQ(message("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx"),
            "malformed multipart body: part 'a' is not closed by the boundary");
  EXPECT_EQ(message("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--B\r\n"
                    "Content-Disposition: form-data; name=\"a\"\r\n\r\ny\r\n--B--"),
            "malformed multipart body: field 'a' is given twice");
}

}  // namespace
}  // namespace glimpse::web

#include "glimpse/vision/image_decode.h"

#include <gtest/gtest.h>
#include <zlib.h>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <random>

#include "test_util.h"

namespace glimpse::vision {
namespace {

using glimpse::testing::read_bytes;
using glimpse::testing::test_data;

std::string fixture(const std::string& name) {
  return read_bytes(test_data("images/" + name));
}

// The fixtures are 64x48: top-left red, top-right green, bottom-left blue, bottom-right white.
struct Quadrants {
  cv::Vec3b tl, tr, bl, br;
};
Quadrants quadrants(const cv::Mat& m) {
  return {m.at<cv::Vec3b>(m.rows / 4, m.cols / 4), m.at<cv::Vec3b>(m.rows / 4, 3 * m.cols / 4),
          m.at<cv::Vec3b>(3 * m.rows / 4, m.cols / 4),
          m.at<cv::Vec3b>(3 * m.rows / 4, 3 * m.cols / 4)};
}
void expect_near(const cv::Vec3b& got, const cv::Vec3b& want, int tol, const std::string& where) {
  for (int c = 0; c < 3; ++c)
    EXPECT_LE(std::abs(int(got[c]) - int(want[c])), tol)
        << where << " channel " << c << ": got " << int(got[c]) << ", want " << int(want[c]);
}
const cv::Vec3b kRed(255, 0, 0), kGreen(0, 255, 0), kBlue(0, 0, 255), kWhite(255, 255, 255);

struct ColourCase {
  std::string file;
  ImageFormat format;
  int tolerance;
};

class DecodesColourFixture : public ::testing::TestWithParam<ColourCase> {};

TEST_P(DecodesColourFixture, ToRgb8WithTheRightColours) {
  const auto& c = GetParam();
  const std::string bytes = fixture(c.file);
  auto header = probe_image(bytes);
  ASSERT_TRUE(header.ok()) << header.error().message;
  EXPECT_EQ(header.value().format, c.format);
  EXPECT_EQ(header.value().width, 64);
  EXPECT_EQ(header.value().height, 48);

  auto r = decode_image(bytes);
  ASSERT_TRUE(r.ok()) << c.file << ": " << r.error().message;
  const cv::Mat& m = r.value();
  EXPECT_EQ(m.type(), CV_8UC3);
  EXPECT_EQ(m.cols, 64);
  EXPECT_EQ(m.rows, 48);
  auto q = quadrants(m);
  expect_near(q.tl, kRed, c.tolerance, c.file + " top-left");
  expect_near(q.tr, kGreen, c.tolerance, c.file + " top-right");
  expect_near(q.bl, kBlue, c.tolerance, c.file + " bottom-left");
  expect_near(q.br, kWhite, c.tolerance, c.file + " bottom-right");
}

INSTANTIATE_TEST_SUITE_P(Formats, DecodesColourFixture,
                         ::testing::Values(ColourCase{"rgb.png", ImageFormat::kPng, 0},
                                           ColourCase{"rgb16.png", ImageFormat::kPng, 0},
                                           ColourCase{"palette.png", ImageFormat::kPng, 0},
                                           ColourCase{"baseline.jpg", ImageFormat::kJpeg, 6},
                                           ColourCase{"progressive.jpg", ImageFormat::kJpeg, 6},
                                           ColourCase{"cmyk.jpg", ImageFormat::kJpeg, 8},
                                           ColourCase{"rgb24.bmp", ImageFormat::kBmp, 0},
                                           ColourCase{"palette8.bmp", ImageFormat::kBmp, 0},
                                           ColourCase{"rgb.tiff", ImageFormat::kTiff, 0},
                                           ColourCase{"rgb16_lzw.tiff", ImageFormat::kTiff, 0},
                                           ColourCase{"lossless.webp", ImageFormat::kWebp, 0},
                                           ColourCase{"lossy.webp", ImageFormat::kWebp, 12},
                                           ColourCase{"animated.gif", ImageFormat::kGif, 0}),
                         [](const auto& p) {
                           std::string n = p.param.file;
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch)))
                               ch = '_';
                           return n;
                         });

TEST(DecodeImage, GrayscaleBecomesEqualRgbChannels) {
  for (const std::string name : {"gray8.png", "gray16.png"}) {
    auto r = decode_image(fixture(name));
    ASSERT_TRUE(r.ok()) << name << ": " << r.error().message;
    auto q = quadrants(r.value());
    // ImageMagick's Rec. 709 luma of red, green, blue, white.
    expect_near(q.tl, cv::Vec3b(54, 54, 54), 1, name);
    expect_near(q.tr, cv::Vec3b(182, 182, 182), 1, name);
    expect_near(q.bl, cv::Vec3b(18, 18, 18), 1, name);
    expect_near(q.br, kWhite, 0, name);
  }
}

TEST(DecodeImage, AlphaIsCompositedOverWhite) {
  auto r = decode_image(fixture("alpha.png"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto q = quadrants(r.value());
  expect_near(q.tl, kRed, 0, "opaque red");
  expect_near(q.tr, kGreen, 0, "opaque green");
  expect_near(q.bl, kWhite, 0, "transparent blue");
  expect_near(q.br, kWhite, 0, "transparent white");

  auto g = decode_image(fixture("gray_alpha.png"));
  ASSERT_TRUE(g.ok()) << g.error().message;
  auto gq = quadrants(g.value());
  expect_near(gq.tl, cv::Vec3b(54, 54, 54), 1, "gray+alpha opaque");
  expect_near(gq.bl, kWhite, 0, "gray+alpha transparent");
}

TEST(DecodeImage, GifGivesItsFirstFrameNotTheSecond) {
  auto r = decode_image(fixture("animated.gif"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  expect_near(quadrants(r.value()).br, kWhite, 0, "frame 1 (frame 2 is black)");
}

// A JPEG of the fixture with an EXIF APP1 segment carrying `orientation`.
std::string jpeg_with_orientation(int orientation, bool big_endian) {
  auto png = fixture("rgb.png");
  cv::Mat img = cv::imdecode(cv::Mat(1, int(png.size()), CV_8UC1, png.data()), cv::IMREAD_COLOR);
  std::vector<uchar> jpg;
  cv::imencode(".jpg", img, jpg, {cv::IMWRITE_JPEG_QUALITY, 95});
  std::string tiff =
      big_endian ? std::string("MM\0*\0\0\0\x08", 8) : std::string("II*\0\x08\0\0\0", 8);
  auto put16 = [&](int v) {
    if (big_endian) {
      tiff += char(v >> 8);
      tiff += char(v & 0xff);
    } else {
      tiff += char(v & 0xff);
      tiff += char(v >> 8);
    }
  };
  auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i)
      tiff += char(big_endian ? (v >> (24 - 8 * i)) & 0xff : (v >> (8 * i)) & 0xff);
  };
  put16(1);       // one entry
  put16(0x0112);  // Orientation
  put16(3);       // SHORT
  put32(1);       // count
  put16(orientation);
  put16(0);
  put32(0);  // no next IFD
  std::string app1 = std::string("Exif\0\0", 6) + tiff;
  size_t len = app1.size() + 2;
  std::string seg = std::string("\xFF\xE1", 2) + char(len >> 8) + char(len & 0xff) + app1;
  std::string out(reinterpret_cast<const char*>(jpg.data()), jpg.size());
  return out.substr(0, 2) + seg + out.substr(2);
}

TEST(DecodeImage, ExifOrientationIsApplied) {
  struct Case {
    int orientation;
    bool big_endian;
    int w, h;
    cv::Vec3b tl, tr, bl, br;
  };
  const Case cases[] = {
      {1, false, 64, 48, kRed, kGreen, kBlue, kWhite},
      {3, true, 64, 48, kWhite, kBlue, kGreen, kRed},   // rotate 180
      {6, false, 48, 64, kBlue, kRed, kWhite, kGreen},  // rotate 90 clockwise
      {8, true, 48, 64, kGreen, kWhite, kRed, kBlue},   // rotate 90 counter-clockwise
      {2, false, 64, 48, kGreen, kRed, kWhite, kBlue},  // mirror
  };
  for (const auto& c : cases) {
    const std::string bytes = jpeg_with_orientation(c.orientation, c.big_endian);
    auto h = probe_image(bytes);
    ASSERT_TRUE(h.ok()) << h.error().message;
    EXPECT_EQ(h.value().exif_orientation, c.orientation);
    auto r = decode_image(bytes);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r.value().cols, c.w) << "orientation " << c.orientation;
    EXPECT_EQ(r.value().rows, c.h) << "orientation " << c.orientation;
    auto q = quadrants(r.value());
    const std::string o = "orientation " + std::to_string(c.orientation);
    expect_near(q.tl, c.tl, 8, o + " top-left");
    expect_near(q.tr, c.tr, 8, o + " top-right");
    expect_near(q.bl, c.bl, 8, o + " bottom-left");
    expect_near(q.br, c.br, 8, o + " bottom-right");
  }
}

// --- refusals ---

ErrorInfo refusal(const std::string& bytes, const ImageLimits& limits = {}) {
  auto r = decode_image(bytes, limits);
  EXPECT_FALSE(r.ok()) << "decoded an input that must be refused";
  return r.ok() ? ErrorInfo{} : r.error();
}

TEST(DecodeImageRefuses, AnEmptyInput) {
  auto e = refusal("");
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.message, "the image is empty (0 bytes)");
}

TEST(DecodeImageRefuses, DataThatIsNotAnImage) {
  auto e = refusal("hello, this is a text file\n");
  EXPECT_EQ(e.code, ErrorCode::kUnsupported);
  EXPECT_EQ(e.message,
            "not an image this program reads: the data does not start like PNG, JPEG, BMP, TIFF, "
            "WebP or GIF");
  EXPECT_EQ(refusal(std::string(1000, '\0')).code, ErrorCode::kUnsupported);
}

class RefusesTruncated : public ::testing::TestWithParam<std::string> {};

TEST_P(RefusesTruncated, AtEveryCutPoint) {
  const std::string bytes = fixture(GetParam());
  // Every cut from 1 byte to all-but-one byte of the file: never a success, never a crash.
  for (size_t cut = 1; cut < bytes.size(); cut += std::max<size_t>(1, bytes.size() / 97)) {
    auto r = decode_image(bytes.substr(0, cut));
    ASSERT_FALSE(r.ok()) << GetParam() << " cut at " << cut << " of " << bytes.size() << " decoded";
    EXPECT_TRUE(r.error().code == ErrorCode::kCorrupt || r.error().code == ErrorCode::kUnsupported)
        << r.error().message;
  }
  auto e = refusal(bytes.substr(0, bytes.size() * 2 / 3));
  EXPECT_EQ(e.code, ErrorCode::kCorrupt) << e.message;
  EXPECT_TRUE(e.message.find("truncated") != std::string::npos ||
              e.message.find("could not be decoded") != std::string::npos)
      << e.message;
}

INSTANTIATE_TEST_SUITE_P(Formats, RefusesTruncated,
                         ::testing::Values("rgb.png", "baseline.jpg", "progressive.jpg", "cmyk.jpg",
                                           "rgb24.bmp", "rgb.tiff", "rgb16_lzw.tiff",
                                           "lossless.webp", "lossy.webp", "animated.gif"),
                         [](const auto& p) {
                           std::string n = p.param;
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch)))
                               ch = '_';
                           return n;
                         });

void set_be32(std::string& b, size_t pos, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b[pos + i] = char((v >> (24 - 8 * i)) & 0xff);
}
// Rewrites the PNG's IHDR size and its CRC, so only the size lies.
std::string png_with_size(uint32_t w, uint32_t h) {
  std::string b = fixture("rgb.png");
  set_be32(b, 16, w);
  set_be32(b, 20, h);
  uLong crc = crc32(0, reinterpret_cast<const Bytef*>(b.data() + 12), 17);
  set_be32(b, 29, static_cast<uint32_t>(crc));
  return b;
}

TEST(DecodeImageRefuses, AHeaderClaiming65535x65535) {
  auto e = refusal(png_with_size(65535, 65535));
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_EQ(e.message,
            "image is 65535x65535 = 4294 MP, over the 40 MP limit; shrink it or raise the limit "
            "with --max-pixels");
  std::string jpg = fixture("baseline.jpg");
  size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpg[sof + 5] = jpg[sof + 6] = jpg[sof + 7] = jpg[sof + 8] = '\xFF';
  EXPECT_EQ(refusal(jpg).code, ErrorCode::kTooLarge);
}

TEST(DecodeImageRefuses, AHeaderThatLiesAboutTheSize) {
  for (auto [w, h] : {std::pair<uint32_t, uint32_t>{64, 96}, {128, 48}, {32, 24}}) {
    auto e = refusal(png_with_size(w, h));
    EXPECT_EQ(e.code, ErrorCode::kCorrupt) << w << "x" << h << ": " << e.message;
  }
}

TEST(DecodeImageRefuses, InputOverTheByteLimit) {
  ImageLimits limits;
  limits.max_bytes = 100;
  auto e = refusal(fixture("rgb.png") + std::string(100, '\0'), limits);
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_EQ(e.message,
            "image is 247 bytes, over the 100-byte limit; raise it with --max-image-bytes");
}

TEST(DecodeImageRefuses, PixelsOverASmallLimit) {
  ImageLimits limits;
  limits.max_pixels = 1000;
  auto e = refusal(fixture("lossy.webp"), limits);
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_NE(e.message.find("64x48"), std::string::npos) << e.message;
}

TEST(LoadImage, NamesThePathInItsErrors) {
  auto r = load_image("/no/such/photo.jpg");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("/no/such/photo.jpg"), std::string::npos);

  auto t = load_image(test_data("images/make.sh"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message.find("'"), 0u);
  EXPECT_NE(t.error().message.find("make.sh': not an image"), std::string::npos)
      << t.error().message;
}

TEST(LoadImage, RefusesAFileOverTheByteLimitBeforeReadingIt) {
  ImageLimits limits;
  limits.max_bytes = 100;
  auto r = load_image(test_data("images/rgb.tiff"), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(r.error().message.find("--max-image-bytes"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace glimpse::vision

namespace glimpse::vision {
namespace {

// Random byte flips and cuts of every fixture: each result is an RGB image of a sane size or a
// refusal with a message; never a crash (run under -DGLIMPSE_SANITIZE=ON to catch memory errors).
TEST(DecodeImage, SurvivesThousandsOfMutatedFiles) {
  std::mt19937 rng(42);
  int decoded = 0, refused = 0;
  for (const auto& e : std::filesystem::directory_iterator(test_data("images"))) {
    if (e.path().extension() == ".sh")
      continue;
    const std::string orig = read_bytes(e.path().string());
    for (int k = 0; k < 200; ++k) {
      std::string m = orig;
      const int flips = 1 + static_cast<int>(rng() % 6);
      for (int f = 0; f < flips; ++f)
        m[rng() % m.size()] = static_cast<char>(rng() & 0xff);
      if (k % 4 == 0)
        m.resize(rng() % m.size());
      auto r = decode_image(m);
      if (r.ok()) {
        ++decoded;
        ASSERT_EQ(r.value().type(), CV_8UC3);
        ASSERT_LE(static_cast<uint64_t>(r.value().total()), ImageLimits{}.max_pixels);
      } else {
        ++refused;
        ASSERT_FALSE(r.error().message.empty());
        ASSERT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
      }
    }
  }
  RecordProperty("decoded", decoded);
  RecordProperty("refused", refused);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace glimpse::vision

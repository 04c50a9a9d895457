// A decompression bomb: a PNG of about 1 MB that decodes to 30000x30000 pixels (900 MB as
// gray, 2.7 GB as RGB). It must be refused from its header without allocating its pixels.
#include <gtest/gtest.h>
#include <zlib.h>

#include "glimpse/vision/image_decode.h"
#include "test_util.h"

namespace glimpse::vision {
namespace {

void put_be32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out += char((v >> (24 - 8 * i)) & 0xff);
}

void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  out += body;
  put_be32(out, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                            static_cast<uInt>(body.size()))));
}

// A complete, valid 8-bit grayscale PNG of side x side zero pixels, deflated in a stream.
std::string png_bomb(uint32_t side) {
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_be32(ihdr, side);
  put_be32(ihdr, side);
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);  // depth 8, gray, deflate, filter 0, no interlace
  put_chunk(png, "IHDR", ihdr);

  z_stream z{};
  deflateInit(&z, Z_BEST_COMPRESSION);
  std::vector<unsigned char> row(side + 1, 0);  // filter byte + pixels
  std::string idat;
  std::vector<unsigned char> out(1 << 16);
  for (uint32_t y = 0; y < side; ++y) {
    z.next_in = row.data();
    z.avail_in = static_cast<uInt>(row.size());
    const int flush = y + 1 == side ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      deflate(&z, flush);
      idat.append(reinterpret_cast<char*>(out.data()), out.size() - z.avail_out);
    } while (z.avail_out == 0 || (flush == Z_FINISH && z.avail_in > 0));
  }
  deflateEnd(&z);
  put_chunk(png, "IDAT", idat);
  put_chunk(png, "IEND", "");
  return png;
}

TEST(DecompressionBomb, IsRefusedFromItsHeaderWithoutAllocating) {
  const std::string bomb = png_bomb(30000);
  ASSERT_LT(bomb.size(), 5u << 20) << "the bomb should be a few MB";
  auto header = probe_image(bomb);
  ASSERT_TRUE(header.ok()) << header.error().message;
  EXPECT_EQ(header.value().width, 30000);

  ImageLimits limits;  // the defaults: 40 MP
  const double before = glimpse::testing::peak_rss_mb();
  auto r = decode_image(bomb, limits);
  const double growth = glimpse::testing::peak_rss_mb() - before;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(r.error().message,
            "image is 30000x30000 = 900 MP, over the 40 MP limit; shrink it or raise the limit "
            "with --max-pixels");
  const double peak = glimpse::testing::peak_rss_mb();
  RecordProperty("peak_rss_mb", std::to_string(peak));
  RecordProperty("decode_growth_mb", std::to_string(growth));
  EXPECT_LT(growth, 20.0) << "decoding grew the peak by " << growth << " MB";
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's shadow memory alone passes 300 MB; the growth bound above still holds.
#else
  EXPECT_LT(peak, 300.0) << "peak memory " << peak << " MB";
#endif
}

}  // namespace
}  // namespace glimpse::vision

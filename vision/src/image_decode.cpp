#include "glimpse/vision/image_decode.h"

#include <gif_lib.h>
#include <zlib.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstring>
#include <optional>

#include "glimpse/core/file_util.h"

namespace glimpse::vision {

const char* to_string(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kBmp:
      return "BMP";
    case ImageFormat::kTiff:
      return "TIFF";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kGif:
      return "GIF";
  }
  return "unknown";
}

namespace {

constexpr const char* kFormats = "PNG, JPEG, BMP, TIFF, WebP or GIF";

[[noreturn]] void fail(ErrorCode code, const std::string& message) {
  throw Error(code, message);
}
[[noreturn]] void truncated(ImageFormat f, const std::string& what) {
  fail(ErrorCode::kCorrupt, std::string(to_string(f)) + " file is truncated: " + what);
}
[[noreturn]] void corrupt(ImageFormat f, const std::string& what) {
  fail(ErrorCode::kCorrupt, std::string(to_string(f)) + " file is corrupt: " + what);
}

// Bounds-checked little/big-endian readers over the input.
class Bytes {
 public:
  explicit Bytes(std::string_view b) : b_(b) {}
  size_t size() const { return b_.size(); }
  bool has(size_t pos, size_t n) const { return pos <= b_.size() && n <= b_.size() - pos; }
  std::uint8_t u8(size_t pos) const { return static_cast<std::uint8_t>(b_[pos]); }
  std::uint32_t be16(size_t p) const { return (u8(p) << 8) | u8(p + 1); }
  std::uint32_t le16(size_t p) const { return u8(p) | (u8(p + 1) << 8); }
  std::uint32_t be32(size_t p) const { return (be16(p) << 16) | be16(p + 2); }
  std::uint32_t le32(size_t p) const { return le16(p) | (le16(p + 2) << 16); }
  std::string_view view(size_t pos, size_t n) const { return b_.substr(pos, n); }
  bool starts_with(size_t pos, std::string_view s) const {
    return has(pos, s.size()) && b_.substr(pos, s.size()) == s;
  }

 private:
  std::string_view b_;
};

// Bytes from the file shown in a message: printable ASCII as is, anything else as \xNN.
std::string printable(std::string_view raw) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// --- EXIF: the orientation tag (0x0112) of IFD0 in a TIFF-structured block. ---
int exif_orientation(std::string_view tiff) {
  Bytes b(tiff);
  if (!b.has(0, 8))
    return 1;
  bool le;
  if (b.starts_with(0, "II"))
    le = true;
  else if (b.starts_with(0, "MM"))
    le = false;
  else
    return 1;
  auto r16 = [&](size_t p) { return le ? b.le16(p) : b.be16(p); };
  auto r32 = [&](size_t p) { return le ? b.le32(p) : b.be32(p); };
  size_t ifd = r32(4);
  if (!b.has(ifd, 2))
    return 1;
  size_t count = r16(ifd);
  for (size_t i = 0; i < count; ++i) {
    size_t e = ifd + 2 + 12 * i;
    if (!b.has(e, 12))
      return 1;
    if (r16(e) == 0x0112) {
      int v = static_cast<int>(r16(e + 8));
      return (v >= 1 && v <= 8) ? v : 1;
    }
  }
  return 1;
}

// --- JPEG: walk the markers. Finds the frame size and the EXIF orientation; with `full`, also
// walks the entropy-coded scans to the EOI marker, because libjpeg silently pads a truncated
// file with grey and reports success. ---
ImageHeader walk_jpeg(const Bytes& b, bool full) {
  ImageHeader h;
  h.format = ImageFormat::kJpeg;
  bool have_frame = false;
  size_t pos = 2;
  while (true) {
    if (!b.has(pos, 2))
      truncated(ImageFormat::kJpeg, "it ends before its end-of-image marker");
    if (b.u8(pos) != 0xFF)
      corrupt(ImageFormat::kJpeg, "expected a marker at byte " + std::to_string(pos));
    while (b.has(pos + 1, 1) && b.u8(pos + 1) == 0xFF)
      ++pos;  // fill bytes
    if (!b.has(pos, 2))
      truncated(ImageFormat::kJpeg, "it ends inside a marker");
    std::uint8_t m = b.u8(pos + 1);
    pos += 2;
    if (m == 0xD9)
      break;  // EOI
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7))
      continue;  // no length
    if (!b.has(pos, 2))
      truncated(ImageFormat::kJpeg, "it ends inside a segment header");
    size_t len = b.be16(pos);
    if (len < 2)
      corrupt(ImageFormat::kJpeg, "a segment claims a length under 2");
    if (!b.has(pos, len))
      truncated(ImageFormat::kJpeg, "a segment runs past the end of the file");
    const bool sof = (m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (len < 8)
        corrupt(ImageFormat::kJpeg, "its frame header is too short");
      h.height = static_cast<int>(b.be16(pos + 3));
      h.width = static_cast<int>(b.be16(pos + 5));
      if (h.width == 0 || h.height == 0)
        fail(ErrorCode::kUnsupported, "JPEG frame declares a zero width or height");
      have_frame = true;
      if (!full)
        return h;
    } else if (m == 0xE1 && len >= 8 && b.starts_with(pos + 2, std::string_view("Exif\0\0", 6))) {
      h.exif_orientation = exif_orientation(b.view(pos + 8, len - 8));
    }
    if (m == 0xDA) {  // start of scan: skip the entropy-coded data up to the next marker
      if (!have_frame)
        corrupt(ImageFormat::kJpeg, "a scan starts before the frame header");
      pos += len;
      while (true) {
        if (!b.has(pos, 2))
          truncated(ImageFormat::kJpeg, "it ends inside the image data");
        if (b.u8(pos) == 0xFF) {
          std::uint8_t n = b.u8(pos + 1);
          if (n != 0x00 && !(n >= 0xD0 && n <= 0xD7) && n != 0xFF)
            break;
          pos += (n == 0xFF) ? 1 : 2;
        } else {
          ++pos;
        }
      }
      continue;
    }
    pos += len;
  }
  if (!have_frame)
    corrupt(ImageFormat::kJpeg, "it has no frame header");
  return h;
}

// libpng treats missing or surplus image data as a "benign" error and returns rows of zeros
// (or ignores the surplus), so a header that lies about the size would decode silently. The
// inflated size of the IDAT stream must be exactly what the header's size and format need.
void check_png_data_size(const ImageHeader& h, int depth, int colour_type, int interlace,
                         const std::vector<std::string_view>& idat) {
  int channels = 0;
  switch (colour_type) {
    case 0:
      channels = 1;
      break;
    case 2:
      channels = 3;
      break;
    case 3:
      channels = 1;
      break;
    case 4:
      channels = 2;
      break;
    case 6:
      channels = 4;
      break;
    default:
      corrupt(ImageFormat::kPng, "IHDR has an invalid colour type " + std::to_string(colour_type));
  }
  if (depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16)
    corrupt(ImageFormat::kPng, "IHDR has an invalid bit depth " + std::to_string(depth));
  const std::uint64_t bits =
      static_cast<std::uint64_t>(channels) * static_cast<std::uint64_t>(depth);
  auto rows = [&](std::uint64_t w, std::uint64_t hh) { return hh * (1 + (w * bits + 7) / 8); };
  const std::uint64_t w = static_cast<std::uint64_t>(h.width),
                      hh = static_cast<std::uint64_t>(h.height);
  std::uint64_t expected = 0;
  if (interlace == 0) {
    expected = rows(w, hh);
  } else {
    const int x0[] = {0, 4, 0, 2, 0, 1, 0}, y0[] = {0, 0, 4, 0, 2, 0, 1};
    const int dx[] = {8, 8, 4, 4, 2, 2, 1}, dy[] = {8, 8, 8, 4, 4, 2, 2};
    for (int p = 0; p < 7; ++p) {
      const std::uint64_t pw = w > std::uint64_t(x0[p]) ? (w - x0[p] + dx[p] - 1) / dx[p] : 0;
      const std::uint64_t ph = hh > std::uint64_t(y0[p]) ? (hh - y0[p] + dy[p] - 1) / dy[p] : 0;
      if (pw > 0 && ph > 0)
        expected += rows(pw, ph);
    }
  }
  z_stream z{};
  if (inflateInit(&z) != Z_OK)
    fail(ErrorCode::kInternal, "zlib could not start");
  std::vector<unsigned char> out(1 << 16);
  std::uint64_t total = 0;
  int ret = Z_OK;
  for (size_t i = 0; i < idat.size() && ret != Z_STREAM_END; ++i) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(idat[i].data()));
    z.avail_in = static_cast<uInt>(idat[i].size());
    while (z.avail_in > 0 && ret != Z_STREAM_END) {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      ret = inflate(&z, Z_NO_FLUSH);
      total += out.size() - z.avail_out;
      if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
        break;
      if (total > expected)
        break;
    }
    if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
      break;
    if (total > expected)
      break;
  }
  inflateEnd(&z);
  const std::string size = std::to_string(h.width) + "x" + std::to_string(h.height);
  if (total > expected)
    corrupt(ImageFormat::kPng,
            "its image data is larger than the " + size + " its header declares");
  if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
    corrupt(ImageFormat::kPng, "its compressed image data is damaged");
  if (total < expected)
    corrupt(ImageFormat::kPng, "its image data holds " + std::to_string(total) + " of the " +
                                   std::to_string(expected) + " bytes its " + size +
                                   " header needs");
}

// --- PNG: IHDR gives the size; with `full`, the chunk chain must reach IEND. ---
ImageHeader walk_png(const Bytes& b, bool full) {
  ImageHeader h;
  h.format = ImageFormat::kPng;
  if (!b.has(8, 25))
    truncated(ImageFormat::kPng, "it ends inside the IHDR header");
  if (!b.starts_with(12, "IHDR") || b.be32(8) != 13)
    corrupt(ImageFormat::kPng, "the first chunk is not a 13-byte IHDR");
  std::uint32_t w = b.be32(16), hh = b.be32(20);
  if (w == 0 || hh == 0 || w > 0x7fffffffu || hh > 0x7fffffffu)
    corrupt(ImageFormat::kPng,
            "IHDR declares an invalid size " + std::to_string(w) + "x" + std::to_string(hh));
  h.width = static_cast<int>(w);
  h.height = static_cast<int>(hh);
  if (!full)
    return h;
  size_t pos = 8;
  std::vector<std::string_view> idat;
  while (true) {
    if (!b.has(pos, 12))
      truncated(ImageFormat::kPng, "it ends before its IEND chunk");
    size_t len = b.be32(pos);
    std::string_view type = b.view(pos + 4, 4);
    if (len > 0x7fffffffu || !b.has(pos + 8, len + 4))
      truncated(ImageFormat::kPng, "chunk '" + printable(type) + "' runs past the end of the file");
    if (type == "IDAT")
      idat.push_back(b.view(pos + 8, len));
    if (type == "IEND")
      break;
    pos += 12 + len;
  }
  if (idat.empty())
    corrupt(ImageFormat::kPng, "it has no IDAT (image data) chunk");
  check_png_data_size(h, b.u8(24), b.u8(25), b.u8(28), idat);
  return h;
}

// --- BMP: BITMAPCOREHEADER (12 bytes) or BITMAPINFOHEADER and later. ---
ImageHeader walk_bmp(const Bytes& b, bool full) {
  ImageHeader h;
  h.format = ImageFormat::kBmp;
  if (!b.has(14, 4))
    truncated(ImageFormat::kBmp, "it ends inside the file header");
  std::uint32_t dib = b.le32(14);
  std::int64_t w, hh;
  std::uint32_t bpp, compression = 0;
  if (dib == 12) {
    if (!b.has(14, 12))
      truncated(ImageFormat::kBmp, "it ends inside the bitmap header");
    w = b.le16(18);
    hh = b.le16(20);
    bpp = b.le16(24);
  } else if (dib >= 40 && dib <= 124) {
    if (!b.has(14, 40))
      truncated(ImageFormat::kBmp, "it ends inside the bitmap header");
    w = static_cast<std::int32_t>(b.le32(18));
    hh = static_cast<std::int32_t>(b.le32(22));
    bpp = b.le16(28);
    compression = b.le32(30);
  } else {
    corrupt(ImageFormat::kBmp, "unknown bitmap header size " + std::to_string(dib));
  }
  if (hh < 0)
    hh = -hh;  // negative height: rows stored top-down
  if (w <= 0 || hh <= 0 || w > 0x7fffffff || hh > 0x7fffffff)
    corrupt(ImageFormat::kBmp,
            "it declares an invalid size " + std::to_string(w) + "x" + std::to_string(hh));
  h.width = static_cast<int>(w);
  h.height = static_cast<int>(hh);
  if (full && (compression == 0 || compression == 3) && bpp > 0 && bpp <= 32) {
    // Uncompressed rows are padded to 4 bytes; the pixel array must be in the file.
    std::uint64_t row =
        ((static_cast<std::uint64_t>(bpp) * static_cast<std::uint64_t>(w) + 31) / 32) * 4;
    std::uint64_t need =
        static_cast<std::uint64_t>(b.le32(10)) + row * static_cast<std::uint64_t>(hh);
    if (need > b.size())
      truncated(ImageFormat::kBmp, "its pixel rows need " + std::to_string(need) +
                                       " bytes but the file has " + std::to_string(b.size()));
  }
  return h;
}

// --- TIFF: ImageWidth (256) and ImageLength (257) of the first IFD, and its orientation. ---
ImageHeader walk_tiff(const Bytes& b, bool full) {
  ImageHeader h;
  h.format = ImageFormat::kTiff;
  if (!b.has(0, 8))
    truncated(ImageFormat::kTiff, "it ends inside the header");
  const bool le = b.starts_with(0, "II");
  auto r16 = [&](size_t p) { return le ? b.le16(p) : b.be16(p); };
  auto r32 = [&](size_t p) { return le ? b.le32(p) : b.be32(p); };
  size_t ifd = r32(4);
  if (!b.has(ifd, 2))
    truncated(ImageFormat::kTiff, "its first directory is past the end of the file");
  size_t count = r16(ifd);
  std::int64_t w = -1, hh = -1;
  // Offsets and byte counts of the strips (273, 279) or tiles (324, 325): SHORT or LONG arrays,
  // inline when they fit in 4 bytes.
  std::vector<std::uint64_t> offsets, counts;
  auto read_array = [&](size_t e, std::vector<std::uint64_t>& out) {
    const std::uint32_t type = r16(e + 2), n = r32(e + 4);
    const size_t size = type == 3 ? 2 : type == 4 ? 4 : 0;
    if (size == 0)
      corrupt(ImageFormat::kTiff, "strip or tile offsets are not SHORT or LONG");
    const size_t at = static_cast<std::uint64_t>(n) * size <= 4 ? e + 8 : r32(e + 8);
    if (!b.has(at, static_cast<size_t>(n) * size))
      truncated(ImageFormat::kTiff, "its strip or tile table is past the end of the file");
    for (std::uint32_t k = 0; k < n; ++k)
      out.push_back(size == 2 ? r16(at + 2 * k) : r32(at + 4 * k));
  };
  for (size_t i = 0; i < count; ++i) {
    size_t e = ifd + 2 + 12 * i;
    if (!b.has(e, 12))
      truncated(ImageFormat::kTiff, "its first directory runs past the end of the file");
    std::uint32_t tag = r16(e), type = r16(e + 2);
    std::uint32_t value = type == 3 ? r16(e + 8) : r32(e + 8);
    if (tag == 256)
      w = value;
    if (tag == 257)
      hh = value;
    if (full && (tag == 273 || tag == 324))
      read_array(e, offsets);
    if (full && (tag == 279 || tag == 325))
      read_array(e, counts);
    if (full) {  // every value stored out of line must be in the file
      static constexpr size_t kTypeSize[] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4};
      const size_t size = type < 14 ? kTypeSize[type] : 0;
      const std::uint64_t n = r32(e + 4);
      if (size > 0 && n * size > 4 && !b.has(r32(e + 8), static_cast<size_t>(n * size)))
        truncated(ImageFormat::kTiff,
                  "the value of tag " + std::to_string(tag) + " is past the end of the file");
    }
  }
  if (full) {
    if (offsets.empty() || offsets.size() != counts.size())
      corrupt(ImageFormat::kTiff,
              "its strip or tile offsets and byte counts are missing or disagree");
    for (size_t k = 0; k < offsets.size(); ++k)
      if (offsets[k] + counts[k] > b.size())
        truncated(ImageFormat::kTiff, "strip or tile " + std::to_string(k) + " ends at byte " +
                                          std::to_string(offsets[k] + counts[k]) +
                                          " but the file has " + std::to_string(b.size()));
  }
  if (w <= 0 || hh <= 0 || w > 0x7fffffff || hh > 0x7fffffff)
    corrupt(ImageFormat::kTiff, "its first directory has no valid ImageWidth/ImageLength");
  h.width = static_cast<int>(w);
  h.height = static_cast<int>(hh);
  return h;
}

// --- WebP: RIFF container with a VP8 (lossy), VP8L (lossless) or VP8X (extended) chunk. ---
ImageHeader walk_webp(const Bytes& b) {
  ImageHeader h;
  h.format = ImageFormat::kWebp;
  if (!b.has(12, 18))
    truncated(ImageFormat::kWebp, "it ends inside the header");
  std::uint64_t riff = static_cast<std::uint64_t>(b.le32(4)) + 8;
  if (riff > b.size())
    truncated(ImageFormat::kWebp, "the RIFF header claims " + std::to_string(riff) +
                                      " bytes but the file has " + std::to_string(b.size()));
  std::uint32_t w = 0, hh = 0;
  if (b.starts_with(12, "VP8 ")) {
    if (b.u8(23) != 0x9D || b.u8(24) != 0x01 || b.u8(25) != 0x2A)
      corrupt(ImageFormat::kWebp, "the VP8 frame has no start code");
    w = b.le16(26) & 0x3FFF;
    hh = b.le16(28) & 0x3FFF;
  } else if (b.starts_with(12, "VP8L")) {
    if (b.u8(20) != 0x2F)
      corrupt(ImageFormat::kWebp, "the VP8L stream has no signature");
    std::uint32_t bits = b.le32(21);
    w = (bits & 0x3FFF) + 1;
    hh = ((bits >> 14) & 0x3FFF) + 1;
  } else if (b.starts_with(12, "VP8X")) {
    w = (b.u8(24) | (b.u8(25) << 8) | (b.u8(26) << 16)) + 1;
    hh = (b.u8(27) | (b.u8(28) << 8) | (b.u8(29) << 16)) + 1;
  } else {
    corrupt(ImageFormat::kWebp, "the first chunk is not VP8, VP8L or VP8X");
  }
  if (w == 0 || hh == 0)
    corrupt(ImageFormat::kWebp, "it declares a zero width or height");
  h.width = static_cast<int>(w);
  h.height = static_cast<int>(hh);
  return h;
}

// --- GIF: logical screen size. ---
ImageHeader walk_gif(const Bytes& b) {
  ImageHeader h;
  h.format = ImageFormat::kGif;
  if (!b.has(0, 13))
    truncated(ImageFormat::kGif, "it ends inside the header");
  h.width = static_cast<int>(b.le16(6));
  h.height = static_cast<int>(b.le16(8));
  if (h.width == 0 || h.height == 0)
    corrupt(ImageFormat::kGif, "it declares a zero width or height");
  return h;
}

ImageHeader walk(std::string_view bytes, bool full) {
  Bytes b(bytes);
  if (bytes.empty())
    fail(ErrorCode::kInvalidArgument, "the image is empty (0 bytes)");
  if (b.starts_with(0, "\x89PNG\r\n\x1a\n"))
    return walk_png(b, full);
  if (b.has(0, 3) && b.u8(0) == 0xFF && b.u8(1) == 0xD8 && b.u8(2) == 0xFF)
    return walk_jpeg(b, full);
  if (b.starts_with(0, "BM"))
    return walk_bmp(b, full);
  if (b.starts_with(0, std::string_view("II*\0", 4)) ||
      b.starts_with(0, std::string_view("MM\0*", 4)))
    return walk_tiff(b, full);
  if (b.starts_with(0, "RIFF") && b.starts_with(8, "WEBP"))
    return walk_webp(b);
  if (b.starts_with(0, "GIF87a") || b.starts_with(0, "GIF89a"))
    return walk_gif(b);
  fail(ErrorCode::kUnsupported,
       std::string("not an image this program reads: the data does not start like ") + kFormats);
}

void check_pixels(std::uint64_t w, std::uint64_t h, const ImageLimits& limits) {
  const std::uint64_t px = w * h;
  if (px > limits.max_pixels) {
    fail(ErrorCode::kTooLarge, "image is " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                                   std::to_string(px / 1'000'000) + " MP, over the " +
                                   std::to_string(limits.max_pixels / 1'000'000) +
                                   " MP limit; shrink it or raise the limit with --max-pixels");
  }
}

// --- GIF decoding with giflib: the first image of the stream, placed on its logical screen. ---
struct GifSource {
  std::string_view bytes;
  size_t pos = 0;
};

int gif_read(GifFileType* gif, GifByteType* out, int n) {
  auto* src = static_cast<GifSource*>(gif->UserData);
  size_t k = std::min(static_cast<size_t>(std::max(n, 0)), src->bytes.size() - src->pos);
  std::memcpy(out, src->bytes.data() + src->pos, k);
  src->pos += k;
  return static_cast<int>(k);
}

// After the first frame, the rest of the stream (more frames, extensions) must be whole up to
// the trailer byte: a GIF cut short is refused like any other truncated file. Only the block
// structure is walked; later frames are not decoded.
void check_gif_tail(std::string_view bytes, size_t pos) {
  Bytes b(bytes);
  auto skip_sub_blocks = [&] {
    while (true) {
      if (!b.has(pos, 1))
        truncated(ImageFormat::kGif, "it ends inside a data block");
      const size_t n = b.u8(pos++);
      if (n == 0)
        return;
      if (!b.has(pos, n))
        truncated(ImageFormat::kGif, "it ends inside a data block");
      pos += n;
    }
  };
  while (true) {
    if (!b.has(pos, 1))
      truncated(ImageFormat::kGif, "it ends before its trailer");
    const std::uint8_t kind = b.u8(pos++);
    if (kind == 0x3B)
      return;            // trailer
    if (kind == 0x21) {  // extension: label, then sub-blocks
      if (!b.has(pos, 1))
        truncated(ImageFormat::kGif, "it ends inside an extension");
      ++pos;
      skip_sub_blocks();
    } else if (kind == 0x2C) {  // image: descriptor, optional colour table, LZW size, sub-blocks
      if (!b.has(pos, 9))
        truncated(ImageFormat::kGif, "it ends inside an image descriptor");
      const std::uint8_t packed = b.u8(pos + 8);
      pos += 9;
      if (packed & 0x80)
        pos += 3u << ((packed & 7) + 1);
      if (!b.has(pos, 1))
        truncated(ImageFormat::kGif, "it ends inside a frame");
      ++pos;
      skip_sub_blocks();
    } else {
      corrupt(ImageFormat::kGif,
              "unexpected block type " + std::to_string(kind) + " after the first frame");
    }
  }
}

cv::Mat decode_gif(std::string_view bytes, const ImageLimits& limits) {
  GifSource src{bytes, 0};
  int err = 0;
  GifFileType* gif = DGifOpen(&src, gif_read, &err);
  if (gif == nullptr)
    corrupt(ImageFormat::kGif, std::string("cannot read the header (") + GifErrorString(err) + ")");
  struct Closer {
    GifFileType* g;
    ~Closer() {
      int e = 0;
      DGifCloseFile(g, &e);
    }
  } closer{gif};
  auto gif_fail = [&](const char* what) {
    std::string reason = GifErrorString(gif->Error) ? GifErrorString(gif->Error) : "unknown error";
    if (gif->Error == D_GIF_ERR_READ_FAILED)
      truncated(ImageFormat::kGif, std::string(what) + " (" + reason + ")");
    corrupt(ImageFormat::kGif, std::string(what) + " (" + reason + ")");
  };
  int transparent = -1;
  while (true) {
    GifRecordType type;
    if (DGifGetRecordType(gif, &type) == GIF_ERROR)
      gif_fail("cannot read the next record");
    if (type == TERMINATE_RECORD_TYPE)
      corrupt(ImageFormat::kGif, "it holds no image");
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* ext = nullptr;
      if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR)
        gif_fail("cannot read an extension");
      if (code == GRAPHICS_EXT_FUNC_CODE && ext != nullptr && ext[0] >= 4 && (ext[1] & 1))
        transparent = ext[4];
      while (ext != nullptr)
        if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR)
          gif_fail("cannot read an extension");
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE)
      continue;
    if (DGifGetImageDesc(gif) == GIF_ERROR)
      gif_fail("cannot read the image descriptor");
    const GifImageDesc& d = gif->Image;
    if (d.Width <= 0 || d.Height <= 0)
      corrupt(ImageFormat::kGif, "the first frame has a zero size");
    const int cw = std::max<int>(gif->SWidth, d.Left + d.Width);
    const int ch = std::max<int>(gif->SHeight, d.Top + d.Height);
    check_pixels(static_cast<std::uint64_t>(cw), static_cast<std::uint64_t>(ch), limits);
    const ColorMapObject* map = d.ColorMap ? d.ColorMap : gif->SColorMap;
    if (map == nullptr)
      corrupt(ImageFormat::kGif, "the first frame has no colour table");
    std::vector<GifPixelType> line(static_cast<size_t>(d.Width));
    cv::Mat out(ch, cw, CV_8UC3, cv::Scalar(255, 255, 255));  // transparent -> white
    auto put_row = [&](int y) {
      if (DGifGetLine(gif, line.data(), d.Width) == GIF_ERROR)
        gif_fail("cannot read the pixel data");
      auto* row = out.ptr<cv::Vec3b>(d.Top + y);
      for (int x = 0; x < d.Width; ++x) {
        int idx = line[static_cast<size_t>(x)];
        if (idx == transparent || idx >= map->ColorCount)
          continue;
        const GifColorType& c = map->Colors[idx];
        row[d.Left + x] = cv::Vec3b(c.Red, c.Green, c.Blue);
      }
    };
    if (d.Interlace) {
      const int start[] = {0, 4, 2, 1}, step[] = {8, 8, 4, 2};
      for (int p = 0; p < 4; ++p)
        for (int y = start[p]; y < d.Height; y += step[p])
          put_row(y);
    } else {
      for (int y = 0; y < d.Height; ++y)
        put_row(y);
    }
    check_gif_tail(bytes, src.pos);
    return out;
  }
}

// Any depth and channel count OpenCV gives back -> CV_8UC3 RGB, alpha over white.
cv::Mat to_rgb8(const cv::Mat& m) {
  cv::Mat m8;
  switch (m.depth()) {
    case CV_8U:
      m8 = m;
      break;
    case CV_16U:
      m.convertTo(m8, CV_8U, 1.0 / 257.0);
      break;
    case CV_32F:
      m.convertTo(m8, CV_8U, 255.0);
      break;
    default:
      fail(ErrorCode::kUnsupported,
           "image sample type is not 8-bit, 16-bit or float; convert it to 8-bit");
  }
  cv::Mat rgb;
  switch (m8.channels()) {
    case 1:
      cv::cvtColor(m8, rgb, cv::COLOR_GRAY2RGB);
      break;
    case 3:
      cv::cvtColor(m8, rgb, cv::COLOR_BGR2RGB);
      break;
    case 4: {
      rgb.create(m8.rows, m8.cols, CV_8UC3);
      for (int y = 0; y < m8.rows; ++y) {
        const auto* s = m8.ptr<cv::Vec4b>(y);
        auto* d = rgb.ptr<cv::Vec3b>(y);
        for (int x = 0; x < m8.cols; ++x) {
          const int a = s[x][3];
          for (int c = 0; c < 3; ++c)  // BGRA -> RGB, composited over white
            d[x][c] = static_cast<std::uint8_t>((s[x][2 - c] * a + 255 * (255 - a) + 127) / 255);
        }
      }
      break;
    }
    default:
      fail(ErrorCode::kUnsupported,
           "image has " + std::to_string(m8.channels()) + " channels; expected 1, 3 or 4");
  }
  return rgb;
}

// EXIF orientation as OpenCV's own imread applies it.
void apply_orientation(cv::Mat& m, int orientation) {
  switch (orientation) {
    case 2:
      cv::flip(m, m, 1);
      break;
    case 3:
      cv::flip(m, m, -1);
      break;
    case 4:
      cv::flip(m, m, 0);
      break;
    case 5:
      cv::transpose(m, m);
      break;
    case 6:
      cv::transpose(m, m);
      cv::flip(m, m, 1);
      break;
    case 7:
      cv::transpose(m, m);
      cv::flip(m, m, -1);
      break;
    case 8:
      cv::transpose(m, m);
      cv::flip(m, m, 0);
      break;
    default:
      break;
  }
}

cv::Mat decode(std::string_view bytes, const ImageLimits& limits) {
  if (bytes.size() > limits.max_bytes)
    fail(ErrorCode::kTooLarge, "image is " + std::to_string(bytes.size()) + " bytes, over the " +
                                   std::to_string(limits.max_bytes) +
                                   "-byte limit; raise it with --max-image-bytes");
  // The size check comes first: a full walk of a bomb would inflate all of its data.
  const ImageHeader claimed = walk(bytes, /*full=*/false);
  check_pixels(static_cast<std::uint64_t>(claimed.width),
               static_cast<std::uint64_t>(claimed.height), limits);
  const ImageHeader header = walk(bytes, /*full=*/true);
  if (header.format == ImageFormat::kGif)
    return decode_gif(bytes, limits);

  cv::Mat raw;
  try {
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1,
                      const_cast<char*>(bytes.data()));  // imdecode only reads it
    raw = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    corrupt(header.format, "the decoder failed (" + printable(e.msg) + ")");
  }
  if (raw.empty())
    corrupt(header.format, "its pixel data could not be decoded (damaged or truncated)");
  if (raw.cols != header.width || raw.rows != header.height)
    corrupt(header.format, "the header says " + std::to_string(header.width) + "x" +
                               std::to_string(header.height) + " but the pixel data is " +
                               std::to_string(raw.cols) + "x" + std::to_string(raw.rows));
  cv::Mat rgb = to_rgb8(raw);
  apply_orientation(rgb, header.exif_orientation);
  return rgb;
}

}  // namespace

Result<ImageHeader> probe_image(std::string_view bytes) {
  return catch_as_result([&] { return walk(bytes, /*full=*/false); });
}

Result<cv::Mat> decode_image(std::string_view bytes, const ImageLimits& limits) {
  return catch_as_result([&] { return decode(bytes, limits); });
}

Result<cv::Mat> load_image(const std::string& path, const ImageLimits& limits) {
  const bool from_stdin = path == "-";
  const std::string file = from_stdin ? "/dev/stdin" : path;
  try {
    const std::string bytes = core::read_file(file, limits.max_bytes);
    return decode(bytes, limits);
  } catch (...) {
    ErrorInfo e = error_from_current_exception();
    if (e.code == ErrorCode::kTooLarge && e.message.find("--max") == std::string::npos)
      e.message += "; raise it with --max-image-bytes";
    if (from_stdin) {
      for (auto at = e.message.find("'/dev/stdin'"); at != std::string::npos;
           at = e.message.find("'/dev/stdin'"))
        e.message.replace(at, 12, "standard input");
      if (e.message.find("standard input") == std::string::npos)
        e.message = "standard input: " + e.message;
    } else if (e.message.find(path) == std::string::npos) {
      e.message = "'" + path + "': " + e.message;
    }
    return e;
  }
}

Result<std::string> encode_png(const cv::Mat& rgb) {
  return encode_image(rgb, ".png");
}

Result<std::string> encode_image(const cv::Mat& rgb, const std::string& extension) {
  if (rgb.empty() || rgb.type() != CV_8UC3)
    return ErrorInfo{ErrorCode::kInvalidArgument,
                     "encoding an image needs a non-empty 8-bit RGB image"};
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> bytes;
  if (!cv::imencode(extension, bgr, bytes))
    return ErrorInfo{ErrorCode::kInternal, "encoding the image as " + extension + " failed"};
  return std::string(bytes.begin(), bytes.end());
}

Status save_png(const std::string& path, const cv::Mat& rgb) {
  return catch_as_status([&] { core::write_file_atomic(path, encode_png(rgb).take()); });
}

Result<std::string> image_format_of(const std::string& path) {
  const auto dot = path.find_last_of("./");
  std::string ext = dot == std::string::npos || path[dot] != '.' ? "" : path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* known : {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
    if (ext == known)
      return ext;
  return ErrorInfo{ErrorCode::kInvalidArgument,
                   "cannot write '" + path +
                       "': name it .png, .jpg, .jpeg, .bmp, .tif, .tiff or .webp, the formats "
                       "glimpse writes"};
}

Status save_image(const std::string& path, const cv::Mat& rgb) {
  return catch_as_status([&] {
    const std::string ext = image_format_of(path).take();
    core::write_file_atomic(path, encode_image(rgb, ext).take());
  });
}

}  // namespace glimpse::vision

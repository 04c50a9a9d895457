// Image input: format sniffing, header-first limits, decoding to 8-bit RGB.
//
//   auto img = glimpse::vision::load_image("photo.jpg");
//   if (!img) { std::cerr << img.error().message << "\n"; return 1; }
//   cv::Mat rgb = img.value();  // CV_8UC3, RGB order, EXIF orientation applied
//
// Reads PNG, JPEG (baseline, progressive, CMYK), BMP, TIFF (first page), WebP and the first
// frame of a GIF. Grayscale, palette and 16-bit images become 8-bit RGB; alpha is composited
// over white. The pixel limit is checked from the header before any pixel is decoded, so a
// small file that claims a huge picture costs nothing. All functions are thread-safe.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "glimpse/core/error.h"

namespace glimpse::vision {

enum class ImageFormat { kPng, kJpeg, kBmp, kTiff, kWebp, kGif };
const char* to_string(ImageFormat format);

struct ImageLimits {
  std::uint64_t max_bytes = 50ull << 20;  // input file or upload size
  std::uint64_t max_pixels = 40'000'000;  // width * height, checked from the header
};

struct ImageHeader {
  ImageFormat format = ImageFormat::kPng;
  int width = 0;
  int height = 0;
  int exif_orientation = 1;  // 1..8 as in EXIF; 1 = as stored
};

// Reads the format and the dimensions from the first bytes, without decoding pixels.
Result<ImageHeader> probe_image(std::string_view bytes);

// Decodes to CV_8UC3 RGB. Refuses (with a message saying what is wrong and what to do) empty,
// truncated, non-image and lying-header inputs, and inputs over `limits`.
Result<cv::Mat> decode_image(std::string_view bytes, const ImageLimits& limits = {});

// Reads the file (refusing it before reading when it is over limits.max_bytes) and decodes it;
// "-" reads standard input. Messages name the path.
Result<cv::Mat> load_image(const std::string& path, const ImageLimits& limits = {});

// PNG bytes of an 8-bit RGB image, and the same written to a file (atomically). Errors name
// the path and say why.
Result<std::string> encode_png(const cv::Mat& rgb);
// An 8-bit RGB image's bytes in the format `extension` names (".png", ".jpg", ...).
Result<std::string> encode_image(const cv::Mat& rgb, const std::string& extension);
Status save_png(const std::string& path, const cv::Mat& rgb);

// The format a file name's extension asks for (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff",
// ".webp", in any case), or an error naming the file and the formats written.
Result<std::string> image_format_of(const std::string& path);
// An 8-bit RGB image written atomically in the format its extension names.
Status save_image(const std::string& path, const cv::Mat& rgb);

}  // namespace glimpse::vision

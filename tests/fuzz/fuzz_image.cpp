// Image decoding from bytes: either a clear refusal or an 8-bit RGB image within the limits.
#include "fuzz_target.h"
#include "glimpse/vision/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;  // NOLINT
  vision::ImageLimits limits;
  limits.max_bytes = 1 << 20;
  limits.max_pixels = 1 << 20;
  const auto image = vision::decode_image(fuzzing::as_text(data, size), limits);
  if (!image) {
    fuzzing::require(!image.error().message.empty(), "a refusal without a message");
    return 0;
  }
  const auto& m = image.value();
  fuzzing::require(m.type() == CV_8UC3, "not 8-bit RGB");
  fuzzing::require(m.cols > 0 && m.rows > 0, "empty image");
  fuzzing::require(
      static_cast<uint64_t>(m.cols) * static_cast<uint64_t>(m.rows) <= limits.max_pixels,
      "over the pixel limit");
  return 0;
}

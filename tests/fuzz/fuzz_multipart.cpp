// multipart/form-data: the input's first line is the Content-Type, the rest the body.
#include "fuzz_target.h"
#include "glimpse/core/utf8.h"
#include "glimpse/web/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;  // NOLINT
  const auto text = fuzzing::as_text(data, size);
  const auto eol = text.find('\n');
  const auto content_type = text.substr(0, eol);
  const auto body = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
  const auto boundary = web::multipart_boundary(content_type);
  if (!boundary)
    return 0;
  fuzzing::require(!boundary.value().empty() && boundary.value().size() <= 70, "boundary length");
  const auto parts = web::parse_multipart(body, boundary.value());
  if (!parts)
    return 0;
  size_t bytes = 0;
  for (const auto& [name, part] : parts.value()) {
    fuzzing::require(!name.empty(), "a part without a name");
    bytes += part.data.size();
  }
  fuzzing::require(bytes <= body.size(), "parts larger than the body");
  return 0;
}

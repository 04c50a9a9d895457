// multipart/form-data bodies (RFC 7578): the parts by field name.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "glimpse/core/error.h"

namespace glimpse::web {

struct FormPart {
  std::string filename;      // empty for a plain field
  std::string content_type;  // empty when the part does not say
  std::string data;
};

// ASCII lower case, for header names and media types (which compare case-insensitively).
std::string ascii_lower(std::string_view s);

// The boundary parameter of a multipart/form-data Content-Type, or an error saying what is wrong.
Result<std::string> multipart_boundary(std::string_view content_type);

// Every part of a body; a malformed body or a field given twice is an error naming the problem.
Result<std::map<std::string, FormPart>> parse_multipart(std::string_view body,
                                                        std::string_view boundary);

}  // namespace glimpse::web

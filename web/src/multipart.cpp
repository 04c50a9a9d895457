#include "glimpse/web/multipart.h"

#include <algorithm>
#include <cctype>

namespace glimpse::web {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The value of `name=` among `; `-separated parameters, unquoted; empty when absent.
std::string parameter(std::string_view header_value, std::string_view name) {
  size_t pos = 0;
  while (pos < header_value.size()) {
    size_t semi = header_value.find(';', pos);
    // A quoted value may hold ';'.
    const size_t eq = header_value.find('=', pos);
    if (eq != std::string_view::npos && eq < semi) {
      const auto key = ascii_lower(trim(header_value.substr(pos, eq - pos)));
      size_t v = eq + 1;
      while (v < header_value.size() && header_value[v] == ' ')
        ++v;
      std::string value;
      if (v < header_value.size() && header_value[v] == '"') {
        size_t e = v + 1;
        while (e < header_value.size() && header_value[e] != '"') {
          if (header_value[e] == '\\' && e + 1 < header_value.size())
            ++e;
          value += header_value[e++];
        }
        semi = header_value.find(';', e);
      } else {
        value = std::string(trim(header_value.substr(
            v, semi == std::string_view::npos ? std::string_view::npos : semi - v)));
      }
      if (key == name)
        return value;
    }
    if (semi == std::string_view::npos)
      break;
    pos = semi + 1;
  }
  return {};
}

ErrorInfo malformed(const std::string& what) {
  return ErrorInfo{ErrorCode::kInvalidArgument, "malformed multipart body: " + what};
}

}  // namespace

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Result<std::string> multipart_boundary(std::string_view content_type) {
  const auto semi = content_type.find(';');
  if (ascii_lower(trim(content_type.substr(0, semi))) != "multipart/form-data")
    return ErrorInfo{ErrorCode::kUnsupported, "not multipart/form-data"};
  auto b = semi == std::string_view::npos ? std::string()
                                          : parameter(content_type.substr(semi + 1), "boundary");
  if (b.empty() || b.size() > 70)
    return ErrorInfo{ErrorCode::kInvalidArgument,
                     "multipart/form-data needs a boundary of 1 to 70 characters"};
  return b;
}

Result<std::map<std::string, FormPart>> parse_multipart(std::string_view body,
                                                        std::string_view boundary) {
  const std::string delim = "--" + std::string(boundary);
  std::map<std::string, FormPart> parts;
  size_t pos = body.find(delim);
  if (pos == std::string_view::npos)
    return malformed("the boundary never appears");
  pos += delim.size();
  for (;;) {
    if (body.substr(pos, 2) == "--")
      return parts;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n")
      return malformed("a boundary line does not end in CRLF");
    pos += 2;
    const size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos)
      return malformed("a part's headers never end");
    FormPart part;
    std::string name;
    bool has_disposition = false;
    std::string_view headers = body.substr(pos, headers_end - pos);
    while (!headers.empty()) {
      const size_t eol = headers.find("\r\n");
      const auto line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos)
        return malformed("a part header has no ':'");
      const auto key = ascii_lower(trim(line.substr(0, colon)));
      const auto value = trim(line.substr(colon + 1));
      if (key == "content-disposition") {
        has_disposition = true;
        if (ascii_lower(trim(value.substr(0, value.find(';')))) != "form-data")
          return malformed("a part's Content-Disposition is not form-data");
        const auto semi = value.find(';');
        if (semi != std::string_view::npos) {
          name = parameter(value.substr(semi + 1), "name");
          part.filename = parameter(value.substr(semi + 1), "filename");
        }
      } else if (key == "content-type") {
        part.content_type = ascii_lower(value);
      }
    }
    if (!has_disposition || name.empty())
      return malformed("a part has no Content-Disposition name");
    const size_t data_start = headers_end + 4;
    const size_t next = body.find("\r\n" + delim, data_start);
    if (next == std::string_view::npos)
      return malformed("part '" + name + "' is not closed by the boundary");
    part.data = std::string(body.substr(data_start, next - data_start));
    if (parts.count(name) != 0)
      return malformed("field '" + name + "' is given twice");
    parts.emplace(name, std::move(part));
    pos = next + 2 + delim.size();
  }
}

}  // namespace glimpse::web

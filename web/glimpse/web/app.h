// The HTTP application: every route of the page and the JSON API as one function from a request
// to a response, so it is tested without a socket.
//
//   POST /api/v1/caption   image (multipart field "image", or a raw image/* body), beam, max_len,
//   POST /api/v1/ask       model; ask also needs question. Fields of a raw body go in the query.
//   GET  /api/v1/models    the loaded models
//   GET  /api/v1/examples  the example images, served under /examples/<name>
//   GET  /healthz, GET /metrics (Prometheus text), GET / (the page)
//
// Refusals are JSON {"error": {"code", "message"}} with 400, 404, 405, 413, 415, 422 or 503.
// No exception leaves handle_request: one that escapes a route becomes a 500 and the server goes
// on. Every text a client sent is echoed through core::utf8_prefix and every reply is written by
// dump_json (json_codec.h), so no byte of a request can make the JSON encoder throw.
#pragma once

#include <boost/beast/http.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "glimpse/fusion/service.h"
#include "glimpse/web/batcher.h"
#include "glimpse/web/metrics.h"

namespace glimpse::web {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Limits {
  std::uint64_t max_body_bytes = 16ull << 20;  // a request body
  std::uint32_t max_header_bytes = 16 << 10;   // a request's start line and headers
  std::uint64_t max_pixels = 40'000'000;       // an image's width * height, from its header
  int max_question_chars = 300;
  int max_beam = 10;
  int max_len = 40;
};

struct AppOptions {
  Limits limits;
  std::string default_model;
  std::string examples_dir;  // PNG/JPEG files offered by the page; empty: none
  int retry_after_seconds = 1;
};

class App {
 public:
  App(fusion::Service& service, Batcher& batcher, Metrics& metrics, AppOptions options);

  // Answers `request` through `done`, exactly once: at once for most routes, from the inference
  // worker's thread for caption and ask. Never throws.
  void handle_request(Request request, std::function<void(Response)> done);

  const AppOptions& options() const { return options_; }
  Metrics& metrics() { return metrics_; }

  // A JSON error response (also used by the server for refusals before a request is whole).
  static Response error_response(http::status status, const std::string& message,
                                 unsigned version = 11, bool keep_alive = false);

 private:
  void route(Request request, std::function<void(Response)> done);
  // The 500 for the exception being handled.
  static Response internal_error(unsigned version);
  void infer(Request request, const std::string& query_string, bool ask,
             std::function<void(Response)> done);
  std::vector<std::string> example_names() const;
  fusion::Service& service_;
  Batcher& batcher_;
  Metrics& metrics_;
  AppOptions options_;
};

// The embedded page (web/page/index.html), its Content-Security-Policy (its inline script
// allowed by hash, nothing from another origin) and its icon.
const std::string& page_html();
const std::string& page_content_security_policy();
const std::string& favicon_png();

// SHA-256 of bytes, as 64 hex digits.
std::string sha256_hex(const std::string& bytes);

}  // namespace glimpse::web

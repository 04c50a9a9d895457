#include "glimpse/web/app.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

#include "glimpse/core/error.h"
#include "glimpse/core/file_util.h"
#include "glimpse/core/utf8.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/web/json_codec.h"
#include "glimpse/web/multipart.h"

namespace glimpse::web {

namespace fs = std::filesystem;
using core::utf8_prefix;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// A refusal carried up to the response: status and message.
struct Refusal {
  http::status status;
  std::string message;
};

http::status status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return http::status::not_found;
    case ErrorCode::kTooLarge:
      return http::status::payload_too_large;
    case ErrorCode::kUnsupported:
      return http::status::unsupported_media_type;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kCorrupt:
      return http::status::unprocessable_entity;
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
      break;
  }
  return http::status::internal_server_error;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
        return std::nullopt;
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The query string's fields; a malformed escape is a refusal.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const auto item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (item.empty())
      continue;
    const size_t eq = item.find('=');
    auto key = percent_decode(item.substr(0, eq));
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
    if (!key || !value)
      return std::nullopt;
    out[*key] = *value;
  }
  return out;
}

// An integer field within [lo, hi], or a refusal saying which field and why.
std::variant<int, Refusal> int_field(const std::string& name, const std::string& text, int lo,
                                     int hi) {
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    return Refusal{http::status::bad_request,
                   "'" + name + "' must be a whole number, not '" + utf8_prefix(text, 40) + "'"};
  if (v < lo || v > hi)
    return Refusal{http::status::unprocessable_entity,
                   fmt::format("'{}' must be between {} and {}, not {}", name, lo, hi, v)};
  return static_cast<int>(v);
}

Response respond(http::status status, const std::string& content_type, std::string body,
                 const std::string& cache_control, unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(http::field::content_type, content_type);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  if (!cache_control.empty())
    res.set(http::field::cache_control, cache_control);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response json_response(http::status status, const json& body, unsigned version, bool keep_alive) {
  return respond(status, "application/json", dump_json(body), "no-store", version, keep_alive);
}

// The parameters caption and ask take, besides the image.
bool is_field(const std::string& name) {
  return name == "question" || name == "beam" || name == "max_len" || name == "model";
}

bool safe_example_name(const std::string& name) {
  if (name.empty() || name.size() > 100 || name[0] == '.')
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

std::string content_type_of(const std::string& name) {
  const auto ext = ascii_lower(fs::path(name).extension().string());
  if (ext == ".png")
    return "image/png";
  if (ext == ".jpg" || ext == ".jpeg")
    return "image/jpeg";
  return "";
}

// The 200 of a caption or an answer, or the refusal the model gave.
Response inference_response(const Result<fusion::ServiceResult>& result, const json& meta,
                            Clock::time_point t0, Clock::time_point decoded, unsigned version,
                            bool keep_alive) {
  if (!result)
    return App::error_response(status_of(result.error().code), result.error().message, version,
                               keep_alive);
  const auto& s = result.value();
  json body = meta;
  body.update(result_json(s));
  body["cache_hit"] = s.cache_hit;
  if (meta.contains("question"))
    body["unknown_words"] = s.unknown_words;
  const auto now = Clock::now();
  body["timings_ms"] = {
      {"decode_image", ms_between(t0, decoded)},
      {"queue", std::max(0.0, ms_between(decoded, now) - s.encode_ms - s.decode_ms)},
      {"encode", s.encode_ms},
      {"decode", s.decode_ms},
      {"total", ms_between(t0, now)}};
  return json_response(http::status::ok, body, version, keep_alive);
}

// The 32 bytes of SHA-256 of `bytes`.
std::string sha256(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string base64(const unsigned char* bytes, int n) {
  std::string out(static_cast<size_t>(4 * ((n + 2) / 3)) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, n);
  out.resize(static_cast<size_t>(len));
  return out;
}

// The page's policy: nothing from another origin, its one inline script allowed by its hash.
std::string make_page_policy() {
  const std::string& html = page_html();
  const auto open = html.find("<script>");
  const auto close = html.find("</script>", open);
  std::string script_source = "'self'";
  if (open != std::string::npos && close != std::string::npos) {
    const std::string digest = sha256(html.substr(open + 8, close - open - 8));
    script_source = "'sha256-" +
                    base64(reinterpret_cast<const unsigned char*>(digest.data()),
                           static_cast<int>(digest.size())) +
                    "'";
  }
  return "default-src 'none'; script-src " + script_source +
         "; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; "
         "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
}

// A 32x32 icon: a dark tile with a warm heat spot, the overlays' look.
std::string make_favicon() {
  cv::Mat icon(32, 32, CV_8UC3, cv::Scalar(34, 30, 28));
  cv::circle(icon, {16, 16}, 11, cv::Scalar(230, 120, 40), cv::FILLED, cv::LINE_AA);
  cv::circle(icon, {16, 16}, 6, cv::Scalar(255, 220, 90), cv::FILLED, cv::LINE_AA);
  return vision::encode_png(icon).take();
}

}  // namespace

const std::string& page_content_security_policy() {
  static const std::string policy = make_page_policy();
  return policy;
}

const std::string& favicon_png() {
  static const std::string png = make_favicon();
  return png;
}

std::string sha256_hex(const std::string& bytes) {
  std::string out;
  for (const char c : sha256(bytes))
    out += fmt::format("{:02x}", static_cast<unsigned char>(c));
  return out;
}

App::App(fusion::Service& service, Batcher& batcher, Metrics& metrics, AppOptions options)
    : service_(service), batcher_(batcher), metrics_(metrics), options_(std::move(options)) {}

Response App::error_response(http::status status, const std::string& message, unsigned version,
                             bool keep_alive) {
  json body = {{"error", {{"code", static_cast<int>(status)}, {"message", message}}}};
  return json_response(status, body, version, keep_alive);
}

std::vector<std::string> App::example_names() const {
  std::vector<std::string> names;
  if (options_.examples_dir.empty())
    return names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.examples_dir, ec)) {
    const auto name = e.path().filename().string();
    std::error_code type_ec;  // a dangling or looping link is skipped, not thrown
    if (e.is_regular_file(type_ec) && safe_example_name(name) && !content_type_of(name).empty())
      names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

void App::handle_request(Request req, std::function<void(Response)> done) {
  // Exactly one answer whatever happens below: an exception becomes a 500 and the server goes on.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto reply = [answered, done = std::move(done)](Response res) {
    if (!answered->exchange(true))
      done(std::move(res));
  };
  const unsigned version = req.version();
  try {
    route(std::move(req), reply);
  } catch (...) {
    reply(internal_error(version));
  }
}

Response App::internal_error(unsigned version) {
  const auto e = error_from_current_exception();
  return error_response(http::status::internal_server_error,
                        "internal error: " + utf8_prefix(e.message, 300) +
                            "; the server goes on serving, please report this request",
                        version, false);
}

void App::route(Request req, std::function<void(Response)> done) {
  const auto t0 = Clock::now();
  const std::string target(req.target());
  const auto qpos = target.find('?');
  const std::string path = target.substr(0, qpos);
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  const bool head = req.method() == http::verb::head;

  // The route label for metrics: known routes by name, the rest together.
  static const std::map<std::string, std::vector<http::verb>> kRoutes = {
      {"/", {http::verb::get, http::verb::head}},
      {"/favicon.ico", {http::verb::get, http::verb::head}},
      {"/healthz", {http::verb::get, http::verb::head}},
      {"/metrics", {http::verb::get}},
      {"/api/v1/models", {http::verb::get}},
      {"/api/v1/examples", {http::verb::get}},
      {"/api/v1/caption", {http::verb::post}},
      {"/api/v1/ask", {http::verb::post}},
  };
  const bool is_example = path.rfind("/examples/", 0) == 0;
  const std::string route = kRoutes.count(path) != 0 ? path : (is_example ? "/examples" : "other");
  auto finish = [this, route, t0, head, done = std::move(done)](Response res) {
    if (head)  // the headers a GET would get, Content-Length included, and no body
      res.body().clear();
    metrics_.record(route, static_cast<int>(res.result_int()),
                    std::chrono::duration<double>(Clock::now() - t0).count());
    done(std::move(res));
  };
  auto refuse = [&](http::status s, const std::string& m) {
    finish(error_response(s, m, version, keep_alive));
  };

  if (is_example) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      auto res = error_response(http::status::method_not_allowed,
                                "use GET for " + utf8_prefix(path, 200), version, keep_alive);
      res.set(http::field::allow, "GET, HEAD");
      return finish(std::move(res));
    }
    const std::string name = path.substr(10);
    const auto names = example_names();
    if (!safe_example_name(name) || std::find(names.begin(), names.end(), name) == names.end())
      return refuse(http::status::not_found, "no example named '" + utf8_prefix(name, 100) + "'");
    return finish(respond(http::status::ok, content_type_of(name),
                          core::read_file((fs::path(options_.examples_dir) / name).string()),
                          "max-age=3600", version, keep_alive));
  }

  auto it = kRoutes.find(path);
  if (it == kRoutes.end())
    return refuse(http::status::not_found,
                  "no route " + utf8_prefix(path, 200) +
                      "; the API is under /api/v1/ (models, caption, ask)");
  if (std::find(it->second.begin(), it->second.end(), req.method()) == it->second.end()) {
    std::string allow;
    for (auto v : it->second)
      allow += (allow.empty() ? "" : ", ") + std::string(http::to_string(v));
    auto res = error_response(
        http::status::method_not_allowed,
        "use " + allow + " for " + path + ", not " +
            utf8_prefix(std::string_view(req.method_string().data(), req.method_string().size()),
                        20),
        version, keep_alive);
    res.set(http::field::allow, allow);
    return finish(std::move(res));
  }

  if (path == "/") {
    auto res = respond(http::status::ok, "text/html; charset=utf-8", page_html(), "no-cache",
                       version, keep_alive);
    res.set("Content-Security-Policy", page_content_security_policy());
    return finish(std::move(res));
  }
  if (path == "/favicon.ico")
    return finish(respond(http::status::ok, "image/png", favicon_png(), "max-age=86400", version,
                          keep_alive));
  if (path == "/healthz")
    return finish(json_response(http::status::ok,
                                {{"status", "ok"}, {"models", service_.models().size()}}, version,
                                keep_alive));
  if (path == "/metrics") {
    const auto c = service_.cache_stats();
    Gauges g;
    g.queue_depth = batcher_.depth();
    g.queue_capacity = static_cast<std::uint64_t>(batcher_.options().capacity);
    g.cache_hits = c.hits;
    g.cache_misses = c.misses;
    g.cache_entries = c.entries;
    g.cache_bytes = c.bytes;
    return finish(respond(http::status::ok, "text/plain; version=0.0.4", metrics_.render(g), "",
                          version, keep_alive));
  }
  if (path == "/api/v1/models") {
    json models = json::array();
    for (const auto& m : service_.models())
      models.push_back({{"name", m.name},
                        {"tasks", m.tasks},
                        {"encoder", m.encoder},
                        {"decoder", m.decoder},
                        {"attention", m.attention},
                        {"layers", m.layers},
                        {"heads", m.heads},
                        {"grid_h", m.grid_h},
                        {"grid_w", m.grid_w},
                        {"image_width", m.image_width},
                        {"image_height", m.image_height},
                        {"metrics", m.metrics}});
    return finish(json_response(http::status::ok,
                                {{"models", models},
                                 {"default", options_.default_model},
                                 {"limits",
                                  {{"max_body_bytes", options_.limits.max_body_bytes},
                                   {"max_pixels", options_.limits.max_pixels},
                                   {"max_question_chars", options_.limits.max_question_chars},
                                   {"max_beam", options_.limits.max_beam},
                                   {"max_len", options_.limits.max_len}}}},
                                version, keep_alive));
  }
  if (path == "/api/v1/examples") {
    json list = json::array();
    for (const auto& n : example_names())
      list.push_back({{"name", n}, {"url", "/examples/" + n}});
    return finish(json_response(http::status::ok, {{"examples", list}}, version, keep_alive));
  }
  const std::string query = qpos == std::string::npos ? "" : target.substr(qpos + 1);
  infer(std::move(req), query, path == "/api/v1/ask", std::move(finish));
}

void App::infer(Request req, const std::string& query_string, bool ask,
                std::function<void(Response)> finish) {
  const auto t0 = Clock::now();
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  auto refuse = [&](http::status s, const std::string& m) {
    finish(error_response(s, m, version, keep_alive));
  };
  const auto& L = options_.limits;
  if (req.body().size() > L.max_body_bytes)
    return refuse(http::status::payload_too_large,
                  fmt::format("the body is {} bytes, over the limit of {}", req.body().size(),
                              L.max_body_bytes));

  // Fields from the query string, then (multipart) from the form.
  auto query = parse_query(query_string);
  if (!query)
    return refuse(http::status::bad_request, "the query string has a malformed %-escape");
  std::map<std::string, std::string> fields = *query;
  std::string image_bytes;
  const std::string raw_type(req[http::field::content_type]);
  const std::string content_type = ascii_lower(raw_type);
  if (content_type.rfind("multipart/form-data", 0) == 0) {
    auto boundary = multipart_boundary(raw_type);
    if (!boundary)
      return refuse(http::status::bad_request, boundary.error().message);
    auto parts = parse_multipart(req.body(), boundary.value());
    if (!parts)
      return refuse(http::status::bad_request, parts.error().message);
    for (auto& [name, part] : parts.value()) {
      if (name == "image")
        image_bytes = std::move(part.data);
      else if (is_field(name))
        fields[name] = std::move(part.data);
      else
        return refuse(http::status::unprocessable_entity,
                      "unknown field '" + utf8_prefix(name, 40) +
                          "'; the fields are image, question, beam, max_len and model");
    }
    if (image_bytes.empty())
      return refuse(http::status::unprocessable_entity,
                    "no image: send it in the multipart field 'image'");
  } else if (content_type.rfind("image/", 0) == 0) {
    image_bytes = std::move(req.body());
    if (image_bytes.empty())
      return refuse(http::status::unprocessable_entity, "the image body is empty");
  } else {
    return refuse(http::status::unsupported_media_type,
                  "send the image as multipart/form-data (field 'image') or as an image/* body, "
                  "not '" +
                      utf8_prefix(raw_type, 60) + "'");
  }
  for (const auto& [name, value] : *query)
    if (!is_field(name))
      return refuse(http::status::unprocessable_entity,
                    "unknown parameter '" + utf8_prefix(name, 40) +
                        "'; the parameters are question, beam, max_len and model");

  fusion::ServiceRequest r;
  r.model = fields.count("model") != 0 ? fields["model"] : options_.default_model;
  if (!service_.has_model(r.model))
    return refuse(http::status::not_found, "no model named '" + utf8_prefix(r.model, 100) +
                                               "'; GET /api/v1/models lists them");
  r.beam = 1;
  r.max_len = 20;
  for (auto [name, most, into] :
       {std::tuple{"beam", L.max_beam, &r.beam}, std::tuple{"max_len", L.max_len, &r.max_len}}) {
    if (fields.count(name) == 0)
      continue;
    auto v = int_field(name, fields[name], 1, most);
    if (auto* bad = std::get_if<Refusal>(&v))
      return refuse(bad->status, bad->message);
    *into = std::get<int>(v);
  }
  if (ask) {
    if (fields.count("question") == 0 ||
        fields["question"].find_first_not_of(" \t\r\n") == std::string::npos)
      return refuse(http::status::unprocessable_entity, "ask needs a 'question'");
    const auto& q = fields["question"];
    if (!core::is_valid_utf8(q))
      return refuse(http::status::unprocessable_entity,
                    "the question is not valid UTF-8 text ('" + utf8_prefix(q, 60) +
                        "'); send it as UTF-8, %-escaped in a query string");
    if (static_cast<int>(q.size()) > L.max_question_chars)
      return refuse(http::status::unprocessable_entity,
                    fmt::format("the question is {} characters, over the limit of {}", q.size(),
                                L.max_question_chars));
    r.question = q;
  } else if (fields.count("question") != 0) {
    return refuse(http::status::unprocessable_entity,
                  "caption takes no question; POST /api/v1/ask to ask one");
  }

  vision::ImageLimits il;
  il.max_bytes = L.max_body_bytes;
  il.max_pixels = L.max_pixels;
  auto image = vision::decode_image(image_bytes, il);
  if (!image)
    return refuse(status_of(image.error().code), image.error().message);
  r.image = image.value();
  r.image_key = sha256_hex(image_bytes);
  const auto decoded = Clock::now();

  json meta = {
      {"model", r.model},
      {"task", ask ? "ask" : "caption"},
      {"beam", r.beam},
      {"max_len", r.max_len},
      {"image", {{"width", r.image.cols}, {"height", r.image.rows}, {"sha256", r.image_key}}}};
  if (r.question)
    meta["question"] = *r.question;
  auto shared_finish = std::make_shared<std::function<void(Response)>>(std::move(finish));
  Job job;
  job.request = std::move(r);
  job.done = [shared_finish, meta, t0, decoded, version,
              keep_alive](Result<fusion::ServiceResult> result) mutable {
    try {
      (*shared_finish)(inference_response(result, meta, t0, decoded, version, keep_alive));
    } catch (...) {
      (*shared_finish)(internal_error(version));
    }
  };
  if (!batcher_.submit(std::move(job))) {
    auto res = error_response(http::status::service_unavailable,
                              "the server is busy: the inference queue is full; retry shortly",
                              version, keep_alive);
    res.set(http::field::retry_after, std::to_string(options_.retry_after_seconds));
    (*shared_finish)(std::move(res));
  }
}

}  // namespace glimpse::web

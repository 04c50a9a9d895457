// A tiny random-weight model behind a Service, and helpers to build requests, for the web tests.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <future>
#include <memory>
#include <string>

#include "glimpse/fusion/caption_model.h"
#include "glimpse/fusion/service.h"
#include "glimpse/text/vocabulary.h"
#include "glimpse/vision/image_decode.h"
#include "glimpse/web/app.h"
#include "test_util.h"
#include "tiny_model.h"

namespace glimpse::web::testing {

inline fusion::ModelConfig tiny_transformer() {
  auto c = glimpse::testing::tiny_model_config("transformer", "cross:2");
  c.transformer.max_len = 64;  // room for long questions
  return c;
}

// A PNG of w x h pixels whose content depends on seed.
inline std::string png(int seed, int w = 40, int h = 30) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>((x * 7 + seed * 40) & 255),
                                        static_cast<uchar>((y * 11 + seed * 13) & 255),
                                        static_cast<uchar>((x * y + seed) & 255));
  return vision::encode_png(m).take();
}

struct Field {
  Field(std::string n, std::string v, std::string f = "", std::string t = "")
      : name(std::move(n)), value(std::move(v)), filename(std::move(f)), type(std::move(t)) {}
  std::string name, value, filename, type;
};

inline std::string multipart_body(const std::vector<Field>& fields,
                                  const std::string& boundary = "XyZ-boundary-42") {
  std::string b;
  for (const auto& f : fields) {
    b += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.name + "\"";
    if (!f.filename.empty())
      b += "; filename=\"" + f.filename + "\"";
    b += "\r\n";
    if (!f.type.empty())
      b += "Content-Type: " + f.type + "\r\n";
    b += "\r\n" + f.value + "\r\n";
  }
  return b + "--" + boundary + "--\r\n";
}

inline Request post(const std::string& target, const std::vector<Field>& fields) {
  Request r{http::verb::post, target, 11};
  r.set(http::field::content_type, "multipart/form-data; boundary=XyZ-boundary-42");
  r.body() = multipart_body(fields);
  r.prepare_payload();
  return r;
}

inline Request post_raw(const std::string& target, const std::string& type,
                        const std::string& body) {
  Request r{http::verb::post, target, 11};
  r.set(http::field::content_type, type);
  r.body() = body;
  r.prepare_payload();
  return r;
}

inline Request get(const std::string& target, http::verb verb = http::verb::get) {
  return Request{verb, target, 11};
}

// handle_request, waited for.
inline Response call(App& app, Request r) {
  auto p = std::make_shared<std::promise<Response>>();
  auto f = p->get_future();
  app.handle_request(std::move(r), [p](Response res) { p->set_value(std::move(res)); });
  return f.get();
}

inline nlohmann::json body_json(const Response& r) {
  return nlohmann::json::parse(r.body());
}

}  // namespace glimpse::web::testing

// handle_request, every route and every refusal, without a socket.
#include "glimpse/web/app.h"

#include <cmath>
#include <filesystem>
#include <thread>

#include "web_fixture.h"

namespace glimpse::web {
namespace {

using namespace glimpse::web::testing;  // NOLINT
using glimpse::testing::TempDir;
using glimpse::testing::write_bytes;
using nlohmann::json;

class WebApp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    torch::manual_seed(5);  // random weights, but the same in every process: it writes words
    auto m = fusion::CaptionModel::create(tiny_transformer()).take();
    ASSERT_TRUE(m->save(dir_->file("tiny.safetensors")));
    std::filesystem::create_directories(dir_->file("examples"));
    write_bytes(dir_->file("examples/one.png"), png(1));
    write_bytes(dir_->file("examples/notes.txt"), "not an example");
    service_ =
        fusion::Service::open({{"tiny", dir_->file("tiny.safetensors")}}, {}).take().release();
  }
  static void TearDownTestSuite() {
    delete service_;
    delete dir_;
  }
  void SetUp() override {
    options_.default_model = "tiny";
    options_.examples_dir = dir_->file("examples");
    options_.limits.max_body_bytes = 64 << 10;
    options_.limits.max_pixels = 200 * 200;
    options_.limits.max_question_chars = 40;
    options_.limits.max_beam = 4;
    options_.limits.max_len = 12;
    batcher_ = std::make_unique<Batcher>(*service_, metrics_, BatcherOptions{8, 0, 64});
    app_ = std::make_unique<App>(*service_, *batcher_, metrics_, options_);
  }
  void TearDown() override {
    app_.reset();
    batcher_.reset();
  }

  // A refusal: the status, a JSON error with that code and a message containing `says`.
  void expect_refusal(Request r, http::status status, const std::string& says) {
    const auto res = call(*app_, std::move(r));
    EXPECT_EQ(res.result(), status) << res.body();
    EXPECT_EQ(res[http::field::content_type], "application/json");
    const json j = body_json(res);
    EXPECT_EQ(j["error"]["code"], static_cast<int>(status));
    EXPECT_NE(j["error"]["message"].get<std::string>().find(says), std::string::npos)
        << "want '" << says << "' in " << j["error"]["message"];
  }

  static TempDir* dir_;
  static fusion::Service* service_;
  Metrics metrics_;
  AppOptions options_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<App> app_;
};
TempDir* WebApp::dir_ = nullptr;
fusion::Service* WebApp::service_ = nullptr;

TEST_F(WebApp, ServesThePageAndHeadWithoutBody) {
  auto res = call(*app_, get("/"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_NE(res.body().find("<canvas id=\"view\""), std::string::npos);
  EXPECT_NE(res.body().find("/api/v1/caption"), std::string::npos);
  EXPECT_EQ(res.body().find("http://"), std::string::npos) << "nothing from another host";
  EXPECT_EQ(res.body().find("https://"), std::string::npos) << "nothing from another host";
  res = call(*app_, get("/", http::verb::head));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(res.body().empty());
  EXPECT_EQ(res[http::field::content_length], std::to_string(page_html().size()));
  // Every route that takes HEAD: the GET's headers and no body (a body would corrupt the
  // kept-alive connection).
  for (const char* target : {"/healthz", "/examples/one.png"}) {
    const auto got = call(*app_, get(target));
    const auto headed = call(*app_, get(target, http::verb::head));
    EXPECT_EQ(headed.result(), http::status::ok) << target;
    EXPECT_TRUE(headed.body().empty()) << target;
    EXPECT_EQ(headed[http::field::content_length], std::to_string(got.body().size())) << target;
    EXPECT_EQ(headed[http::field::content_type], got[http::field::content_type]) << target;
  }
}

TEST_F(WebApp, HealthModelsAndExamples) {
  auto res = call(*app_, get("/healthz"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(body_json(res), json({{"status", "ok"}, {"models", 1}}));

  const json models = body_json(call(*app_, get("/api/v1/models")));
  EXPECT_EQ(models["default"], "tiny");
  ASSERT_EQ(models["models"].size(), 1u);
  const auto& m = models["models"][0];
  EXPECT_EQ(m["name"], "tiny");
  EXPECT_EQ(m["decoder"], "transformer");
  EXPECT_EQ(m["attention"], "cross:2");
  EXPECT_EQ(m["layers"], 2);
  EXPECT_EQ(m["heads"], 2);
  EXPECT_EQ(m["grid_h"], 3);
  EXPECT_EQ(m["tasks"], json({"caption", "vqa"}));
  EXPECT_EQ(models["limits"]["max_beam"], 4);

  const json ex = body_json(call(*app_, get("/api/v1/examples")));
  EXPECT_EQ(ex, json({{"examples", {{{"name", "one.png"}, {"url", "/examples/one.png"}}}}}));
  res = call(*app_, get("/examples/one.png"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "image/png");
  EXPECT_EQ(res.body(), png(1));
}

TEST_F(WebApp, CaptionReturnsWordsWithOneAttentionMapPerLayerAndHead) {
  auto res = call(
      *app_, post("/api/v1/caption?beam=2&max_len=5", {{"image", png(2), "p.png", "image/png"}}));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  const json j = body_json(res);
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_EQ(j["task"], "caption");
  EXPECT_EQ(j["beam"], 2);
  EXPECT_EQ(j["image"]["width"], 40);
  EXPECT_EQ(j["image"]["height"], 30);
  EXPECT_EQ(j["image"]["sha256"].get<std::string>().size(), 64u);
  const auto& words = j["words"];
  ASSERT_GE(words.size(), 1u);
  ASSERT_LE(words.size(), 5u);
  const auto& a = j["attention"];
  EXPECT_EQ(a["grid_h"], 3);
  EXPECT_EQ(a["grid_w"], 3);
  ASSERT_EQ(a["maps"].size(), words.size());
  for (const auto& w : a["maps"]) {
    ASSERT_EQ(w.size(), 2u);  // layers
    for (const auto& l : w) {
      ASSERT_EQ(l.size(), 2u);  // heads
      for (const auto& h : l) {
        ASSERT_EQ(h.size(), 9u);
        double sum = 0;
        for (double v : h)
          sum += v;
        EXPECT_NEAR(sum, 1.0, 1e-3);
      }
    }
  }
  std::string text;
  for (const auto& w : words)
    text += (text.empty() ? "" : " ") + w["word"].get<std::string>();
  EXPECT_EQ(j["text"], text);
  for (const char* t : {"decode_image", "queue", "encode", "decode", "total"})
    EXPECT_GE(j["timings_ms"][t].get<double>(), 0.0) << t;

  // The same image as a raw body: the same caption, its features from the cache.
  const json raw =
      body_json(call(*app_, post_raw("/api/v1/caption?beam=2&max_len=5", "image/png", png(2))));
  EXPECT_EQ(raw["text"], j["text"]);
  EXPECT_EQ(raw["cache_hit"], true);
  EXPECT_EQ(j["cache_hit"], false);
}

TEST_F(WebApp, AskAnswersAndNamesUnknownWords) {
  auto res = call(*app_, post("/api/v1/ask", {{"image", png(3), "p.png", "image/png"},
                                              {"question", "what colour is the zebra?"},
                                              {"max_len", "3"}}));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  const json j = body_json(res);
  EXPECT_EQ(j["task"], "ask");
  EXPECT_EQ(j["question"], "what colour is the zebra?");
  EXPECT_EQ(j["unknown_words"], json({"zebra"}));
  EXPECT_LE(j["words"].size(), 3u);
  EXPECT_EQ(j["attention"]["maps"].size(), j["words"].size());
}

TEST_F(WebApp, ConcurrentRequestsAreBatchedAndAnswerAsAlone) {
  const std::vector<std::string> questions = {
      "", "what colour is the circle?", "is the square red?",
      "", "what is the colour?",        "a red circle?"};
  // Alone, one at a time.
  std::vector<std::string> alone;
  for (size_t i = 0; i < questions.size(); ++i) {
    auto r = questions[i].empty()
                 ? post("/api/v1/caption", {{"image", png(10 + static_cast<int>(i))}})
                 : post("/api/v1/ask",
                        {{"image", png(10 + static_cast<int>(i))}, {"question", questions[i]}});
    alone.push_back(body_json(call(*app_, std::move(r)))["text"]);
  }
  // Together, through a batcher that waits (up to 2 s) until it has all six.
  Metrics metrics;
  Batcher batcher(*service_, metrics, BatcherOptions{6, 2000, 64});
  App app(*service_, batcher, metrics, options_);
  std::vector<std::future<Response>> futures;
  for (size_t i = 0; i < questions.size(); ++i) {
    auto p = std::make_shared<std::promise<Response>>();
    futures.push_back(p->get_future());
    auto r = questions[i].empty()
                 ? post("/api/v1/caption", {{"image", png(10 + static_cast<int>(i))}})
                 : post("/api/v1/ask",
                        {{"image", png(10 + static_cast<int>(i))}, {"question", questions[i]}});
    app.handle_request(std::move(r), [p](Response res) { p->set_value(std::move(res)); });
  }
  for (size_t i = 0; i < questions.size(); ++i)
    EXPECT_EQ(body_json(futures[i].get())["text"], alone[i]) << i;
  // One batch: captions and questions of one model, beam and length decode together.
  const std::string text = metrics.render({});
  EXPECT_NE(text.find("glimpse_inference_batches_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("glimpse_inference_batched_jobs_total 6\n"), std::string::npos) << text;
}

TEST_F(WebApp, EveryRefusalIsAJsonErrorWithItsStatus) {
  using S = http::status;
  const std::string image = png(4);
  expect_refusal(get("/nope"), S::not_found, "no route /nope");
  expect_refusal(get("/api/v1/caption"), S::method_not_allowed, "use POST for /api/v1/caption");
  auto res = call(*app_, post_raw("/healthz", "text/plain", "x"));
  EXPECT_EQ(res.result(), S::method_not_allowed);
  EXPECT_EQ(res[http::field::allow], "GET, HEAD");
  expect_refusal(post_raw("/api/v1/caption", "text/plain", "hello"), S::unsupported_media_type,
                 "multipart/form-data");
  expect_refusal(post_raw("/api/v1/caption", "image/png", "hello, not a picture"),
                 S::unsupported_media_type, "not an image");
  expect_refusal(post_raw("/api/v1/caption", "image/png", image.substr(0, image.size() / 2)),
                 S::unprocessable_entity, "truncated");
  expect_refusal(post_raw("/api/v1/caption", "image/png", ""), S::unprocessable_entity, "empty");
  expect_refusal(post_raw("/api/v1/caption", "image/png", std::string(70 << 10, 'x')),
                 S::payload_too_large, "over the limit of 65536");
  expect_refusal(post_raw("/api/v1/caption", "image/png", png(5, 300, 300)), S::payload_too_large,
                 "limit");
  // Malformed multipart: no boundary, no closing boundary, a part without a name.
  expect_refusal(post_raw("/api/v1/caption", "multipart/form-data", "x"), S::bad_request,
                 "boundary");
  expect_refusal(post_raw("/api/v1/caption", "multipart/form-data; boundary=XyZ-boundary-42",
                          "--XyZ-boundary-42\r\nContent-Disposition: form-data; "
                          "name=\"image\"\r\n\r\nabc"),
                 S::bad_request, "not closed by the boundary");
  expect_refusal(post_raw("/api/v1/caption", "multipart/form-data; boundary=XyZ-boundary-42",
                          "--XyZ-boundary-42\r\nContent-Type: image/png\r\n\r\nabc\r\n"
                          "--XyZ-boundary-42--\r\n"),
                 S::bad_request, "no Content-Disposition name");
  expect_refusal(post("/api/v1/caption", {{"beam", "2"}}), S::unprocessable_entity, "no image");
  expect_refusal(post("/api/v1/caption", {{"image", image}, {"colour", "red"}}),
                 S::unprocessable_entity, "unknown field 'colour'");
  expect_refusal(post("/api/v1/caption?size=3", {{"image", image}}), S::unprocessable_entity,
                 "unknown parameter 'size'");
  expect_refusal(post("/api/v1/caption?beam=%zz", {{"image", image}}), S::bad_request, "%-escape");
  expect_refusal(post("/api/v1/caption", {{"image", image}, {"beam", "two"}}), S::bad_request,
                 "'beam' must be a whole number, not 'two'");
  expect_refusal(post("/api/v1/caption", {{"image", image}, {"beam", "0"}}),
                 S::unprocessable_entity, "'beam' must be between 1 and 4, not 0");
  expect_refusal(post("/api/v1/caption", {{"image", image}, {"max_len", "13"}}),
                 S::unprocessable_entity, "'max_len' must be between 1 and 12, not 13");
  expect_refusal(post("/api/v1/caption", {{"image", image}, {"model", "nope"}}), S::not_found,
                 "no model named 'nope'");
  expect_refusal(post("/api/v1/caption", {{"image", image}, {"question", "why?"}}),
                 S::unprocessable_entity, "caption takes no question");
  expect_refusal(post("/api/v1/ask", {{"image", image}}), S::unprocessable_entity,
                 "ask needs a 'question'");
  expect_refusal(post("/api/v1/ask", {{"image", image}, {"question", "  "}}),
                 S::unprocessable_entity, "ask needs a 'question'");
  expect_refusal(post("/api/v1/ask", {{"image", image}, {"question", std::string(41, 'a')}}),
                 S::unprocessable_entity, "41 characters, over the limit of 40");
  expect_refusal(post("/api/v1/ask", {{"image", image}, {"question", "?!"}}),
                 S::unprocessable_entity, "the question is empty");
  expect_refusal(get("/examples/..%2f..%2fetc%2fpasswd"), S::not_found, "no example named");
  expect_refusal(get("/examples/notes.txt"), S::not_found, "no example named 'notes.txt'");

  // A full queue: 503 with Retry-After.
  Metrics metrics;
  Batcher full(*service_, metrics, BatcherOptions{8, 0, 0});
  App app(*service_, full, metrics, options_);
  res = call(app, post("/api/v1/caption", {{"image", image}}));
  EXPECT_EQ(res.result(), S::service_unavailable);
  EXPECT_EQ(res[http::field::retry_after], "1");
  EXPECT_NE(body_json(res)["error"]["message"].get<std::string>().find("queue is full"),
            std::string::npos);

  // Still serving.
  EXPECT_EQ(call(*app_, post("/api/v1/caption", {{"image", image}})).result(), S::ok);
}

TEST_F(WebApp, MetricsCountRequestsByRouteAndStatusAndTheCache) {
  call(*app_, get("/healthz"));
  call(*app_, get("/nope"));
  call(*app_, post("/api/v1/caption", {{"image", png(6)}}));
  call(*app_, post("/api/v1/ask", {{"image", png(6)}, {"question", "what colour is it?"}}));
  const auto res = call(*app_, get("/metrics"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4");
  const std::string& t = res.body();
  for (const char* want :
       {"glimpse_http_requests_total{route=\"/healthz\",status=\"200\"} 1\n",
        "glimpse_http_requests_total{route=\"other\",status=\"404\"} 1\n",
        "glimpse_http_requests_total{route=\"/api/v1/caption\",status=\"200\"} 1\n",
        "glimpse_http_requests_total{route=\"/api/v1/ask\",status=\"200\"} 1\n",
        "glimpse_http_request_duration_seconds_count 4\n",
        "glimpse_http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n", "glimpse_queue_depth 0\n",
        "glimpse_queue_capacity 64\n", "# TYPE glimpse_http_request_duration_seconds histogram\n"})
    EXPECT_NE(t.find(want), std::string::npos) << want << " in\n" << t;
  // The ask reused the caption's features of png(6).
  const auto c = service_->cache_stats();
  EXPECT_NE(t.find("glimpse_feature_cache_hits_total " + std::to_string(c.hits) + "\n"),
            std::string::npos);
  EXPECT_GE(c.hits, 1u);
}

}  // namespace
}  // namespace glimpse::web

// handle_request against what a hostile or careless client sends: bytes that are not UTF-8 in
// every place a reply echoes, characters cut mid-way, an exception inside a route, a model asked
// for a task it was not trained on; and the batcher's worker surviving a callback that throws.
#include <filesystem>

#include "glimpse/core/utf8.h"
#include "glimpse/web/app.h"
#include "web_fixture.h"

namespace glimpse::web {
namespace {

using namespace glimpse::web::testing;  // NOLINT
using glimpse::testing::TempDir;
using glimpse::testing::write_bytes;
using nlohmann::json;
namespace fs = std::filesystem;

const std::string kFffd = "\xEF\xBF\xBD";

class HostileClient : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    torch::manual_seed(5);
    auto m = fusion::CaptionModel::create(tiny_transformer()).take();
    ASSERT_TRUE(m->save(dir_->file("tiny.safetensors")));
    auto config = tiny_transformer();
    config.tasks = {"caption"};
    auto captions_only = fusion::CaptionModel::create(config).take();
    ASSERT_TRUE(captions_only->save(dir_->file("captions.safetensors")));
    fs::create_directories(dir_->file("examples"));
    write_bytes(dir_->file("examples/one.png"), png(1));
    // Listed as a regular file, but reading it fails: the route throws.
    fs::create_symlink("/proc/self/mem", dir_->file("examples/unreadable.png"));
    // A link to itself: asking whether it is a regular file fails.
    fs::create_symlink("loop.png", dir_->file("examples/loop.png"));
    service_ = fusion::Service::open({{"tiny", dir_->file("tiny.safetensors")},
                                      {"captions", dir_->file("captions.safetensors")}},
                                     {})
                   .take()
                   .release();
  }
  static void TearDownTestSuite() {
    delete service_;
    delete dir_;
  }
  void SetUp() override {
    AppOptions options;
    options.default_model = "tiny";
    options.examples_dir = dir_->file("examples");
    batcher_ = std::make_unique<Batcher>(*service_, metrics_, BatcherOptions{8, 0, 64});
    app_ = std::make_unique<App>(*service_, *batcher_, metrics_, options);
  }

  // The reply's status, and its JSON error message, which must be valid UTF-8.
  std::pair<http::status, std::string> refusal(Request r) {
    const auto res = call(*app_, std::move(r));
    EXPECT_TRUE(core::is_valid_utf8(res.body())) << res.body();
    const json j = body_json(res);
    EXPECT_EQ(j["error"]["code"], res.result_int());
    return {res.result(), j["error"]["message"].get<std::string>()};
  }

  static TempDir* dir_;
  static fusion::Service* service_;
  Metrics metrics_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<App> app_;
};
TempDir* HostileClient::dir_ = nullptr;
fusion::Service* HostileClient::service_ = nullptr;

TEST_F(HostileClient, BytesThatAreNotUtf8AreRefusedInEveryEchoedPlace) {
  using S = http::status;
  auto [status, message] = refusal(get("/\xff"));
  EXPECT_EQ(status, S::not_found);
  EXPECT_EQ(message.rfind("no route /" + kFffd + ";", 0), 0u) << message;

  std::tie(status, message) = refusal(post_raw("/api/v1/caption?%ff=1", "image/png", png(1)));
  EXPECT_EQ(status, S::unprocessable_entity);
  EXPECT_EQ(message.rfind("unknown parameter '" + kFffd + "'", 0), 0u) << message;

  std::tie(status, message) = refusal(post("/api/v1/caption", {{"\xff\xfe", "x"}}));
  EXPECT_EQ(status, S::unprocessable_entity);
  EXPECT_EQ(message.rfind("unknown field '" + kFffd + kFffd + "'", 0), 0u) << message;

  std::tie(status, message) =
      refusal(post("/api/v1/caption", {{"image", png(1), "a.png"}, {"model", "tiny\xc3"}}));
  EXPECT_EQ(status, S::not_found);
  EXPECT_EQ(message.rfind("no model named 'tiny" + kFffd + "'", 0), 0u) << message;

  std::tie(status, message) =
      refusal(post("/api/v1/caption", {{"image", png(1), "a.png"}, {"beam", "2\xff"}}));
  EXPECT_EQ(status, S::bad_request);
  EXPECT_EQ(message, "'beam' must be a whole number, not '2" + kFffd + "'");

  std::tie(status, message) = refusal(post_raw("/api/v1/caption", "text/\xff", "x"));
  EXPECT_EQ(status, S::unsupported_media_type);
  EXPECT_NE(message.find("not 'text/" + kFffd + "'"), std::string::npos) << message;

  std::tie(status, message) =
      refusal(post_raw("/api/v1/ask?question=what%20is%ff", "image/png", png(1)));
  EXPECT_EQ(status, S::unprocessable_entity);
  EXPECT_EQ(message.rfind("the question is not valid UTF-8 text ('what is" + kFffd + "')", 0), 0u)
      << message;
}

TEST_F(HostileClient, AnEchoCutInsideACharacterDropsTheWholeCharacter) {
  // 39 digits then "é": the old 40-byte cut split the "é" in two.
  const std::string beam = std::string(39, '1') + "\xc3\xa9";
  auto [status, message] =
      refusal(post("/api/v1/caption", {{"image", png(1), "a.png"}, {"beam", beam}}));
  EXPECT_EQ(status, http::status::bad_request);
  EXPECT_EQ(message,
            "'beam' must be a whole number, not '" + std::string(37, '1') + "\xe2\x80\xa6'");
}

TEST_F(HostileClient, AQuestionInValidUtf8IsAnsweredAndEchoedAsSent) {
  const auto res = call(
      *app_, post("/api/v1/ask",
                  {{"image", png(2), "a.png"}, {"question", "what colour is the caf\xc3\xa9?"}}));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  const json j = body_json(res);
  EXPECT_EQ(j["question"], "what colour is the caf\xc3\xa9?");
  EXPECT_EQ(j["unknown_words"], json({"caf\xc3\xa9"}));
}

TEST_F(HostileClient, AnExceptionInsideARouteIsA500AndTheAppGoesOn) {
  auto [status, message] = refusal(get("/examples/unreadable.png"));
  EXPECT_EQ(status, http::status::internal_server_error);
  EXPECT_EQ(message.rfind("internal error: cannot read", 0), 0u) << message;
  EXPECT_NE(message.find("the server goes on serving"), std::string::npos) << message;
  const auto res = call(*app_, get("/healthz"));
  EXPECT_EQ(res.result(), http::status::ok);
}

TEST_F(HostileClient, ALinkThatLoopsIsNotListedAsAnExample) {
  const json ex = body_json(call(*app_, get("/api/v1/examples")));
  std::vector<std::string> names;
  for (const auto& e : ex["examples"])
    names.push_back(e["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"one.png", "unreadable.png"}));
}

TEST_F(HostileClient, AskingACaptionOnlyModelIsA422ThatSaysWhy) {
  auto [status, message] = refusal(
      post("/api/v1/ask",
           {{"image", png(1), "a.png"}, {"question", "what is it"}, {"model", "captions"}}));
  EXPECT_EQ(status, http::status::unprocessable_entity);
  EXPECT_EQ(message.rfind("model 'captions' was not trained to answer questions", 0), 0u)
      << message;
}

TEST_F(HostileClient, EveryReplyCarriesTheSecurityHeadersAndThePageItsPolicy) {
  for (const char* target : {"/", "/healthz", "/nowhere", "/favicon.ico"}) {
    const auto res = call(*app_, get(target));
    EXPECT_EQ(res["X-Content-Type-Options"], "nosniff") << target;
    EXPECT_EQ(res["X-Frame-Options"], "DENY") << target;
    EXPECT_EQ(res["Referrer-Policy"], "no-referrer") << target;
  }
  const auto page = call(*app_, get("/"));
  const std::string csp(page["Content-Security-Policy"]);
  EXPECT_EQ(csp.rfind("default-src 'none'; script-src 'sha256-", 0), 0u) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-eval"), std::string::npos) << csp;
  const auto icon = call(*app_, get("/favicon.ico"));
  EXPECT_EQ(icon.result(), http::status::ok);
  EXPECT_EQ(icon[http::field::content_type], "image/png");
  const auto decoded = vision::decode_image(icon.body(), {});
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded.value().cols, 32);
}

TEST(BatcherWorker, GoesOnAfterACallbackThrows) {
  TempDir dir;
  torch::manual_seed(5);
  ASSERT_TRUE(fusion::CaptionModel::create(tiny_transformer()).take()->save(dir.file("t.st")));
  auto service = fusion::Service::open({{"tiny", dir.file("t.st")}}, {}).take();
  Metrics metrics;
  Batcher batcher(*service, metrics, BatcherOptions{1, 0, 8});
  auto job = [&](std::function<void(Result<fusion::ServiceResult>)> done) {
    Job j;
    j.request.model = "tiny";
    j.request.image = cv::Mat(32, 32, CV_8UC3, cv::Scalar(9, 9, 9));
    j.done = std::move(done);
    return j;
  };
  ASSERT_TRUE(batcher.submit(job([](auto) { throw std::runtime_error("a broken callback"); })));
  std::promise<bool> second;
  ASSERT_TRUE(
      batcher.submit(job([&](Result<fusion::ServiceResult> r) { second.set_value(r.ok()); })));
  auto f = second.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(f.get());
}

}  // namespace
}  // namespace glimpse::web

// Request handling without a socket: the input is parsed as the server parses a connection's
// bytes (Beast, the server's limits), then answered by App::handle_request with a tiny random
// model behind it. Every answer must come, be valid UTF-8, and be a JSON error naming its status
// whenever the status is 4xx or 5xx.
#include <unistd.h>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>

#include "fuzz_target.h"
#include "glimpse/core/utf8.h"
#include "glimpse/fusion/caption_model.h"
#include "glimpse/web/app.h"
#include "tiny_model.h"

namespace {

using namespace glimpse;  // NOLINT
namespace http = boost::beast::http;

struct World {
  std::unique_ptr<fusion::Service> service;
  web::Metrics metrics;
  std::unique_ptr<web::Batcher> batcher;
  std::unique_ptr<web::App> app;
};

World& world() {
  static World* w = [] {
    auto* made = new World;
    const auto dir = std::filesystem::temp_directory_path() /
                     ("glimpse-fuzz-request-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    torch::manual_seed(1);
    auto config = glimpse::testing::tiny_model_config("transformer", "cross:2");
    config.transformer.max_len = 64;
    const auto path = (dir / "tiny.safetensors").string();
    fusion::CaptionModel::create(config).take()->save(path).throw_if_error();
    made->service = fusion::Service::open({{"tiny", path}}, {}).take();
    made->batcher = std::make_unique<web::Batcher>(*made->service, made->metrics,
                                                   web::BatcherOptions{1, 0, 64});
    web::AppOptions options;
    options.default_model = "tiny";
    options.limits.max_body_bytes = 1 << 20;
    options.limits.max_pixels = 256 * 256;
    made->app = std::make_unique<web::App>(*made->service, *made->batcher, made->metrics, options);
    return made;
  }();
  return *w;
}

void check(const web::Response& res, bool head) {
  using fuzzing::require;
  require(res.result_int() >= 200 && res.result_int() <= 599, "status out of range");
  if (head) {  // the headers a GET would get, and no body
    require(res.body().empty(), "a body in the reply to HEAD");
    return;
  }
  require(core::is_valid_utf8(res.body()) || res[http::field::content_type].starts_with("image/"),
          "a body that is not UTF-8", res.body());
  if (res.result_int() < 400)
    return;
  const auto j = nlohmann::json::parse(res.body(), nullptr, false);
  require(!j.is_discarded() && j.contains("error") && j["error"]["code"] == res.result_int(),
          "an error that is not a JSON error naming its status", res.body());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  world();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& w = world();
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(w.app->options().limits.max_header_bytes);
  parser.body_limit(w.app->options().limits.max_body_bytes);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_done())
    return 0;  // the server answers these itself (400, 413, 431) without the app
  const bool head = parser.get().method() == http::verb::head;
  auto promise = std::make_shared<std::promise<web::Response>>();
  auto answer = promise->get_future();
  w.app->handle_request(parser.release(),
                        [promise](web::Response res) { promise->set_value(std::move(res)); });
  fuzzing::require(answer.wait_for(std::chrono::seconds(20)) == std::future_status::ready,
                   "no answer within 20 s");
  check(answer.get(), head);
  return 0;
}

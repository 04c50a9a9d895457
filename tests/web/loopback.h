// The shipped shapes model behind a real server on a loopback port, and a one-request client,
// for the integration tests of the server.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <string>
#include <thread>

#include "glimpse/web/server.h"
#include "web_fixture.h"

namespace glimpse::web::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using glimpse::testing::read_bytes;

inline const std::string kModels = std::string(GLIMPSE_SOURCE_DIR) + "/models/";

// One request on a new connection.
inline Response send(unsigned short port, Request req) {
  net::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  boost::beast::flat_buffer buffer;
  Response res;
  http::read(stream, buffer, res);
  boost::beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return res;
}

class Loopback : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    service_ =
        fusion::Service::open({{"shapes", kModels + "shapes.safetensors"}}, {}).take().release();
  }
  static void TearDownTestSuite() { delete service_; }

  void start(ServerOptions so = {}, BatcherOptions bo = {}) {
    options_.default_model = "shapes";
    options_.examples_dir = kModels + "examples";
    options_.limits.max_body_bytes = 256 << 10;
    batcher_ = std::make_unique<Batcher>(*service_, metrics_, bo);
    app_ = std::make_unique<App>(*service_, *batcher_, metrics_, options_);
    so.port = 0;
    server_ = std::make_unique<Server>(*app_, so);
    ASSERT_TRUE(server_->listen());
    port_ = server_->port();
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) {
      server_->stop();
      thread_.join();
    }
  }
  static std::string scene(int n) {
    return read_bytes(kModels + "examples/scene_" + std::to_string(n) + ".png");
  }

  static fusion::Service* service_;
  Metrics metrics_;
  AppOptions options_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<App> app_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  unsigned short port_ = 0;
};
inline fusion::Service* Loopback::service_ = nullptr;

}  // namespace glimpse::web::testing

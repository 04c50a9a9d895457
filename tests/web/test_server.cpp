// The server on loopback (label integration): real answers from the shipped model, refusals
// read off the wire, a slow client dropped while others are served, 200 concurrent requests,
// and a stop that lets requests in flight finish.
#include "glimpse/web/server.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "loopback.h"

namespace glimpse::web {
namespace {

using namespace glimpse::web::testing;  // NOLINT
using glimpse::testing::read_bytes;
using nlohmann::json;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

TEST_F(Loopback, ARealCaptionAndARealAnswer) {
  start();
  auto res =
      send(port_, post("/api/v1/caption?beam=3", {{"image", scene(2), "s.png", "image/png"}}));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(body_json(res)["text"], "a small blue hexagon above a small green square");
  res = send(port_, post("/api/v1/ask", {{"image", scene(2), "s.png", "image/png"},
                                         {"question", "what shape is the purple object?"}}));
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(body_json(res)["text"], "triangle");
  EXPECT_EQ(body_json(res)["cache_hit"], true);
  res = send(port_, get("/"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), page_html());
}

TEST_F(Loopback, MalformedMultipartAndAnOversizedBodyAreRefusedAndServingGoesOn) {
  start();
  auto res = send(port_, post_raw("/api/v1/caption", "multipart/form-data; boundary=B",
                                  "--B\r\nno headers end"));
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_NE(body_json(res)["error"]["message"].get<std::string>().find("malformed multipart"),
            std::string::npos);

  // Content-Length over the limit: refused from the header, before the body is read.
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  const std::string head =
      "POST /api/v1/caption HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
      "Content-Length: 10000000\r\n\r\n0123456789";
  net::write(s, net::buffer(head));
  boost::beast::flat_buffer buffer;
  Response big;
  http::read(s, buffer, big);
  EXPECT_EQ(big.result(), http::status::payload_too_large);
  EXPECT_EQ(body_json(big)["error"]["message"], "the body is over the limit of 262144 bytes");
  EXPECT_FALSE(big.keep_alive());

  // Headers over the limit (16 KiB).
  auto huge = get("/healthz");
  huge.set("X-Padding", std::string(20 << 10, 'p'));
  res = send(port_, huge);
  EXPECT_EQ(res.result(), http::status::request_header_fields_too_large);
  EXPECT_EQ(body_json(res)["error"]["message"],
            "the request's headers are over the limit of 16384 bytes");

  // Not HTTP at all.
  net::io_context ioc2;
  tcp::socket junk(ioc2);
  junk.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  net::write(junk, net::buffer(std::string("\x16\x03\x01 hello, TLS?\r\n\r\n")));
  boost::beast::flat_buffer junk_buffer;
  Response bad;
  http::read(junk, junk_buffer, bad);
  EXPECT_EQ(bad.result(), http::status::bad_request);
  EXPECT_NE(body_json(bad)["error"]["message"].get<std::string>().find("malformed HTTP request"),
            std::string::npos);

  EXPECT_EQ(send(port_, get("/healthz")).result(), http::status::ok);
}

TEST_F(Loopback, AClientSendingOneByteASecondIsDroppedWhileOthersAreServed) {
  ServerOptions so;
  so.read_timeout_seconds = 2;
  so.idle_timeout_seconds = 2;
  start(so);
  std::atomic<bool> dropped{false};
  std::atomic<double> dropped_after{0};
  std::thread slow([&] {
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    const std::string head = "GET /healthz HTTP/1.1\r\nHost: slow.example\r\nX-Slow: yes\r\n\r\n";
    const auto t0 = Clock::now();
    for (char c : head) {
      boost::system::error_code ec;
      net::write(s, net::buffer(&c, 1), ec);
      if (ec) {  // the server closed the connection (EPIPE or reset)
        dropped = true;
        break;
      }
      // A read that returns at once (the server closed) means dropped.
      s.non_blocking(true);
      char byte = 0;
      const auto n = s.read_some(net::buffer(&byte, 1), ec);
      s.non_blocking(false);
      if (ec == net::error::eof || ec == net::error::connection_reset || (!ec && n == 0)) {
        dropped = true;
        break;
      }
      if (std::chrono::duration<double>(Clock::now() - t0).count() > 8)
        break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    dropped_after = std::chrono::duration<double>(Clock::now() - t0).count();
  });
  // Meanwhile, others are answered at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    EXPECT_EQ(send(port_, get("/healthz")).result(), http::status::ok);
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.5);
  }
  slow.join();
  EXPECT_TRUE(dropped.load()) << "the slow client was still connected after "
                              << dropped_after.load() << " s";
  EXPECT_GE(dropped_after.load(), 1.5);
  EXPECT_LE(dropped_after.load(), 5.0);
}

TEST_F(Loopback, TwoHundredConcurrentRequestsAreAllAnsweredCorrectly) {
  ServerOptions so;
  so.io_threads = 2;
  start(so, BatcherOptions{16, 5, 256});
  // The expected caption of each scene, one request at a time.
  std::vector<std::string> expected;
  for (int n = 1; n <= 4; ++n)
    expected.push_back(
        body_json(send(port_, post_raw("/api/v1/caption?beam=1", "image/png", scene(n))))["text"]);
  std::vector<std::thread> clients;
  std::atomic<int> right{0};
  std::vector<std::string> wrong(200);
  for (int i = 0; i < 200; ++i)
    clients.emplace_back([&, i] {
      try {
        auto res = send(port_, post_raw("/api/v1/caption?beam=1", "image/png", scene(1 + i % 4)));
        if (res.result() == http::status::ok &&
            body_json(res)["text"] == expected[static_cast<size_t>(i % 4)])
          ++right;
        else
          wrong[static_cast<size_t>(i)] = res.body().substr(0, 200);
      } catch (const std::exception& e) {
        wrong[static_cast<size_t>(i)] = e.what();
      }
    });
  for (auto& t : clients)
    t.join();
  EXPECT_EQ(right.load(), 200);
  for (const auto& w : wrong)
    if (!w.empty()) {
      ADD_FAILURE() << w;
      break;
    }
  // They were batched: fewer model runs than requests.
  const std::string m = send(port_, get("/metrics")).body();
  const std::string key = "\nglimpse_inference_batches_total ";
  const auto at = m.find(key);
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::stoi(m.substr(at + key.size())), 200) << m.substr(at, 80);
}

TEST_F(Loopback, SigtermLetsTheRequestInFlightFinishThenStops) {
  // A batcher that holds each job 700 ms, so the request is surely in flight at the signal.
  start({}, BatcherOptions{64, 700, 64});
  server_->catch_signals(true);  // takes effect for the next run(): restart the server with it
  server_->stop();
  thread_.join();
  ServerOptions so;
  so.port = 0;
  server_ = std::make_unique<Server>(*app_, so);
  server_->catch_signals(true);
  ASSERT_TRUE(server_->listen());
  port_ = server_->port();
  std::atomic<bool> returned{false};
  thread_ = std::thread([this, &returned] {
    server_->run();
    returned = true;
  });
  Response res;
  std::thread client([&] {
    res = send(port_, post_raw("/api/v1/ask?question=what%20shape%20is%20the%20purple%20object",
                               "image/png", scene(2)));
  });
  while (server_->in_flight() == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(std::raise(SIGTERM), 0);
  client.join();
  EXPECT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(body_json(res)["text"], "triangle");
  thread_.join();
  EXPECT_TRUE(returned.load());
  server_.reset();  // stopped already; TearDown must not stop it again
  // No longer listening.
  EXPECT_THROW(send(port_, get("/healthz")), std::exception);
}

}  // namespace
}  // namespace glimpse::web

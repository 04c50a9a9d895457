// `glimpse serve` in a process of its own (label integration): running out of descriptors pauses
// accepting instead of ending it, and a burst of large bodies stays within --max-inflight-mb and
// gives its memory back.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "serve_process.h"

namespace glimpse::testing {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// Every thread waits in arrive_and_wait() until `count` have arrived (std::barrier is C++20).
class Latch {
 public:
  explicit Latch(int count) : left_(count) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (--left_ == 0)
      all_.notify_all();
    all_.wait(lock, [this] { return left_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable all_;
  int left_;
};

// GET /healthz on a new connection; the status, or 0 when no answer came within `seconds`.
int healthz(unsigned short port, int seconds) {
  net::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(seconds));
  boost::beast::error_code ec;
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  http::request<http::empty_body> req{http::verb::get, "/healthz", 11};
  req.set(http::field::host, "x");
  if (!ec)
    http::write(stream, req, ec);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (!ec)
    http::read(stream, buffer, res, ec);
  return ec ? 0 : res.result_int();
}

TEST(ServeLimits, RunningOutOfDescriptorsPausesAcceptingThenServesAgain) {
  ServeProcess server({"--model", "shapes", "--read-timeout", "120"}, 256);
  ASSERT_EQ(healthz(server.port(), 10), 200);
  net::io_context ioc;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 300; ++i) {
    idle.emplace_back(ioc);
    idle.back().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (server.stderr_text().find("cannot accept") == std::string::npos && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(server.stderr_text().find("cannot accept a connection (Too many open files)"),
            std::string::npos)
      << server.stderr_text();
  EXPECT_LE(server.open_descriptors(), 256);
  for (auto& s : idle)
    s.close();
  // Long before the read timeout (120 s) could have freed anything: accepting resumed.
  const auto t0 = Clock::now();
  EXPECT_EQ(healthz(server.port(), 10), 200);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 5.0);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(healthz(server.port(), 5), 200);
}

// One client of the burst: headers, then (after every client has sent its headers) the body;
// with Expect: 100-continue the body goes only after the server's 100. Returns the final status.
int post_large_body(unsigned short port, const std::string& body, bool expect_continue,
                    Latch& headers_sent) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  std::string head =
      "POST /api/v1/caption HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n";
  if (expect_continue)
    head += "Expect: 100-continue\r\n";
  net::write(s, net::buffer(head + "\r\n"));
  headers_sent.arrive_and_wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // every header is read by now
  boost::beast::flat_buffer buffer;
  boost::beast::error_code ec;
  http::response<http::string_body> res;
  if (expect_continue) {
    http::read(s, buffer, res, ec);
    if (ec || res.result() != http::status::continue_)
      return ec ? 0 : res.result_int();
    res = {};
  }
  net::write(s, net::buffer(body), ec);  // a refused client's body is read and dropped
  http::read(s, buffer, res, ec);
  return ec ? 0 : res.result_int();
}

TEST(ServeLimits, ABurstOfLargeBodiesStaysWithinTheInflightBudgetAndMemoryIsGivenBack) {
  ServeProcess server({"--model", "shapes", "--max-inflight-mb", "64"});
  ASSERT_EQ(healthz(server.port(), 10), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  server.reset_peak();
  const double before = server.memory_mb("VmRSS");
  const std::string body(15'000'000, 'x');  // no image format: an accepted one is answered 415
  constexpr int kClients = 40;
  Latch headers_sent(kClients);
  std::vector<int> status(kClients, -1);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] {
      status[static_cast<size_t>(i)] =
          post_large_body(server.port(), body, i % 2 == 0, headers_sent);
    });
  for (auto& t : clients)
    t.join();
  const int accepted = static_cast<int>(std::count(status.begin(), status.end(), 415));
  const int refused = static_cast<int>(std::count(status.begin(), status.end(), 503));
  // 64 MiB holds four bodies of 15 MB; the other 36 are refused from their headers.
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(refused, 36);
  for (int i = 0; i < kClients; ++i)
    EXPECT_TRUE(status[static_cast<size_t>(i)] == 415 || status[static_cast<size_t>(i)] == 503)
        << "client " << i << ": " << status[static_cast<size_t>(i)];
  const double peak = server.memory_mb("VmHWM");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double after = server.memory_mb("VmRSS");
  std::printf("resident: %.0f MB before, peak %.0f MB (+%.0f), %.0f MB after (+%.0f)\n", before,
              peak, peak - before, after, after - before);
  EXPECT_LT(peak - before, 2 * 64.0);
  EXPECT_LT(after - before, 32.0);
  EXPECT_EQ(healthz(server.port(), 5), 200);
}

}  // namespace
}  // namespace glimpse::testing

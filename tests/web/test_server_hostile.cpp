// The server on loopback against hostile and careless clients (label integration): 2,000
// malformed requests each answered with a 4xx JSON error while /healthz keeps answering, the
// connection cap, the whole-request deadline, and a stop that answers requests half arrived.
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "glimpse/core/utf8.h"
#include "loopback.h"

namespace glimpse::web {
namespace {

using namespace glimpse::web::testing;  // NOLINT
using nlohmann::json;
using Clock = std::chrono::steady_clock;

tcp::socket connect_to(net::io_context& ioc, unsigned short port) {
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  return s;
}

// Writes raw bytes, then reads `count` responses (a socket error ends the reading early).
std::vector<Response> exchange(unsigned short port, const std::string& bytes, int count) {
  net::io_context ioc;
  boost::beast::tcp_stream stream(connect_to(ioc, port));
  stream.expires_after(std::chrono::seconds(10));
  boost::beast::error_code ec;
  net::write(stream, net::buffer(bytes), ec);
  boost::beast::flat_buffer buffer;
  std::vector<Response> out;
  for (int i = 0; i < count; ++i) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    http::read(stream, buffer, parser, ec);
    if (ec)
      break;
    out.push_back(parser.release());
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

// A text of n bytes drawn from what breaks naive echoing: invalid bytes, cut characters, '%'.
std::string hostile_bytes(std::mt19937& rng, int n) {
  static const std::vector<std::string> kPieces = {
      "\xff", "\xfe", "\xc3", "\xe2\x82", "\xf0\x9f\x90", "\xed\xa0\x80", "\xc0\xaf",
      "%ff",  "%c3",  "%",    "a",        "\xc3\xa9",     "%e2%82",       "9",
      "\x80", "/"};
  std::string out;
  while (static_cast<int>(out.size()) < n)
    out += kPieces[rng() % kPieces.size()];
  return out;
}

std::string head(const std::string& method, const std::string& target, const std::string& headers,
                 const std::string& body = "", const std::string& version = "HTTP/1.1") {
  std::string h = method + " " + target + " " + version + "\r\n";
  if (version == "HTTP/1.1")
    h += "Host: fuzz\r\n";
  h += headers;
  if (!body.empty())
    h += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return h + "\r\n" + body;
}

std::string form(const std::string& name, const std::string& value) {
  return "--B\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value +
         "\r\n--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n"
         "not an image\r\n--B--\r\n";
}

// One malformed request (or a pipelined pair, `replies` 2) of kind k.
struct Malformed {
  std::string bytes;
  int replies = 1;
  std::string kind;
};

Malformed make_malformed(std::mt19937& rng, int k) {
  const std::string bad = hostile_bytes(rng, 1 + static_cast<int>(rng() % 24));
  const std::string digits(1 + rng() % 60, static_cast<char>('1' + rng() % 9));
  const std::string huge(20 + rng() % 60, static_cast<char>('1' + rng() % 9));  // > 2^64 - 1
  const std::string multipart = "Content-Type: multipart/form-data; boundary=B\r\n";
  const std::string png = "Content-Type: image/png\r\n";
  switch (k % 16) {
    case 0:
      return {head("GET", "/" + bad, ""), 1, "path"};
    case 1:
      return {head("POST", "/api/v1/caption?" + bad + "=1", png, "xx"), 1, "query name"};
    case 2:
      return {head("POST", "/api/v1/caption", multipart, form(bad, "x")), 1, "field name"};
    case 3:
      return {head("POST", "/api/v1/caption", multipart, form("model", bad)), 1, "model"};
    case 4:
      return {head("POST", "/api/v1/caption", multipart, form("beam", digits + bad)), 1, "beam"};
    case 5:
      return {head("POST", "/api/v1/caption?max_len=" + digits + "%c3", png, "xx"), 1, "max_len"};
    case 6:
      return {head("POST", "/api/v1/caption", "Content-Type: text/" + bad + "\r\n", "xx"), 1,
              "content type"};
    case 7:
      return {head("POST", "/api/v1/ask?question=" + bad + "%ff", png, "xx"), 1, "question"};
    case 8:
      return {head("GET", std::string("/he\0al", 6) + "thz", ""), 1, "NUL in target"};
    case 9:
      return {head("GET", "/healthz", std::string("X-A: b\0c\r\n", 10)), 1, "NUL in header"};
    case 10:
      return {head("POST", "/api/v1/caption", png + "Content-Length: " + huge + "\r\n"), 1,
              "huge Content-Length"};
    case 11:
      return {head("POST", "/api/v1/caption", png + "Transfer-Encoding: chunked\r\n") + "zz\r\n" +
                  bad + "\r\n0\r\n\r\n",
              1, "bad chunk size"};
    case 12:
      return {head("POST", "/api/v1/caption", png + "Transfer-Encoding: gzip\r\n"), 1,
              "unsupported Transfer-Encoding"};
    case 13:
      return {head("GET", "/" + bad, "", "", "HTTP/1.0"), 1, "HTTP/1.0"};
    case 14:
      return {"GET /healthz HTTP/1.1\r\n\r\n", 1, "no Host"};
    default:
      return {head("GET", "/a" + bad, "") + head("POST", "/api/v1/caption?%ff", png, "xx"), 2,
              "pipelined"};
  }
}

// The reply is a 4xx whose body is valid UTF-8 JSON naming the same status.
std::string check_refusal(const Response& res) {
  if (res.result_int() < 400 || res.result_int() > 499)
    return "status " + std::to_string(res.result_int());
  if (res[http::field::content_type] != "application/json")
    return "content type " + std::string(res[http::field::content_type]);
  if (!core::is_valid_utf8(res.body()))
    return "body not UTF-8";
  const auto j = json::parse(res.body(), nullptr, false);
  if (j.is_discarded() || !j.contains("error") || j["error"]["code"] != res.result_int())
    return "not a JSON error: " + res.body().substr(0, 100);
  return "";
}

TEST_F(Loopback, TwoThousandMalformedRequestsAreEachA4xxJsonErrorAndServingGoesOn) {
  start();
  std::mt19937 rng(20261203);
  int replies = 0, healthy = 0;
  std::map<std::string, int> per_kind;
  for (int i = 0; i < 2000; ++i) {
    const auto m = make_malformed(rng, i);
    const auto got = exchange(port_, m.bytes, m.replies);
    ASSERT_EQ(static_cast<int>(got.size()), m.replies)
        << "request " << i << " (" << m.kind << ") was not answered: " << m.bytes.substr(0, 120);
    for (const auto& res : got) {
      const auto problem = check_refusal(res);
      ASSERT_EQ(problem, "") << "request " << i << " (" << m.kind << "): " << res.body();
      ++replies;
    }
    ++per_kind[m.kind];
    if (i % 100 == 99) {
      ASSERT_EQ(send(port_, get("/healthz")).result(), http::status::ok) << "after " << i + 1;
      ++healthy;
    }
  }
  EXPECT_EQ(replies, 2000 + 2000 / 16);
  EXPECT_EQ(healthy, 20);
  EXPECT_EQ(per_kind.size(), 16u);
  const auto res = send(port_, post_raw("/api/v1/caption", "image/png", scene(2)));
  EXPECT_EQ(body_json(res)["text"], "a small blue hexagon above a small green square");
}

TEST_F(Loopback, TheReproductionsOfTheCrashAreAnswered) {
  start();
  auto got = exchange(port_, "GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].result(), http::status::not_found);
  EXPECT_EQ(body_json(got[0])["error"]["message"].get<std::string>().substr(0, 13),
            "no route /\xef\xbf\xbd");
  auto res = send(port_, post_raw("/api/v1/ask?question=%ff", "image/png", scene(2)));
  EXPECT_EQ(res.result(), http::status::unprocessable_entity) << res.body();
  res = send(port_, post("/api/v1/caption", {{"image", scene(2), "s.png", "image/png"},
                                             {"beam", std::string(39, '1') + "\xc3\xa9"}}));
  EXPECT_EQ(res.result(), http::status::bad_request) << res.body();
  EXPECT_TRUE(core::is_valid_utf8(res.body()));
  EXPECT_EQ(send(port_, get("/healthz")).result(), http::status::ok);
}

TEST_F(Loopback, ConnectionsOverTheCapAreRefusedAtOnceWhileTheOthersAreServed) {
  ServerOptions so;
  so.max_connections = 5;
  start(so);
  net::io_context ioc;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 5; ++i)
    idle.push_back(connect_to(ioc, port_));
  while (server_->connections() < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto t0 = Clock::now();
  auto got = exchange(port_, "", 1);  // a sixth connection, which sends nothing
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].result(), http::status::service_unavailable);
  EXPECT_EQ(got[0][http::field::retry_after], "1");
  EXPECT_EQ(body_json(got[0])["error"]["message"],
            "the server has 5 connections open, its --max-connections limit; retry shortly");
  EXPECT_LT(seconds, 1.0);
  // One of the five asks and is answered.
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  net::write(idle[2], net::buffer(request));
  boost::beast::flat_buffer buffer;
  Response res;
  http::read(idle[2], buffer, res);
  EXPECT_EQ(res.result(), http::status::ok);
}

TEST_F(Loopback, TheReadTimeoutBoundsTheWholeRequestNotEachPart) {
  ServerOptions so;
  so.read_timeout_seconds = 2;
  start(so);
  net::io_context ioc;
  auto s = connect_to(ioc, port_);
  const auto t0 = Clock::now();
  // Headers over 1.5 s, then a body over 1.5 s: each part within the timeout, the whole not.
  const std::string headers =
      "POST /api/v1/caption HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
      "Content-Length: 6\r\n\r\n";
  boost::system::error_code ec;
  net::write(s, net::buffer(headers.substr(0, 10)), ec);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  net::write(s, net::buffer(headers.substr(10)), ec);
  for (int i = 0; i < 6 && !ec; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    net::write(s, net::buffer("x", 1), ec);
  }
  char byte = 0;
  s.read_some(net::buffer(&byte, 1), ec);  // the server closed it: end of file or reset
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_LT(seconds, 3.0);
  EXPECT_EQ(send(port_, get("/healthz")).result(), http::status::ok);
}

TEST_F(Loopback, StopAnswersRequestsHalfArrivedAndClosesIdleConnections) {
  start();
  const std::string image = scene(2);
  const std::string head_only =
      "POST /api/v1/caption HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "image/png\r\nContent-Length: " +
      std::to_string(image.size()) + "\r\n\r\n";
  net::io_context ioc;
  auto headers_in = connect_to(ioc, port_);  // its headers have arrived
  auto half_in = connect_to(ioc, port_);     // its headers and half its body have
  auto idle = connect_to(ioc, port_);        // nothing yet
  net::write(headers_in, net::buffer(head_only));
  net::write(half_in, net::buffer(head_only + image.substr(0, image.size() / 2)));
  while (server_->connections() < 3)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server_->stop();
  // The idle one is closed at once.
  boost::system::error_code ec;
  char byte = 0;
  idle.read_some(net::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  // The others finish sending and are answered.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  net::write(headers_in, net::buffer(image));
  net::write(half_in, net::buffer(image.substr(image.size() / 2)));
  for (auto* s : {&headers_in, &half_in}) {
    boost::beast::flat_buffer buffer;
    Response res;
    http::read(*s, buffer, res);
    EXPECT_EQ(res.result(), http::status::ok) << res.body();
    EXPECT_EQ(body_json(res)["text"], "a small blue hexagon above a small green square");
    EXPECT_FALSE(res.keep_alive());
  }
  thread_.join();  // run() returns once they are answered
  server_.reset();
}

TEST_F(Loopback, TheAccessLogHasOneLineARequestIncludingRefusals) {
  glimpse::testing::TempDir d;
  ServerOptions so;
  so.access_log = d.file("access.log");
  start(so);
  EXPECT_EQ(send(port_, get("/healthz")).result(), http::status::ok);
  exchange(port_, "GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  exchange(port_, "NOT HTTP\r\n\r\n", 1);
  server_->stop();
  thread_.join();
  server_.reset();
  const auto lines = glimpse::testing::lines(glimpse::testing::read_bytes(d.file("access.log")));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find(" 127.0.0.1 \"GET /healthz HTTP/1.1\" 200 "), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(" 127.0.0.1 \"GET /\xEF\xBF\xBD HTTP/1.1\" 404 "), std::string::npos)
      << lines[1];
  EXPECT_NE(lines[2].find(" 127.0.0.1 \"- - HTTP/1.1\" 400 "), std::string::npos) << lines[2];
}

TEST_F(Loopback, AnAccessLogThatCannotBeOpenedIsAnError) {
  start();
  ServerOptions so;
  so.port = 0;
  so.access_log = "/no/such/folder/access.log";
  Server other(*app_, so);
  const auto s = other.listen();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message,
            "cannot open the access log '/no/such/folder/access.log': No such file or directory");
}

}  // namespace
}  // namespace glimpse::web

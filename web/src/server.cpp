#include "glimpse/web/server.h"

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <array>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "glimpse/core/utf8.h"
#include "glimpse/web/access_log.h"
#include "glimpse/web/multipart.h"

namespace glimpse::web {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kLinger = std::chrono::seconds(2);  // reading what a client sends after a refusal
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
constexpr std::uint64_t kTrimAfter = 32ull << 20;
const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// The bytes of request bodies held at once across all connections, reserved from the headers
// before a body is read. When it empties after a burst, the allocator gives its pages back.
class BodyBudget {
 public:
  explicit BodyBudget(std::uint64_t limit) : limit_(limit) {}
  bool reserve(std::uint64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (n > limit_ - held_)
      return false;
    held_ += n;
    peak_ = std::max(peak_, held_);
    return true;
  }
  void release(std::uint64_t n) {
    bool trim = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held_ -= n;
      trim = held_ == 0 && peak_ >= kTrimAfter;
      if (trim)
        peak_ = 0;
    }
#if defined(__GLIBC__)
    if (trim)
      malloc_trim(0);
#endif
  }
  std::uint64_t held() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_;
  }
  std::uint64_t limit() const {
    return limit_;
  }

 private:
  mutable std::mutex mutex_;
  std::uint64_t limit_, held_ = 0, peak_ = 0;
};

class Session;

struct Shared {
  Shared(App& a, const ServerOptions& o) : app(a), options(o), budget(o.max_inflight_bytes) {}
  App& app;
  ServerOptions options;
  BodyBudget budget;
  AccessLog log;
  std::atomic<int> in_flight{0};
  std::atomic<int> connections{0};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> sessions;
};

std::string_view view(beast::string_view s) {
  return {s.data(), s.size()};
}

// One connection: requests read one after another (pipelined bytes wait in buffer_), each
// answered before the next is read.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {
    ++shared_.connections;
    beast::error_code ec;
    remote_ = stream_.socket().remote_endpoint(ec).address().to_string(ec);
  }
  ~Session() { --shared_.connections; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this()] { self->wait_for_request(true); });
  }

  // Over max_connections: a 503 at once, then the connection closes.
  void refuse_busy() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->started_ = Clock::now();
      auto res = App::error_response(
          http::status::service_unavailable,
          fmt::format("the server has {} connections open, its --max-connections limit; retry "
                      "shortly",
                      self->shared_.options.max_connections));
      res.set(http::field::retry_after,
              std::to_string(self->shared_.app.options().retry_after_seconds));
      self->respond_and_close(std::move(res), "connections");
    });
  }

  // From stop(): a connection with no request under way closes now; one whose request has
  // begun to arrive is read, answered, then closed.
  void close_if_idle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      if (!self->receiving_ && self->stream_.socket().available(ec) == 0)
        self->do_close();
    });
  }

 private:
  void wait_for_request(bool first) {
    receiving_ = false;
    if (shared_.stopping)
      return do_close();
    if (buffer_.size() > 0)  // pipelined: the next request has begun already
      return begin_request();
    const auto& o = shared_.options;
    stream_.expires_after(
        std::chrono::seconds(first ? o.read_timeout_seconds : o.idle_timeout_seconds));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec)
                                return self->do_close();  // no request came: nothing to answer
                              self->buffer_.commit(n);
                              self->begin_request();
                            });
  }

  void begin_request() {
    receiving_ = true;
    started_ = Clock::now();
    method_ = target_ = "-";
    parser_.emplace();
    const auto& limits = shared_.app.options().limits;
    parser_->header_limit(limits.max_header_bytes);
    parser_->body_limit(limits.max_body_bytes);
    // The whole request, headers and body, from its first byte.
    stream_.expires_after(std::chrono::seconds(shared_.options.read_timeout_seconds));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec)
      return on_error(ec);
    const auto& req = parser_->get();
    method_ = std::string(view(req.method_string()));
    target_ = std::string(view(req.target()));
    version_ = req.version();
    if (auto refusal = check_header())
      return respond_and_close(std::move(*refusal), "unread");
    if (ascii_lower(view(req[http::field::expect])) != "100-continue")
      return read_body();
    net::async_write(stream_, net::buffer(kContinue),
                     [self = shared_from_this()](beast::error_code e, std::size_t) {
                       if (e)
                         return self->do_close();
                       self->read_body();
                     });
  }

  // What the headers alone decide: a refusal, or nothing (then the body's bytes are reserved).
  std::optional<Response> check_header() {
    const auto& req = parser_->get();
    if (req.version() >= 11 && req.find(http::field::host) == req.end())
      return App::error_response(http::status::bad_request,
                                 "an HTTP/1.1 request needs a Host header");
    const auto te = req.find(http::field::transfer_encoding);
    if (te != req.end() && ascii_lower(view(te->value())) != "chunked")
      return App::error_response(
          http::status::bad_request,
          "Transfer-Encoding '" + core::utf8_prefix(view(te->value()), 40) +
              "' is not supported: send the body with Content-Length or chunked");
    const auto& limits = shared_.app.options().limits;
    const std::uint64_t body =
        parser_->chunked() ? limits.max_body_bytes : parser_->content_length().value_or(0);
    if (!shared_.budget.reserve(body)) {
      auto res = App::error_response(
          http::status::service_unavailable,
          fmt::format("the server holds {} MB of request bodies, near its --max-inflight-mb "
                      "limit of {} MB; retry shortly",
                      shared_.budget.held() >> 20, shared_.budget.limit() >> 20));
      res.set(http::field::retry_after, std::to_string(shared_.app.options().retry_after_seconds));
      return res;
    }
    reserved_ = body;
    return std::nullopt;
  }

  void read_body() {
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec)
      return on_error(ec);
    ++shared_.in_flight;
    stream_.expires_never();  // inference may take a while; the write has its own timeout
    shared_.app.handle_request(parser_->release(), [self = shared_from_this()](Response res) {
      net::post(self->stream_.get_executor(),
                [self, res = std::move(res)]() mutable { self->write(std::move(res), false); });
    });
  }

  void on_error(beast::error_code ec) {
    if (!stream_.socket().is_open() || ec == http::error::end_of_stream ||
        ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof)
      return do_close();
    // A request we cannot read whole: say why, then close the connection.
    const auto& limits = shared_.app.options().limits;
    if (ec == http::error::body_limit)
      return respond_and_close(
          App::error_response(
              http::status::payload_too_large,
              fmt::format("the body is over the limit of {} bytes", limits.max_body_bytes)),
          "unread");
    if (ec == http::error::header_limit)
      return respond_and_close(
          App::error_response(http::status::request_header_fields_too_large,
                              fmt::format("the request's headers are over the limit of {} bytes",
                                          limits.max_header_bytes)),
          "unread");
    respond_and_close(
        App::error_response(http::status::bad_request, "malformed HTTP request: " + ec.message()),
        "unread");
  }

  void respond_and_close(Response res, const std::string& route) {
    shared_.app.metrics().record(route, res.result_int(), 0.0);
    ++shared_.in_flight;
    write(std::move(res), true);
  }

  void write(Response res, bool close_after) {
    res_ = std::make_shared<Response>(std::move(res));
    if (close_after || shared_.stopping)
      res_->keep_alive(false);
    stream_.expires_after(std::chrono::seconds(shared_.options.read_timeout_seconds));
    http::async_write(
        stream_, *res_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_written(ec); });
  }

  void on_written(beast::error_code ec) {
    --shared_.in_flight;
    log(res_->result_int(), res_->body().size());
    shared_.budget.release(reserved_);
    reserved_ = 0;
    const bool keep = res_->keep_alive();
    res_.reset();
    receiving_ = false;
    if (ec)
      return do_close();
    if (!keep)
      return linger();
    wait_for_request(false);
  }

  void log(int status, std::uint64_t bytes) {
    if (!shared_.log.enabled())
      return;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    shared_.log.write({remote_, method_, target_, version_, status, bytes, ms});
  }

  // Closing with unread bytes would reset the connection and could destroy the reply before the
  // client reads it: stop sending, read and drop what still comes for a moment, then close.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kLinger);
    discard();
  }

  void discard() {
    stream_.async_read_some(net::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec)
                                return self->do_close();
                              self->discard();
                            });
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> res_;
  Shared& shared_;
  std::string remote_;
  bool receiving_ = false;  // from a request's first byte until its response is written
  std::uint64_t reserved_ = 0;
  Clock::time_point started_ = Clock::now();
  std::string method_ = "-", target_ = "-";
  unsigned version_ = 11;
  std::array<char, 4096> discard_{};
};

bool out_of_descriptors(const beast::error_code& ec) {
  namespace errc = boost::system::errc;
  return ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system ||
         ec == errc::no_buffer_space || ec == errc::not_enough_memory;
}

}  // namespace

struct Server::Impl {
  explicit Impl(App& app, const ServerOptions& o)
      : shared(app, o),
        ioc(std::max(1, o.io_threads)),
        acceptor(net::make_strand(ioc)),
        backoff(acceptor.get_executor()) {}
  Shared shared;
  net::io_context ioc;
  // Keeps run() going while a request waits for the model (no socket operation is pending then);
  // only stop() ends it.
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  tcp::acceptor acceptor;
  net::steady_timer backoff;  // out of descriptors: when to try accepting again
  Clock::time_point last_warning{};
  std::once_flag stop_once;
  // stop() starts it; run() or the destructor joins it. The mutex makes the hand-over safe: the
  // drainer may end run() before stop() has finished storing it.
  std::mutex drainer_mutex;
  std::thread drainer;

  ~Impl() { join_drainer(); }

  void join_drainer() {
    std::thread d;
    {
      std::lock_guard<std::mutex> lock(drainer_mutex);
      d = std::move(drainer);
    }
    if (d.joinable())
      d.join();
  }

  void do_accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      on_accept(ec, std::move(s));
    });
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open() || ec == net::error::operation_aborted)
      return;  // stopping
    if (ec) {
      if (out_of_descriptors(ec))
        return pause_accepting(ec);
      return do_accept();  // that connection failed; the next may not
    }
    auto session = std::make_shared<Session>(std::move(socket), shared);
    remember(session);
    if (shared.connections > shared.options.max_connections)
      session->refuse_busy();
    else
      session->start();
    do_accept();
  }

  // The connections waiting in the listen queue stay there until descriptors free up.
  void pause_accepting(const beast::error_code& ec) {
    const auto now = Clock::now();
    if (now - last_warning > std::chrono::seconds(10)) {
      last_warning = now;
      std::fprintf(stderr,
                   "glimpse: cannot accept a connection (%s): %d open; retrying every %d ms. "
                   "Raise 'ulimit -n' or lower --max-connections\n",
                   ec.message().c_str(), shared.connections.load(),
                   static_cast<int>(kAcceptBackoff.count()));
    }
    backoff.expires_after(kAcceptBackoff);
    backoff.async_wait([this](beast::error_code e) {
      if (!e && acceptor.is_open())
        do_accept();
    });
  }

  void remember(const std::shared_ptr<Session>& session) {
    std::lock_guard<std::mutex> lock(shared.mutex);
    for (auto it = shared.sessions.begin(); it != shared.sessions.end();)
      it = it->expired() ? shared.sessions.erase(it) : std::next(it);
    shared.sessions.insert(session);
  }

  void stop() {
    std::call_once(stop_once, [this] {
      shared.stopping = true;
      net::post(acceptor.get_executor(), [this] {
        beast::error_code ec;
        acceptor.close(ec);
        backoff.cancel();
      });
      {
        std::lock_guard<std::mutex> lock(shared.mutex);
        for (const auto& w : shared.sessions)
          if (auto s = w.lock())
            s->close_if_idle();
      }
      // Every request that has begun to arrive is read, answered and closed; then run() returns.
      std::lock_guard<std::mutex> drainer_lock(drainer_mutex);
      drainer = std::thread([this] {
        const auto deadline = Clock::now() + std::chrono::seconds(shared.options.drain_seconds);
        while (shared.connections > 0 && Clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ioc.stop();
      });
    });
  }

  // An I/O thread: a handler that throws is reported and the thread goes on serving.
  void serve() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "glimpse: a connection handler failed: %s; serving on\n", e.what());
      }
    }
  }
};

Server::Server(App& app, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(app, options)) {}
Server::~Server() = default;

Status Server::listen() {
  const auto& o = impl_->shared.options;
  beast::error_code ec;
  const auto address = net::ip::make_address(o.address, ec);
  if (ec)
    return Status::failure(ErrorCode::kInvalidArgument, "'" + o.address + "' is not an IP address");
  if (auto s = impl_->shared.log.open(o.access_log); !s)
    return s;
  const tcp::endpoint endpoint{address, o.port};
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec)
    a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    a.bind(endpoint, ec);
  if (!ec)
    a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::failure(ErrorCode::kIo, "cannot listen on " + o.address + ":" +
                                               std::to_string(o.port) + ": " + ec.message());
  return {};
}

unsigned short Server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

int Server::in_flight() const {
  return impl_->shared.in_flight;
}

int Server::connections() const {
  return impl_->shared.connections;
}

void Server::run() {
  std::optional<net::signal_set> signals;
  if (catch_signals_) {
    signals.emplace(impl_->ioc, SIGINT, SIGTERM);
    signals->async_wait([this](beast::error_code ec, int) {
      if (!ec)
        stop();
    });
  }
  net::post(impl_->acceptor.get_executor(), [this] { impl_->do_accept(); });
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->shared.options.io_threads; ++i)
    threads.emplace_back([this] { impl_->serve(); });
  impl_->serve();
  for (auto& t : threads)
    t.join();
  impl_->join_drainer();
}

void Server::stop() {
  impl_->stop();
}

}  // namespace glimpse::web

#include "glimpse/web/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace glimpse::web {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

class Session;

struct Shared {
  Shared(App& a, const ServerOptions& o) : app(a), options(o) {}
  App& app;
  ServerOptions options;
  std::atomic<int> in_flight{0};
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> sessions;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) {}

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(true); });
  }

  // From stop(): a connection waiting for its next request closes now.
  void close_if_idle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_)
        self->do_close();
    });
  }

 private:
  void do_read(bool first) {
    if (shared_.stopping) {
      do_close();
      return;
    }
    parser_.emplace();
    const auto& limits = shared_.app.options().limits;
    parser_->header_limit(limits.max_header_bytes);
    parser_->body_limit(limits.max_body_bytes);
    const int wait =
        first ? shared_.options.read_timeout_seconds : shared_.options.idle_timeout_seconds;
    stream_.expires_after(std::chrono::seconds(wait));
    busy_ = false;
    // Once the first byte is in, the whole request must arrive within the read timeout.
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec)
      return on_error(ec);
    busy_ = true;
    stream_.expires_after(std::chrono::seconds(shared_.options.read_timeout_seconds));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
  }

  void on_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof) {
      do_close();
      return;
    }
    busy_ = true;
    // A request we cannot read whole: say why, then close the connection.
    Response res;
    if (ec == http::error::body_limit)
      res = App::error_response(http::status::payload_too_large,
                                "the body is over the limit of " +
                                    std::to_string(shared_.app.options().limits.max_body_bytes) +
                                    " bytes");
    else if (ec == http::error::header_limit)
      res = App::error_response(http::status::request_header_fields_too_large,
                                "the request's headers are over the limit of " +
                                    std::to_string(shared_.app.options().limits.max_header_bytes) +
                                    " bytes");
    else
      res =
          App::error_response(http::status::bad_request, "malformed HTTP request: " + ec.message());
    shared_.app.metrics().record("unread", res.result_int(), 0.0);
    ++shared_.in_flight;
    write(std::move(res), true);
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

  void write(Response res, bool close_after) {
    res_ = std::make_shared<Response>(std::move(res));
    if (close_after || shared_.stopping)
      res_->keep_alive(false);
    stream_.expires_after(std::chrono::seconds(shared_.options.read_timeout_seconds));
    http::async_write(stream_, *res_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        --self->shared_.in_flight;
                        const bool keep = self->res_->keep_alive();
                        self->res_.reset();
                        if (ec || !keep)
                          return self->do_close();
                        self->do_read(false);
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
  bool busy_ = false;
};

}  // namespace

struct Server::Impl {
  explicit Impl(App& app, const ServerOptions& o)
      : shared(app, o), ioc(std::max(1, o.io_threads)), acceptor(net::make_strand(ioc)) {}
  Shared shared;
  net::io_context ioc;
  // Keeps run() going while a request waits for the model (no socket operation is pending then);
  // only stop() ends it.
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  tcp::acceptor acceptor;
  std::once_flag stop_once;

  void do_accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec)
        return;  // the acceptor was closed: stopping
      auto session = std::make_shared<Session>(std::move(s), shared);
      {
        std::lock_guard<std::mutex> lock(shared.mutex);
        for (auto it = shared.sessions.begin(); it != shared.sessions.end();)
          it = it->expired() ? shared.sessions.erase(it) : std::next(it);
        shared.sessions.insert(session);
      }
      session->start();
      do_accept();
    });
  }

  void stop() {
    std::call_once(stop_once, [this] {
      shared.stopping = true;
      net::post(acceptor.get_executor(), [this] {
        beast::error_code ec;
        acceptor.close(ec);
      });
      std::lock_guard<std::mutex> lock(shared.mutex);
      for (const auto& w : shared.sessions)
        if (auto s = w.lock())
          s->close_if_idle();
      // Requests in flight finish; then the context stops.
      std::thread([this] {
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(shared.options.drain_seconds);
        while (shared.in_flight > 0 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ioc.stop();
      }).detach();
    });
  }
};

Server::Server(App& app, const ServerOptions& options)
    : impl_(std::make_unique<Impl>(app, options)) {}
Server::~Server() = default;

Status Server::listen() {
  beast::error_code ec;
  const auto address = net::ip::make_address(impl_->shared.options.address, ec);
  if (ec)
    return Status::failure(ErrorCode::kInvalidArgument,
                           "'" + impl_->shared.options.address + "' is not an IP address");
  const tcp::endpoint endpoint{address, impl_->shared.options.port};
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec)
    a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    a.bind(endpoint, ec);
  if (!ec)
    a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::failure(ErrorCode::kIo, "cannot listen on " + impl_->shared.options.address +
                                               ":" + std::to_string(impl_->shared.options.port) +
                                               ": " + ec.message());
  return {};
}

unsigned short Server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

int Server::in_flight() const {
  return impl_->shared.in_flight;
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
  impl_->do_accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->shared.options.io_threads; ++i)
    threads.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : threads)
    t.join();
}

void Server::stop() {
  impl_->stop();
}

}  // namespace glimpse::web

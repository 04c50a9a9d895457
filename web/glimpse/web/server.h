// The HTTP server around an App: Boost.Beast, one strand per connection, a timeout on every
// read (a client that sends slowly is dropped), a fresh parser per request with the header and
// body limits. stop() stops accepting, lets requests in flight finish, then returns from run().
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "glimpse/core/error.h"
#include "glimpse/web/app.h"

namespace glimpse::web {

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8080;  // 0: any free port (see port())
  int io_threads = 2;
  int read_timeout_seconds = 15;  // to read one whole request
  int idle_timeout_seconds = 30;  // between requests on a kept-alive connection
  int drain_seconds = 30;         // stop(): longest wait for requests in flight
};

class Server {
 public:
  Server(App& app, const ServerOptions& options);
  ~Server();
  Status listen();  // binds; afterwards port() is the real port
  unsigned short port() const;
  void run();   // serves until stop(), SIGINT or SIGTERM (when catch_signals)
  void stop();  // thread-safe
  void catch_signals(bool on) { catch_signals_ = on; }
  int in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool catch_signals_ = false;
};

}  // namespace glimpse::web

// The HTTP server around an App: Boost.Beast, one strand per connection, a fresh parser per
// request with the header and body limits.
//
// What no client can do to it: crash it (no exception leaves a handler or an I/O thread; App and
// Batcher keep theirs), hold it open (a request must arrive whole within the read timeout,
// counted from its first byte), exhaust it for good (running out of descriptors pauses accepting
// and retries; connections over max_connections are answered 503 at once), or make it hold more
// request bodies than max_inflight_bytes at once (503 with Retry-After). stop() stops accepting,
// closes idle connections, lets every request that has begun to arrive finish and be answered,
// then returns from run().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "glimpse/core/error.h"
#include "glimpse/web/app.h"

namespace glimpse::web {

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8080;  // 0: any free port (see port())
  int io_threads = 2;
  int read_timeout_seconds = 15;  // to read one whole request, from its first byte
  int idle_timeout_seconds = 30;  // for the first byte of a request
  int drain_seconds = 30;         // stop(): longest wait for requests in progress
  int max_connections = 512;      // open at once; more are answered 503 and closed
  std::uint64_t max_inflight_bytes = 256ull << 20;  // request bodies held at once, all connections
  std::string access_log;  // a file to append one line a request to; "-": stdout; "": none
};

class Server {
 public:
  Server(App& app, const ServerOptions& options);
  ~Server();
  Status listen();  // binds, opens the access log; afterwards port() is the real port
  unsigned short port() const;
  void run();   // serves until stop(), SIGINT or SIGTERM (when catch_signals)
  void stop();  // thread-safe
  void catch_signals(bool on) { catch_signals_ = on; }
  int in_flight() const;    // requests being answered
  int connections() const;  // connections open

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool catch_signals_ = false;
};

}  // namespace glimpse::web

// glimpse serve: the web page and the JSON API (web/), with the models of models/ or --model.
#include <fmt/format.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <filesystem>
#include <iostream>

#include "common.h"
#include "glimpse/fusion/service.h"
#include "glimpse/web/app.h"
#include "glimpse/web/batcher.h"
#include "glimpse/web/server.h"

namespace glimpse::app {

namespace {

struct ServeOptions {
  web::ServerOptions server;
  web::AppOptions app;
  web::BatcherOptions batch;
  std::vector<std::string> models;  // names or paths; empty: every model in models/
  bool no_batching = false;
  int cache_mb = 256;
  int inflight_mb = 256;
  std::string examples;
};

// A server holds request bodies of up to --max-body-bytes for a moment each. With glibc's
// defaults the mmap threshold rises to the largest block freed, after which such bodies are cut
// from the I/O threads' own arenas, whose 64 MB heaps malloc_trim() does not shrink: after a burst
// of 15 MB bodies the process stayed hundreds of MB larger. One arena, whose top is trimmed, and
// fixed thresholds (large blocks in mappings of their own, returned when freed) give it back.
void tune_allocator_for_serving() {
#if defined(__GLIBC__)
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
#endif
}

}  // namespace

void add_serve_command(CLI::App& app, CommonOptions& /*common*/, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve the page and the JSON API: caption images, answer questions, show attention");
  cmd->add_option("--address", o->server.address, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->server.port, "Port (0: any free port, printed at start)")
      ->capture_default_str();
  cmd->add_option("--model", o->models,
                  "Model to serve, by name (in models/) or path; repeat for several. Default: "
                  "every model in models/");
  cmd->add_option("--default-model", o->app.default_model,
                  "Model used when a request names none (default: shapes if served, else the "
                  "first)");
  cmd->add_option("--examples", o->examples, "Folder of example images the page offers")
      ->capture_default_str();
  cmd->add_option("--io-threads", o->server.io_threads, "Threads for network I/O")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--max-batch", o->batch.max_batch, "Most requests run through the model at once")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--batch-wait-ms", o->batch.max_wait_ms,
                  "Longest wait for more requests to batch with the first")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_flag("--no-batching", o->no_batching, "Run each request alone (same as --max-batch 1)");
  cmd->add_option("--queue", o->batch.capacity, "Requests that may wait; more are answered 503")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--cache-mb", o->cache_mb, "Encoder features cached by image hash, in MB")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  auto& L = o->app.limits;
  cmd->add_option("--max-body-bytes", L.max_body_bytes, "Largest request body")
      ->check(CLI::Range(1024ull, 1ull << 32))
      ->capture_default_str();
  cmd->add_option("--max-header-bytes", L.max_header_bytes, "Largest request head")
      ->check(CLI::Range(1024u, 1u << 20))
      ->capture_default_str();
  cmd->add_option("--max-pixels", L.max_pixels, "Largest image, width x height")
      ->check(CLI::Range(1ull, 1ull << 32))
      ->capture_default_str();
  cmd->add_option("--max-question-chars", L.max_question_chars, "Longest question")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--max-beam", L.max_beam, "Widest beam a request may ask for")
      ->check(CLI::Range(1, 50))
      ->capture_default_str();
  cmd->add_option("--max-len", L.max_len, "Most words a request may ask for")
      ->check(CLI::Range(1, 200))
      ->capture_default_str();
  cmd->add_option("--read-timeout", o->server.read_timeout_seconds,
                  "Seconds to read one whole request, from its first byte; slower clients are "
                  "dropped")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--max-connections", o->server.max_connections,
                  "Connections open at once; more are answered 503 and closed")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--max-inflight-mb", o->inflight_mb,
                  "Request bodies held at once across all connections, in MB; a request that "
                  "would pass it is answered 503 with Retry-After")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--access-log", o->server.access_log,
                  "Append one line a request to this file ('-': standard output)");
  cmd->callback([o, &action] {
    action = [o]() -> int {
      tune_allocator_for_serving();
      std::vector<std::pair<std::string, std::string>> models;
      auto names = o->models.empty() ? model_names() : o->models;
      if (names.empty())
        return report_error("no models to serve: " + models_dir() +
                            " holds none; give --model NAME_OR_PATH");
      for (const auto& n : names) {
        auto path = resolve_model(n);
        if (!path)
          return report_error(path.error().message);
        models.emplace_back(std::filesystem::path(path.value()).stem().string(), path.value());
      }
      fusion::ServiceOptions so;
      so.cache_bytes = static_cast<std::uint64_t>(o->cache_mb) << 20;
      auto service = fusion::Service::open(models, so);
      if (!service)
        return report_error(service.error().message);
      auto app_options = o->app;
      if (app_options.default_model.empty()) {
        app_options.default_model = models.front().first;
        for (const auto& [name, path] : models)
          if (name ==
              kDefaultQuestionModel)  // it captions and answers; the examples are its scenes
            app_options.default_model = name;
      } else if (!service.value()->has_model(app_options.default_model)) {
        return report_error("--default-model '" + app_options.default_model +
                            "' is not among the served models");
      }
      app_options.examples_dir = o->examples.empty() ? models_dir() + "/examples" : o->examples;
      auto batch = o->batch;
      if (o->no_batching) {
        batch.max_batch = 1;
        batch.max_wait_ms = 0;
      }
      web::Metrics metrics;
      auto server_options = o->server;
      server_options.max_inflight_bytes = static_cast<std::uint64_t>(o->inflight_mb) << 20;
      web::Batcher batcher(*service.value(), metrics, batch);
      web::App web_app(*service.value(), batcher, metrics, app_options);
      web::Server server(web_app, server_options);
      if (auto s = server.listen(); !s)
        return report_error(s.error().message);
      std::cout << fmt::format("glimpse: serving {} model(s) on http://{}:{}/ (Ctrl-C stops)",
                               models.size(), o->server.address, server.port())
                << std::endl;
      server.catch_signals(true);
      server.run();
      std::cout << "glimpse: stopped" << std::endl;
      return 0;
    };
  });
}

}  // namespace glimpse::app

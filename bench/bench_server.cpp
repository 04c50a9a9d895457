// POST /api/v1/caption against glimpse serve, with batching on and off side by side in one run:
// requests per second and p50 / p99 latency at concurrency 1, 8 and 32 (medians over rounds),
// and each server's peak memory (VmHWM of its process).
//
//   build/bench/bench_server [--glimpse build/apps/glimpse] [--seconds 4] [--rounds 3]
//                            [--server-threads 2]
//
// Every request sends a different image (the scenes with one pixel changed), so the feature
// cache never answers: this measures encoding and decoding, not cache hits.
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "glimpse/vision/image_decode.h"

extern char** environ;

namespace {

namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct ServerProcess {
  pid_t pid = -1;
  unsigned short port = 0;
};

ServerProcess start_server(const std::string& glimpse, const std::vector<std::string>& extra,
                           int threads) {
  int out[2];
  if (pipe(out) != 0)
    throw std::runtime_error("pipe failed");
  std::vector<std::string> args = {
      glimpse, "--threads", std::to_string(threads), "serve", "--port", "0", "--queue", "1024"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  ServerProcess p;
  if (posix_spawn(&p.pid, glimpse.c_str(), &fa, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot start " + glimpse);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  std::string line;
  char c = 0;
  while (read(out[0], &c, 1) == 1 && c != '\n')
    line += c;
  close(out[0]);
  const auto at = line.find("127.0.0.1:");
  if (at == std::string::npos)
    throw std::runtime_error("glimpse serve did not start: '" + line + "'");
  p.port = static_cast<unsigned short>(std::stoi(line.substr(at + 10)));
  return p;
}

double peak_mb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

void stop_server(const ServerProcess& p) {
  kill(p.pid, SIGTERM);
  int status = 0;
  waitpid(p.pid, &status, 0);
}

struct Cell {
  double rps = 0, p50_ms = 0, p99_ms = 0;
  int errors = 0;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

// `concurrency` clients, each on its own kept-alive connection, for `seconds`.
Cell load(unsigned short port, int concurrency, double seconds,
          const std::vector<std::string>& images, std::atomic<size_t>& next_image) {
  std::vector<std::vector<double>> lat(static_cast<size_t>(concurrency));
  std::atomic<int> errors{0};
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  std::vector<std::thread> clients;
  for (int c = 0; c < concurrency; ++c)
    clients.emplace_back([&, c] {
      net::io_context ioc;
      boost::beast::tcp_stream stream(ioc);
      stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
      boost::beast::flat_buffer buffer;
      while (Clock::now() < end) {
        http::request<http::string_body> req{http::verb::post, "/api/v1/caption?beam=1", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "image/png");
        req.body() = images[next_image++ % images.size()];
        req.prepare_payload();
        const auto s = Clock::now();
        http::write(stream, req);
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        if (res.result() != http::status::ok)
          ++errors;
        lat[static_cast<size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      }
    });
  for (auto& t : clients)
    t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (const auto& l : lat)
    all.insert(all.end(), l.begin(), l.end());
  return {static_cast<double>(all.size()) / elapsed, percentile(all, 0.5), percentile(all, 0.99),
          errors.load()};
}

}  // namespace

int main(int argc, char** argv) {
  std::string glimpse = "build/apps/glimpse";
  double seconds = 4;
  int rounds = 3, server_threads = 2;
  std::string examples = std::string(GLIMPSE_SOURCE_DIR) + "/models/examples/";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--glimpse")
      glimpse = argv[i + 1];
    else if (a == "--seconds")
      seconds = std::stod(argv[i + 1]);
    else if (a == "--rounds")
      rounds = std::stoi(argv[i + 1]);
    else if (a == "--server-threads")
      server_threads = std::stoi(argv[i + 1]);
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  // 4000 distinct images: the four example scenes, each with one pixel set to a counter.
  std::vector<std::string> images;
  for (int n = 1; n <= 4; ++n) {
    auto rgb = glimpse::vision::load_image(examples + "scene_" + std::to_string(n) + ".png").take();
    for (int k = 0; k < 1000; ++k) {
      cv::Mat m = rgb.clone();
      m.at<cv::Vec3b>(0, 0) = cv::Vec3b(static_cast<uchar>(k & 255), static_cast<uchar>(k >> 8), 7);
      images.push_back(glimpse::vision::encode_png(m).take());
    }
  }
  std::atomic<size_t> next_image{0};
  const std::vector<int> levels = {1, 8, 32};
  struct Mode {
    std::string name;
    std::vector<std::string> flags;
    std::vector<std::vector<Cell>> cells;  // [level][round]
    std::vector<double> peak;
  };
  std::vector<Mode> modes = {
      {"batching on (max 16, 5 ms)", {"--max-batch", "16", "--batch-wait-ms", "5"}, {}, {}},
      {"batching off", {"--no-batching"}, {}, {}}};
  for (auto& m : modes)
    m.cells.resize(levels.size());
  for (int r = 0; r < rounds; ++r)
    for (auto& m : modes) {  // on and off alternate within each round
      auto server = start_server(glimpse, m.flags, server_threads);
      load(server.port, 4, 1.0, images, next_image);  // warm-up
      for (size_t l = 0; l < levels.size(); ++l)
        m.cells[l].push_back(load(server.port, levels[l], seconds, images, next_image));
      m.peak.push_back(peak_mb(server.pid));
      stop_server(server);
    }
  std::cout << fmt::format(
      "POST /api/v1/caption (shapes model, beam 1, 128 px scenes, every image new), "
      "server --threads {}, {} s per cell, medians of {} rounds\n\n",
      server_threads, seconds, rounds);
  std::cout << "| server | concurrency | requests/s | p50 ms | p99 ms | errors |\n"
               "|---|---|---|---|---|---|\n";
  for (const auto& m : modes)
    for (size_t l = 0; l < levels.size(); ++l) {
      std::vector<double> rps, p50, p99;
      int errors = 0;
      for (const auto& c : m.cells[l]) {
        rps.push_back(c.rps);
        p50.push_back(c.p50_ms);
        p99.push_back(c.p99_ms);
        errors += c.errors;
      }
      std::cout << fmt::format("| {} | {} | {:.0f} | {:.1f} | {:.1f} | {} |\n", m.name, levels[l],
                               glimpse::bench::median(rps), glimpse::bench::median(p50),
                               glimpse::bench::median(p99), errors);
    }
  std::cout << "\n";
  for (const auto& m : modes)
    std::cout << fmt::format("peak memory of the server, {}: {:.0f} MB (median of {} runs)\n",
                             m.name, glimpse::bench::median(m.peak), m.peak.size());
  // Ratios side by side.
  for (size_t l = 0; l < levels.size(); ++l) {
    std::vector<double> on, off;
    for (const auto& c : modes[0].cells[l])
      on.push_back(c.rps);
    for (const auto& c : modes[1].cells[l])
      off.push_back(c.rps);
    std::cout << fmt::format("batching on / off at concurrency {}: {:.2f}x requests/s\n", levels[l],
                             glimpse::bench::median(on) / glimpse::bench::median(off));
  }
  return 0;
}

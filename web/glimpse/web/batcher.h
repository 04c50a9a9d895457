// A bounded queue of inference jobs and one worker that runs them through the model in batches:
// it takes up to max_batch jobs, waiting at most max_wait_ms after the first for more to come.
// The I/O threads never run the model; a full queue refuses at once. No exception leaves the
// worker: a model that throws fails its batch's requests, a callback that throws is logged.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "glimpse/fusion/service.h"
#include "glimpse/web/metrics.h"

namespace glimpse::web {

struct BatcherOptions {
  int max_batch = 16;
  int max_wait_ms = 5;  // 0 with max_batch 1: no batching
  int capacity = 64;    // jobs waiting; one more is refused
};

struct Job {
  fusion::ServiceRequest request;
  std::function<void(Result<fusion::ServiceResult>)> done;  // called on the worker thread
};

class Batcher {
 public:
  Batcher(fusion::Service& service, Metrics& metrics, const BatcherOptions& options);
  ~Batcher();  // finishes every queued job, then stops
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  bool submit(Job job);  // false: the queue is full (the job is not run)
  std::size_t depth() const;
  const BatcherOptions& options() const { return options_; }

 private:
  void work();
  // Neither lets an exception out: the worker thread runs until the batcher is destroyed.
  std::vector<Result<fusion::ServiceResult>> run_batch(
      const std::vector<fusion::ServiceRequest>& requests);
  static void deliver(Job& job, Result<fusion::ServiceResult> result);
  fusion::Service& service_;
  Metrics& metrics_;
  BatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace glimpse::web

#include "glimpse/web/batcher.h"

#include <chrono>
#include <cstdio>

namespace glimpse::web {

Batcher::Batcher(fusion::Service& service, Metrics& metrics, const BatcherOptions& options)
    : service_(service), metrics_(metrics), options_(options) {
  if (options_.max_batch < 1)
    options_.max_batch = 1;
  worker_ = std::thread([this] { work(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

bool Batcher::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || static_cast<int>(queue_.size()) >= options_.capacity)
      return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

std::size_t Batcher::depth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void Batcher::work() {
  for (;;) {
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return;  // stopping, nothing left
      // Wait a little for company, unless the batch is already full or we are stopping.
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.max_wait_ms);
      wake_.wait_until(lock, deadline, [&] {
        return stopping_ || static_cast<int>(queue_.size()) >= options_.max_batch;
      });
      while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<fusion::ServiceRequest> requests;
    requests.reserve(batch.size());
    for (auto& j : batch)
      requests.push_back(std::move(j.request));
    metrics_.record_batch(batch.size());
    auto results = run_batch(requests);
    for (size_t i = 0; i < batch.size(); ++i)
      deliver(batch[i], std::move(results[i]));
  }
}

std::vector<Result<fusion::ServiceResult>> Batcher::run_batch(
    const std::vector<fusion::ServiceRequest>& requests) {
  try {
    return service_.run(requests);
  } catch (...) {
    const auto e = error_from_current_exception();
    return std::vector<Result<fusion::ServiceResult>>(
        requests.size(),
        ErrorInfo{ErrorCode::kInternal, "internal error while running the model: " + e.message});
  }
}

void Batcher::deliver(Job& job, Result<fusion::ServiceResult> result) {
  try {
    job.done(std::move(result));
  } catch (const std::exception& e) {
    // The worker must outlive a broken callback; the request it served is the callback's to answer.
    std::fprintf(stderr, "glimpse: an inference callback threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "glimpse: an inference callback threw\n");
  }
}

}  // namespace glimpse::web

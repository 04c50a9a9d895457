#include "glimpse/core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace glimpse::core {
namespace {

TEST(RunParallel, RunsEveryTaskOnAThreadOfItsOwnWithOneLibTorchThread) {
  torch::set_num_threads(2);
  std::mutex m;
  std::vector<int> seen(3, 0), threads_seen(3, 0);
  std::set<std::thread::id> ids;
  run_parallel(3, [&](int k) {
    std::lock_guard<std::mutex> lock(m);
    ++seen[static_cast<size_t>(k)];
    threads_seen[static_cast<size_t>(k)] = torch::get_num_threads();
    ids.insert(std::this_thread::get_id());
  });
  EXPECT_EQ(seen, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(threads_seen, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
  EXPECT_EQ(torch::get_num_threads(), 2);  // the caller's count is back

  // One task runs on the calling thread, as it is.
  std::thread::id ran_on;
  int count = 0;
  run_parallel(1, [&](int) {
    ran_on = std::this_thread::get_id();
    count = torch::get_num_threads();
  });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(count, 2);
  torch::set_num_threads(1);
}

TEST(RunParallel, RethrowsTheLowestFailingTasksErrorAfterAllHaveEnded) {
  std::atomic<int> ended{0};
  try {
    run_parallel(4, [&](int k) {
      ++ended;
      if (k == 1 || k == 3)
        throw std::runtime_error("task " + std::to_string(k));
    });
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "task 1");
  }
  EXPECT_EQ(ended.load(), 4);
}

TEST(Dropout, ThreadGeneratorMasksRepeatWithTheSeedAndLeaveTheDefaultGeneratorAlone) {
  const auto x = torch::arange(1, 2001, torch::kFloat32);
  torch::manual_seed(5);
  const auto expected_default = torch::rand({4});
  torch::manual_seed(5);
  torch::Tensor a, b, c;
  {
    ThreadGenerator g(7);
    a = core::dropout(x, 0.25, true);
  }
  {
    ThreadGenerator g(7);
    b = core::dropout(x, 0.25, true);
    ThreadGenerator inner(8);  // the innermost generator draws
    c = core::dropout(x, 0.25, true);
  }
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected_default));  // no draw from the default

  // Kept elements are scaled by 1 / (1 - p); about p of them are dropped.
  const auto kept = a.ne(0);
  EXPECT_TRUE(torch::allclose(a.masked_select(kept), x.masked_select(kept) / 0.75));
  EXPECT_NEAR(1.0 - kept.to(torch::kFloat64).mean().item<double>(), 0.25, 0.03);
  // Not training, or p = 0: the input itself.
  EXPECT_TRUE(torch::equal(core::dropout(x, 0.25, false), x));
  EXPECT_TRUE(torch::equal(core::dropout(x, 0.0, true), x));
  EXPECT_EQ(core::dropout(x, 1.0, true).abs().sum().item<float>(), 0.0f);

  // Two threads drawing at once each get their seed's masks.
  std::vector<torch::Tensor> masks(2);
  run_parallel(2, [&](int k) {
    ThreadGenerator g(7 + static_cast<uint64_t>(k));
    masks[static_cast<size_t>(k)] = core::dropout(x, 0.25, true);
  });
  EXPECT_TRUE(torch::equal(masks[0], a));
  EXPECT_TRUE(torch::equal(masks[1], c));
}

}  // namespace
}  // namespace glimpse::core

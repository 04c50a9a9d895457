#include "glimpse/train/step_plan.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace glimpse::train {
namespace {

TEST(StepPlan, AnEpochsOrderIsAPermutationFixedBySeedAndEpoch) {
  const auto a = epoch_order(10, 7, 0);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(epoch_order(10, 7, 0), a);
  EXPECT_NE(epoch_order(10, 7, 1), a);
  EXPECT_NE(epoch_order(10, 8, 0), a);
  EXPECT_EQ(mix(1, 2), mix(1, 2));
  EXPECT_NE(mix(1, 2), mix(2, 1));
}

TEST(StepPlan, StepsHoldWholeImagesUntilTheyReachTheBatchSize) {
  // Image 2 has no sequence and is left out; a step closes once it holds >= 4 sequences.
  const std::vector<size_t> sequences = {3, 2, 0, 5, 1};
  const auto steps = epoch_steps(sequences, 4, 3, 0);
  std::vector<size_t> seen;
  for (const auto& step : steps) {
    size_t n = 0;
    for (size_t i : step)
      n += sequences[i];
    EXPECT_GE(n, 1u);
    seen.insert(seen.end(), step.begin(), step.end());
  }
  std::vector<size_t> order;
  for (size_t i : epoch_order(5, 3, 0))
    if (i != 2)
      order.push_back(i);
  EXPECT_EQ(seen, order);  // epoch order, image 2 skipped
  for (size_t k = 0; k + 1 < steps.size(); ++k) {
    size_t n = 0;
    for (size_t i : steps[k])
      n += sequences[i];
    EXPECT_GE(n, 4u) << "step " << k << " closed early";
  }
}

TEST(StepPlan, PartsAreConsecutiveNonEmptyAndBalanceTokens) {
  EXPECT_EQ(step_parts({10, 10, 10, 10}, 2), (std::vector<size_t>{0, 0, 1, 1}));
  EXPECT_EQ(step_parts({30, 5, 5, 5, 5}, 2), (std::vector<size_t>{0, 1, 1, 1, 1}));
  EXPECT_EQ(step_parts({1, 1, 100}, 3), (std::vector<size_t>{0, 1, 2}));  // one image each
  EXPECT_EQ(step_parts({4, 4}, 5), (std::vector<size_t>{0, 1}));  // no more parts than images
  EXPECT_EQ(step_parts({4, 4, 4}, 1), (std::vector<size_t>{0, 0, 0}));
}

}  // namespace
}  // namespace glimpse::train

// The first-describe budget: a burst at once, then one slot per 1/qps, per backend, and
// nothing held back when time has moved past the reservations.
#include "controllers/encryption_key/describe_budget.h"

#include <gtest/gtest.h>

namespace keygate::controllers {
namespace {

using namespace std::chrono_literals;

TEST(DescribeBudgetTest, BurstThenOneSlotPerIntervalPerBackend) {
  DescribeBudget b(50, 3);  // 20 ms apart after 3
  const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.reserve("softhsm", t0), t0) << i;
  EXPECT_EQ(b.reserve("softhsm", t0), t0 + 20ms);
  EXPECT_EQ(b.reserve("softhsm", t0), t0 + 40ms);
  // Another backend has its own budget.
  EXPECT_EQ(b.reserve("kmip", t0), t0);
  // Slots are spread: 1,000 more keys end 20 s later, not sooner.
  WallTime last;
  for (int i = 0; i < 1000; ++i) last = b.reserve("softhsm", t0);
  EXPECT_EQ(last, t0 + 20ms * 1002);
  // Long after, the burst is available again.
  const WallTime later = t0 + 1h;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.reserve("softhsm", later), later) << i;
  EXPECT_GT(b.reserve("softhsm", later), later);
}

TEST(DescribeBudgetTest, ZeroQpsIsNoLimit) {
  DescribeBudget b(0, 1);
  const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));
  EXPECT_FALSE(b.limited());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(b.reserve("softhsm", t0), t0);
}

}  // namespace
}  // namespace keygate::controllers

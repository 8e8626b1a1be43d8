#include "kube/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "support/fake_clock.h"

namespace keygate::kube {
namespace {

using namespace std::chrono_literals;

RateLimiterOptions fake(testing::FakeClock& clock, double qps, int burst) {
  RateLimiterOptions o;
  o.qps = qps;
  o.burst = burst;
  o.clock = &clock;
  return o;
}

// qps <= 0 turns limiting off: every call passes at once.
TEST(RateLimiterTest, NonPositiveQpsDisablesLimiting) {
  RateLimiter off({.qps = 0, .burst = 1});
  EXPECT_FALSE(off.enabled());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(off.tryAcquire());
    EXPECT_TRUE(off.acquire().ok());
  }
}

// A full bucket allows `burst` requests at once, then refuses until it refills.
TEST(RateLimiterTest, AllowsBurstThenRefuses) {
  testing::FakeClock clock;
  RateLimiter rl(fake(clock, 10, 5));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.tryAcquire()) << i;
  EXPECT_FALSE(rl.tryAcquire());
}

// Tokens refill at qps: 1/qps seconds later exactly one more request passes.
TEST(RateLimiterTest, RefillsAtQps) {
  testing::FakeClock clock;
  RateLimiter rl(fake(clock, 10, 2));
  EXPECT_TRUE(rl.tryAcquire());
  EXPECT_TRUE(rl.tryAcquire());
  EXPECT_FALSE(rl.tryAcquire());
  clock.advance(50ms);
  EXPECT_FALSE(rl.tryAcquire()) << "half a token is not a token";
  clock.advance(50ms);
  EXPECT_TRUE(rl.tryAcquire());
  EXPECT_FALSE(rl.tryAcquire());
}

// A long idle period refills the bucket only up to burst.
TEST(RateLimiterTest, IdleRefillIsCappedAtBurst) {
  testing::FakeClock clock;
  RateLimiter rl(fake(clock, 100, 3));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rl.tryAcquire());
  clock.advance(1h);
  int passed = 0;
  while (rl.tryAcquire()) ++passed;
  EXPECT_EQ(passed, 3);
}

// Concurrent callers never get more tokens than the bucket holds.
TEST(RateLimiterTest, ConcurrentTryAcquireNeverOverdraws) {
  testing::FakeClock clock;
  RateLimiter rl(fake(clock, 1, 50));
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (rl.tryAcquire()) ++passed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(passed, 50);
}

// acquire() blocks until the refill covers the request: 6 requests at 50 qps with burst 1
// take at least 100ms (five waits of 20ms). Only the lower bound is asserted.
TEST(RateLimiterTest, AcquireWaitsForRefill) {
  RateLimiter rl({.qps = 50, .burst = 1});
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(rl.acquire().ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 99ms);
}

// Waiters reserve tokens in turn, so concurrent acquire() calls are spread at the rate.
TEST(RateLimiterTest, ConcurrentAcquireIsSpreadAtTheRate) {
  RateLimiter rl({.qps = 100, .burst = 1});
  auto start = std::chrono::steady_clock::now();
  std::vector<std::future<bool>> callers;
  for (int i = 0; i < 11; ++i)
    callers.push_back(std::async(std::launch::async, [&] { return rl.acquire().ok(); }));
  for (auto& c : callers) EXPECT_TRUE(c.get());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 99ms);
}

// close() wakes blocked callers with kCancelled and fails later ones at once.
TEST(RateLimiterTest, CloseCancelsWaiters) {
  RateLimiter rl({.qps = 0.01, .burst = 1});  // the next token is 100s away
  ASSERT_TRUE(rl.acquire().ok());
  auto waiter = std::async(std::launch::async, [&] { return rl.acquire(); });
  EXPECT_EQ(waiter.wait_for(50ms), std::future_status::timeout);
  rl.close();
  ASSERT_EQ(waiter.wait_for(5s), std::future_status::ready);
  Status s = waiter.get();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(rl.acquire().error().code, ErrorCode::kCancelled);
  EXPECT_FALSE(rl.tryAcquire());
}

}  // namespace
}  // namespace keygate::kube

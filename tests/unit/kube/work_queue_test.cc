#include "kube/work_queue.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "support/fake_clock.h"

namespace keygate::kube {
namespace {

using namespace std::chrono_literals;

// get() with a guard so a broken queue fails the test instead of hanging it.
std::optional<std::string> getWithin(WorkQueue& q, std::chrono::milliseconds timeout = 5s) {
  auto f = std::async(std::launch::async, [&q] { return q.get(); });
  if (f.wait_for(timeout) != std::future_status::ready) {
    q.shutDown();  // unblocks the getter so the future can be destroyed
    ADD_FAILURE() << "get() did not return within " << timeout.count() << "ms";
    return std::nullopt;
  }
  return f.get();
}

WorkQueueOptions fakeClockOptions(testing::FakeClock& clock) {
  WorkQueueOptions o;
  o.clock = &clock;
  return o;
}

// A key added several times before a worker takes it is handed out once.
TEST(WorkQueueTest, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.add("ns/a");
  q.add("ns/a");
  q.add("ns/b");
  q.add("ns/a");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(getWithin(q), "ns/a");
  EXPECT_EQ(getWithin(q), "ns/b");
  EXPECT_EQ(q.len(), 0u);
}

// Distinct keys come out in the order they were added.
TEST(WorkQueueTest, HandsOutKeysInFifoOrder) {
  WorkQueue q;
  for (int i = 0; i < 10; ++i) q.add("ns/k" + std::to_string(i));
  for (int i = 0; i < 10; ++i) {
    auto k = getWithin(q);
    EXPECT_EQ(k, "ns/k" + std::to_string(i));
    q.done(*k);
  }
}

// A key added while it is processed is not handed to another worker, but re-queued by done().
TEST(WorkQueueTest, KeyAddedDuringProcessingIsRequeuedOnDone) {
  WorkQueue q;
  q.add("ns/a");
  auto k = getWithin(q);
  ASSERT_EQ(k, "ns/a");
  q.add("ns/a");
  q.add("ns/a");
  EXPECT_EQ(q.len(), 0u) << "an in-flight key must not be queued for a second worker";
  q.done("ns/a");
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(getWithin(q), "ns/a");
  q.done("ns/a");
  EXPECT_TRUE(q.isIdle());
}

// A key not re-added during processing is not handed out again after done().
TEST(WorkQueueTest, DoneWithoutReaddForgetsTheKey) {
  WorkQueue q;
  q.add("ns/a");
  auto k = getWithin(q);
  q.done(*k);
  EXPECT_EQ(q.len(), 0u);
  EXPECT_TRUE(q.isIdle());
}

// addAfter holds the key back until the delay has passed on the injected clock.
TEST(WorkQueueTest, AddAfterWaitsForTheDelayOnTheClock) {
  testing::FakeClock clock;
  WorkQueue q(fakeClockOptions(clock));
  q.addAfter("ns/a", 10s);
  q.recheckDelayed();
  EXPECT_EQ(q.len(), 0u);
  EXPECT_FALSE(q.isIdle());
  clock.advance(9s);
  q.recheckDelayed();
  EXPECT_EQ(q.len(), 0u);
  clock.advance(1s);
  q.recheckDelayed();
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(getWithin(q), "ns/a");
}

// A second addAfter keeps the earlier deadline, and a later one does not postpone it.
TEST(WorkQueueTest, AddAfterKeepsTheEarliestDeadline) {
  testing::FakeClock clock;
  WorkQueue q(fakeClockOptions(clock));
  q.addAfter("ns/a", 10s);
  q.addAfter("ns/a", 3s);
  q.addAfter("ns/a", 20s);
  clock.advance(3s);
  q.recheckDelayed();
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(getWithin(q), "ns/a");
  q.done("ns/a");
  clock.advance(20s);
  q.recheckDelayed();
  EXPECT_EQ(q.len(), 0u) << "the key was delivered once, not once per addAfter";
}

// With the real clock the delay thread delivers the key by itself, never early.
TEST(WorkQueueTest, AddAfterDeliversOnTheRealClock) {
  WorkQueue q;
  auto start = std::chrono::steady_clock::now();
  q.addAfter("ns/a", 50ms);
  q.addAfter("ns/b", 0ms);  // no delay: queued at once
  EXPECT_EQ(getWithin(q), "ns/b");
  EXPECT_EQ(getWithin(q), "ns/a");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

// addRateLimited delays grow as base * 2^n up to the cap; forget() resets them.
TEST(WorkQueueTest, RateLimitedBackoffGrowsAndForgetResets) {
  testing::FakeClock clock;
  WorkQueueOptions o = fakeClockOptions(clock);
  o.baseDelay = 1000ms;
  o.maxDelay = 4000ms;
  WorkQueue q(o);
  auto expectDelay = [&](std::chrono::milliseconds d) {
    q.addRateLimited("ns/a");
    clock.advance(d - 1ms);
    q.recheckDelayed();
    EXPECT_EQ(q.len(), 0u) << "released before " << d.count() << "ms";
    clock.advance(1ms);
    q.recheckDelayed();
    ASSERT_EQ(q.len(), 1u) << "not released after " << d.count() << "ms";
    auto k = getWithin(q);
    q.done(*k);
  };
  expectDelay(1000ms);
  expectDelay(2000ms);
  expectDelay(4000ms);
  expectDelay(4000ms);  // capped
  EXPECT_EQ(q.numRequeues("ns/a"), 4);
  EXPECT_EQ(q.numRequeues("ns/b"), 0);
  q.forget("ns/a");
  EXPECT_EQ(q.numRequeues("ns/a"), 0);
  expectDelay(1000ms);
}

// Backoff is per key: one failing key does not slow another down.
TEST(WorkQueueTest, BackoffIsPerKey) {
  testing::FakeClock clock;
  WorkQueueOptions o = fakeClockOptions(clock);
  o.baseDelay = 100ms;
  WorkQueue q(o);
  for (int i = 0; i < 5; ++i) q.addRateLimited("ns/a");
  q.addRateLimited("ns/b");
  clock.advance(100ms);
  q.recheckDelayed();
  EXPECT_EQ(getWithin(q), "ns/a");  // the first addRateLimited of a set the 100ms deadline
  EXPECT_EQ(getWithin(q), "ns/b");
  EXPECT_EQ(q.numRequeues("ns/a"), 5);
  EXPECT_EQ(q.numRequeues("ns/b"), 1);
}

// shutDown() wakes every blocked get() with nullopt and ignores later adds.
TEST(WorkQueueTest, ShutDownWakesBlockedWorkers) {
  WorkQueue q;
  std::vector<std::future<std::optional<std::string>>> getters;
  for (int i = 0; i < 4; ++i) getters.push_back(std::async(std::launch::async, [&q] { return q.get(); }));
  std::this_thread::sleep_for(20ms);  // let them block (not required for correctness)
  q.shutDown();
  for (auto& g : getters) {
    ASSERT_EQ(g.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(g.get(), std::nullopt);
  }
  q.add("ns/a");
  q.addAfter("ns/b", 1ms);
  q.addRateLimited("ns/c");
  EXPECT_EQ(q.len(), 0u);
  EXPECT_EQ(q.get(), std::nullopt);
  EXPECT_TRUE(q.shuttingDown());
}

// shutDownWithDrain waits for keys in flight to be done(), and reports a missed deadline.
TEST(WorkQueueTest, ShutDownWithDrainWaitsForInFlightWork) {
  WorkQueue q;
  q.add("ns/a");
  q.add("ns/b");
  auto a = getWithin(q);
  auto worker = std::async(std::launch::async, [&q, a] {
    std::this_thread::sleep_for(50ms);
    q.add(*a);  // re-added during drain: not re-queued
    q.done(*a);
  });
  EXPECT_TRUE(q.shutDownWithDrain(5s));
  worker.get();
  EXPECT_EQ(q.get(), std::nullopt);

  WorkQueue stuck;
  stuck.add("ns/x");
  ASSERT_TRUE(getWithin(stuck));
  EXPECT_FALSE(stuck.shutDownWithDrain(20ms)) << "ns/x is never done()";
}

// Metrics hooks see adds (not de-duplicated repeats), retries and the depth.
TEST(WorkQueueTest, ReportsMetrics) {
  std::atomic<int> adds{0}, retries{0};
  std::atomic<size_t> depth{0};
  testing::FakeClock clock;
  WorkQueueOptions o = fakeClockOptions(clock);
  o.metrics.onAdd = [&] { ++adds; };
  o.metrics.onRetry = [&] { ++retries; };
  o.metrics.onDepth = [&](size_t d) { depth = d; };
  WorkQueue q(o);
  q.add("ns/a");
  q.add("ns/a");
  q.add("ns/b");
  EXPECT_EQ(adds, 2);
  EXPECT_EQ(depth, 2u);
  q.addRateLimited("ns/c");
  EXPECT_EQ(retries, 1);
  auto k = getWithin(q);
  EXPECT_EQ(depth, 1u);
}

// Stress: 16 workers, 200 keys, 50k random adds from 4 threads while processing. No key is
// ever processed by two workers at once, and every key added after its last processing
// started is processed again afterwards.
TEST(WorkQueueTest, StressExclusiveProcessingAndNoLostAdds) {
  constexpr int kWorkers = 16, kKeys = 200, kAdds = 50'000, kAdders = 4;
  WorkQueue q;
  std::array<std::atomic<bool>, kKeys> inFlight{};
  std::array<std::atomic<uint64_t>, kKeys> lastAdd{};
  std::array<std::atomic<uint64_t>, kKeys> lastStart{};
  std::atomic<uint64_t> seq{0};
  std::atomic<int> overlaps{0};
  std::atomic<long> processed{0};
  auto keyName = [](int i) { return "ns/key-" + std::to_string(i); };
  auto keyIndex = [](const std::string& k) { return std::stoi(k.substr(7)); };

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(w);
      while (auto key = q.get()) {
        int i = keyIndex(*key);
        if (inFlight[i].exchange(true)) ++overlaps;
        lastStart[i] = ++seq;
        if (rng() % 4 == 0) std::this_thread::yield();
        if (rng() % 8 == 0) {  // a reconcile that re-queues its own key (dirty while in flight)
          uint64_t s = ++seq;
          uint64_t prev = lastAdd[i].load();
          while (prev < s && !lastAdd[i].compare_exchange_weak(prev, s)) {
          }
          q.add(*key);
        }
        if (rng() % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
        ++processed;
        inFlight[i] = false;
        q.done(*key);
      }
    });
  }
  std::vector<std::thread> adders;
  for (int a = 0; a < kAdders; ++a) {
    adders.emplace_back([&, a] {
      std::mt19937 rng(1000 + a);
      for (int n = 0; n < kAdds / kAdders; ++n) {
        int i = static_cast<int>(rng() % kKeys);
        // Taken before add(): any processing that serves this add starts after it.
        uint64_t s = ++seq;
        uint64_t prev = lastAdd[i].load();
        while (prev < s && !lastAdd[i].compare_exchange_weak(prev, s)) {
        }
        q.add(keyName(i));
      }
    });
  }
  for (auto& t : adders) t.join();
  // Nothing adds any more: wait for the queue to settle (bounded, so a bug cannot hang).
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!q.isIdle() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(q.isIdle());
  EXPECT_TRUE(q.shutDownWithDrain(10s));
  for (auto& t : workers) t.join();

  EXPECT_EQ(overlaps, 0) << "a key was processed by two workers at once";
  for (int i = 0; i < kKeys; ++i) {
    if (lastAdd[i] == 0) continue;
    EXPECT_GT(lastStart[i].load(), lastAdd[i].load()) << keyName(i) << " was added but not processed afterwards";
  }
  EXPECT_GT(processed, kKeys - 1);
  EXPECT_LE(processed, kAdds);
}

}  // namespace
}  // namespace keygate::kube

namespace keygate::kube {
namespace {

// One tenant's backlog does not delay another tenant's key: namespaces take turns, FIFO
// within each (issue 17: a tenant with 50k keys must not starve another's single key).
TEST(WorkQueueFairnessTest, NamespacesTakeTurns) {
  WorkQueue q;
  for (int i = 0; i < 50000; ++i) q.add("tenant-big/k" + std::to_string(i));
  q.add("tenant-small/only");
  q.add("cluster-scoped");
  std::vector<std::string> first;
  for (int i = 0; i < 4; ++i) first.push_back(*q.get());
  EXPECT_EQ(first, (std::vector<std::string>{"tenant-big/k0", "tenant-small/only", "cluster-scoped", "tenant-big/k1"}));
  for (const auto& k : first) q.done(k);
  // Within a namespace the order is kept, and nothing is lost or repeated.
  int next = 2;
  while (q.len() > 0) {
    std::string k = *q.get();
    ASSERT_EQ(k, "tenant-big/k" + std::to_string(next++));
    q.done(k);
  }
  EXPECT_EQ(next, 50000);
}

TEST(WorkQueueFairnessTest, FairQueueBookkeeping) {
  FairQueue f;
  EXPECT_TRUE(f.empty());
  f.push_back("a/1");
  f.push_back("a/2");
  f.push_back("b/1");
  f.push_back("a/3");
  f.push_back("c/1");
  EXPECT_EQ(f.size(), 5u);
  std::vector<std::string> order;
  while (!f.empty()) order.push_back(f.pop_front());
  EXPECT_EQ(order, (std::vector<std::string>{"a/1", "b/1", "c/1", "a/2", "a/3"}));
  f.push_back("a/9");
  f.clear();
  EXPECT_TRUE(f.empty());
  f.push_back("b/2");
  EXPECT_EQ(f.pop_front(), "b/2");
}

}  // namespace
}  // namespace keygate::kube

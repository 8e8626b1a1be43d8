#pragma once
// Client-side token bucket (client-go's flowcontrol.NewTokenBucketRateLimiter): `qps` tokens per
// second refill a bucket of `burst` tokens; each API request takes one. It keeps one replica from
// flooding the API server during a relist storm. Thread-safe.

#include <condition_variable>
#include <memory>
#include <mutex>

#include "common/clock.h"
#include "common/result.h"

namespace keygate::kube {

struct RateLimiterOptions {
  double qps = 5.0;  // <= 0 disables limiting
  int burst = 10;    // bucket size; < 1 is treated as 1
  // Null = realClock(). Refill is computed on steadyNow(); blocked acquire() sleeps in real time.
  const Clock* clock = nullptr;
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimiterOptions options = {});
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes a token, waiting for the refill if the bucket is empty. Waiters are served in
  // arrival order: each reserves the next token, so a burst of callers does not stampede.
  // Fails with kCancelled once close() was called (also for callers already waiting).
  Status acquire();
  // Takes a token if one is available now; never waits.
  bool tryAcquire();
  // Wakes every waiter with kCancelled; later acquire() calls fail at once. For shutdown.
  void close();

  bool enabled() const { return qps_ > 0; }

 private:
  void refillLocked(SteadyTime now);

  const double qps_;
  const double burst_;
  const Clock& clock_;

  std::mutex mu_;
  std::condition_variable cond_;  // only close() notifies: waiters sleep until their slot
  // May go negative: -tokens_ is the number of tokens already promised to waiters.
  double tokens_;
  SteadyTime last_;
  bool closed_ = false;
};
using RateLimiterPtr = std::shared_ptr<RateLimiter>;

}  // namespace keygate::kube

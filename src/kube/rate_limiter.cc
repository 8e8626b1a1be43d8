#include "kube/rate_limiter.h"

#include <algorithm>
#include <chrono>

namespace keygate::kube {

RateLimiter::RateLimiter(RateLimiterOptions options)
    : qps_(options.qps),
      burst_(static_cast<double>(std::max(options.burst, 1))),
      clock_(options.clock ? *options.clock : realClock()),
      tokens_(burst_),
      last_(clock_.steadyNow()) {}

void RateLimiter::refillLocked(SteadyTime now) {
  if (now <= last_) return;
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
  last_ = now;
}

bool RateLimiter::tryAcquire() {
  if (!enabled()) return true;
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  refillLocked(clock_.steadyNow());
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

Status RateLimiter::acquire() {
  if (!enabled()) return okStatus();
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return makeError(ErrorCode::kCancelled, "rate limiter closed");
  SteadyTime now = clock_.steadyNow();
  refillLocked(now);
  // Reserve our token now (possibly going into debt) and sleep until the refill covers it.
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) return okStatus();
  auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(-tokens_ / qps_));
  SteadyTime readyAt = now + wait;
  while (!closed_) {
    SteadyTime t = clock_.steadyNow();
    if (t >= readyAt) return okStatus();
    cond_.wait_for(lock, readyAt - t);
  }
  tokens_ += 1.0;  // give the unused reservation back
  return makeError(ErrorCode::kCancelled, "rate limiter closed");
}

void RateLimiter::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  cond_.notify_all();
}

}  // namespace keygate::kube

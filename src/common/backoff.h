#pragma once
// Exponential backoff with full jitter, bounded by a maximum. Not thread-safe: one per loop.

#include <chrono>
#include <cstdint>

namespace keygate {

struct BackoffOptions {
  std::chrono::milliseconds initial{200};
  std::chrono::milliseconds max{30'000};
  double factor = 2.0;
  double jitter = 0.2;  // +/- fraction applied to each delay
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options = {});
  // Delay before the next attempt; grows until max.
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffOptions options_;
  int attempt_ = 0;
};

// Deterministic exponential delay (no jitter): base * 2^failures, capped at max.
std::chrono::milliseconds exponentialDelay(std::chrono::milliseconds base, std::chrono::milliseconds max,
                                           int failures);

}  // namespace keygate

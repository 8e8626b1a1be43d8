#pragma once
// A manually advanced clock for TTLs, windows and timeouts in tests. Thread-safe.

#include <mutex>

#include "common/clock.h"

namespace keygate::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime start = WallTime(std::chrono::seconds(1'800'000'000)))
      : wall_(start), steady_(SteadyTime(std::chrono::hours(1))) {}
  WallTime now() const override {
    std::lock_guard<std::mutex> l(mu_);
    return wall_;
  }
  SteadyTime steadyNow() const override {
    std::lock_guard<std::mutex> l(mu_);
    return steady_;
  }
  void advance(Duration d) {
    std::lock_guard<std::mutex> l(mu_);
    wall_ += std::chrono::duration_cast<WallTime::duration>(d);
    steady_ += d;
  }
  void set(WallTime t) {
    std::lock_guard<std::mutex> l(mu_);
    wall_ = t;
  }

 private:
  mutable std::mutex mu_;
  WallTime wall_;
  SteadyTime steady_;
};

}  // namespace keygate::testing

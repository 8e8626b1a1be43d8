#pragma once
// Injectable clocks. Wall time (system_clock) drives API timestamps and TTLs; steady
// time drives timeouts and backoff. Tests use FakeClock (tests/support/fake_clock.h).

#include <chrono>
#include <memory>

namespace keygate {

using WallTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime now() const = 0;
  virtual SteadyTime steadyNow() const = 0;
};

class RealClock final : public Clock {
 public:
  WallTime now() const override { return std::chrono::system_clock::now(); }
  SteadyTime steadyNow() const override { return std::chrono::steady_clock::now(); }
};

// Process-wide real clock; components take a `const Clock&` so tests can substitute.
const Clock& realClock();

}  // namespace keygate

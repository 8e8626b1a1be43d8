#pragma once
// Paces the first describe of each key after the operator starts (or becomes leader), per
// backend: a restart with 100k keys must not send 100k describes to one HSM at once. The
// first `burst` go at once; after that each key is given its own slot, 1/qps apart (a
// GCRA reservation, so a key told to come back at its slot gets it). Thread-safe.

#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"

namespace keygate::controllers {

class DescribeBudget {
 public:
  // qps <= 0: no limit (every reservation is `now`).
  DescribeBudget(double qps, int burst);
  // When this key's first describe on `backend` may run: `now` when within budget.
  WallTime reserve(const std::string& backend, WallTime now);
  bool limited() const { return interval_ > Duration::zero(); }

 private:
  Duration interval_{0};
  Duration burstAllowance_{0};
  std::mutex mu_;
  std::map<std::string, WallTime> theoretical_;  // per backend: when the next slot frees
};

}  // namespace keygate::controllers

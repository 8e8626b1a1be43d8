#include "controllers/encryption_key/describe_budget.h"

#include <algorithm>

namespace keygate::controllers {

DescribeBudget::DescribeBudget(double qps, int burst) {
  if (qps <= 0) return;
  interval_ = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / qps));
  burstAllowance_ = interval_ * std::max(0, burst - 1);
}

WallTime DescribeBudget::reserve(const std::string& backend, WallTime now) {
  if (!limited()) return now;
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, _] = theoretical_.emplace(backend, now);
  WallTime tat = std::max(it->second, now);
  WallTime slot = std::max(now, tat - burstAllowance_);
  it->second = tat + interval_;
  return slot;
}

}  // namespace keygate::controllers

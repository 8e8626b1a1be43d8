#include "common/backoff.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace keygate {

namespace {
// One generator per thread, seeded once: a Backoff is made per API request, and seeding
// from std::random_device each time showed up in the operator's profile.
std::mt19937_64& rng() {
  static thread_local std::mt19937_64 r(std::random_device{}());
  return r;
}
}  // namespace

Backoff::Backoff(BackoffOptions options) : options_(options) {}

std::chrono::milliseconds Backoff::next() {
  double base = static_cast<double>(options_.initial.count()) * std::pow(options_.factor, attempt_);
  base = std::min(base, static_cast<double>(options_.max.count()));
  if (attempt_ < 64) ++attempt_;
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> dist(1.0 - options_.jitter, 1.0 + options_.jitter);
    base *= dist(rng());
  }
  base = std::clamp(base, 0.0, static_cast<double>(options_.max.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(base));
}

std::chrono::milliseconds exponentialDelay(std::chrono::milliseconds base, std::chrono::milliseconds max,
                                           int failures) {
  if (failures <= 0) return base;
  double d = static_cast<double>(base.count()) * std::pow(2.0, std::min(failures, 62));
  d = std::min(d, static_cast<double>(max.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(d));
}

}  // namespace keygate

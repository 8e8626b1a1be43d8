#pragma once
// Closed-loop load for the benchmarks: `threads` callers, each calling again as soon as its
// call returns, for `seconds` after one warm-up call each; latency percentiles over all calls.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

namespace keygate::bench {

struct Figures {
  double opsPerSec = 0, p50us = 0, p99us = 0;
  uint64_t errors = 0;
};

// Sorts `latenciesUs` and fills the percentiles; ops/s over `seconds`.
inline Figures summarize(std::vector<double> latenciesUs, double seconds, uint64_t errors) {
  std::sort(latenciesUs.begin(), latenciesUs.end());
  Figures f;
  f.opsPerSec = seconds > 0 ? latenciesUs.size() / seconds : 0;
  if (!latenciesUs.empty()) {
    f.p50us = latenciesUs[latenciesUs.size() / 2];
    f.p99us = latenciesUs[std::min(latenciesUs.size() - 1, latenciesUs.size() * 99 / 100)];
  }
  f.errors = errors;
  return f;
}

// call(t) is caller t's operation; false counts as an error.
inline Figures measure(int threads, double seconds, const std::function<bool(int)>& call) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::vector<double>> lat(threads);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  for (int t = 0; t < threads; ++t) (void)call(t);
  std::vector<std::thread> ts;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      lat[t].reserve(100000);
      while (!stop.load(std::memory_order_relaxed)) {
        auto a = Clock::now();
        if (!call(t)) errors++;
        lat[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  return summarize(std::move(all), elapsed, errors);
}

}  // namespace keygate::bench

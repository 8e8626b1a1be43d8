#pragma once
// Closed-loop load for the benchmarks: callers that call again as soon as their call returns;
// latency percentiles over all calls. measure(): one blocking thread per caller. measureAsync():
// one thread drives every caller through a gRPC CompletionQueue, so the load generator does not
// take the server's CPUs on a small machine.
#include <grpcpp/grpcpp.h>

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

// `slots` calls in flight for `seconds` (after a warm-up of a fifth of that), each slot starting
// its next call when the last one completes. start(slot, ctx, cq) prepares one call (the stub and
// channel are the caller's choice: one per slot, or one shared as kube-apiserver shares its).
template <typename Resp>
Figures measureAsync(
    size_t slots, double seconds,
    const std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>>(size_t, grpc::ClientContext*,
                                                                                  grpc::CompletionQueue*)>& start) {
  using Clock = std::chrono::steady_clock;
  struct Call {
    grpc::ClientContext ctx;
    Resp resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Resp>> reader;
    Clock::time_point start;
    size_t slot = 0;
  };
  grpc::CompletionQueue cq;
  auto issue = [&](size_t slot) {
    auto* c = new Call;
    c->slot = slot;
    c->start = Clock::now();
    c->reader = start(slot, &c->ctx, &cq);
    c->reader->StartCall();
    c->reader->Finish(&c->resp, &c->status, c);
  };
  for (size_t i = 0; i < slots; ++i) issue(i);
  const auto t0 = Clock::now();
  const auto warm = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds * 0.2));
  const auto end = warm + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<double> lat;
  lat.reserve(200000);
  uint64_t errors = 0;
  size_t outstanding = slots;
  void* tag = nullptr;
  bool ok = false;
  while (outstanding > 0 && cq.Next(&tag, &ok)) {
    auto* c = static_cast<Call*>(tag);
    auto now = Clock::now();
    if (now >= warm && now < end) {
      lat.push_back(std::chrono::duration<double, std::micro>(now - c->start).count());
      if (!ok || !c->status.ok()) errors++;
    }
    size_t slot = c->slot;
    delete c;
    if (now < end) issue(slot);
    else --outstanding;
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return summarize(std::move(lat), seconds, errors);
}

}  // namespace keygate::bench

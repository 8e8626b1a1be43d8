#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm
// (tools/leaderelection): a candidate takes the Lease when it is absent, released (empty
// holder), already ours, or expired; the leader renews it every retryPeriod and steps down when
// no renewal has succeeded for renewDeadline. Writes use the Lease's resourceVersion, so of two
// candidates racing for it exactly one wins (the other gets a 409).
//
// Expiry is judged on the LOCAL clock: a candidate records when it last saw the Lease record
// change and considers it expired leaseDurationSeconds after that, never by comparing the
// remote renewTime with its own wall clock (clock skew between nodes cannot cause two leaders).
//
// Safety needs renewDeadline < leaseDuration: the old leader stops (isLeader() false,
// onStoppedLeading) before any other candidate may consider its Lease expired.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "common/result.h"
#include "kube/client.h"

namespace keygate::kube {

// All callbacks run on the elector's thread (or stop()'s caller when driven by step()) and
// must not call stop() or destroy the elector.
struct LeaderCallbacks {
  // Must return promptly (start the work on other threads): the Lease is not renewed while
  // it runs.
  std::function<void()> onStartedLeading;
  // Called on the elector's thread when leadership ends (renewal deadline passed, Lease taken
  // over, or stop()). Stop the work before returning: on a clean stop the Lease is released
  // only afterwards, and a successor starts at once.
  std::function<void()> onStoppedLeading;
  // Called when the observed holder changes (including to ourselves). Empty holders are not reported.
  std::function<void(const std::string& identity)> onNewLeader;
};

struct LeaderElectionOptions {
  std::string ns;            // namespace of the Lease (the operator's namespace)
  std::string leaseName;     // e.g. "keygate-operator"
  std::string identity;      // unique per replica: the pod name
  std::chrono::milliseconds leaseDuration{15'000};  // written as whole seconds (rounded up)
  std::chrono::milliseconds renewDeadline{10'000};
  std::chrono::milliseconds retryPeriod{2'000};
  // Candidates wait retryPeriod * [1, 1 + jitterFactor] between attempts (client-go: 1.2).
  double jitterFactor = 1.2;
  // On a clean stop() while leading, release the Lease (empty holder, leaseDurationSeconds 1).
  bool releaseOnStop = true;
  const Clock* clock = nullptr;  // null = realClock()
  LeaderCallbacks callbacks;
};

class LeaderElector {
 public:
  // Fails with kInvalidArgument on inconsistent options (empty identity, renewDeadline not
  // below leaseDuration, retryPeriod not below renewDeadline, ...).
  static Result<std::unique_ptr<LeaderElector>> create(ClientPtr client, LeaderElectionOptions options);
  // Stops (and releases) if still running.
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // Starts the election loop on its own thread. Once only.
  void start();
  // Ends the loop: when leading, calls onStoppedLeading, then releases the Lease (releaseOnStop).
  // Blocks until the thread has exited; an API call in progress finishes first.
  void stop();

  // True while we hold a Lease renewed less than renewDeadline ago. Computed from the last
  // successful renewal, so it turns false on time even when an API call hangs. Lock-free.
  bool isLeader() const;
  // The holder last observed in the Lease ("" when unknown or released).
  std::string leader() const;

  // One iteration of the loop (acquire or renew, callbacks for transitions); returns how long
  // to wait before the next. Public for deterministic unit tests with a FakeClock; never call
  // it while start()ed.
  std::chrono::nanoseconds step();
  // Releases the Lease if we lead, as stop() does. Public for tests driving step().
  void release();

 private:
  LeaderElector(ClientPtr client, LeaderElectionOptions options);
  // client-go's tryAcquireOrRenew: true when the Lease is ours after the call.
  bool tryAcquireOrRenew();
  // Writes our record over `current` (nullptr: create). Returns false on any failure.
  bool writeRecord(const Json* current, bool keepAcquire);
  void observe(const Json& lease);
  void becomeLeader();
  void stepDown(const char* why);
  void loop();
  std::chrono::nanoseconds jittered(std::chrono::nanoseconds d);

  ClientPtr client_;
  const LeaderElectionOptions options_;
  const Clock& clock_;
  const log::Logger log_{"leader-election"};

  // Elector-thread state (step() is never concurrent with itself).
  Json observedLease_;         // last Lease seen or written (with metadata.resourceVersion)
  Json observedSpec_;          // its spec, to detect record changes
  SteadyTime observedTime_{};  // local time when observedSpec_ last changed
  std::string reportedLeader_;
  SteadyTime lastRenew_{};
  uint64_t rngState_;

  std::atomic<bool> leading_{false};
  // steady-clock nanoseconds since epoch until which leading_ is trusted.
  std::atomic<int64_t> leaderUntilNs_{0};
  mutable std::mutex leaderMu_;
  std::string leader_;

  std::mutex mu_;
  std::condition_variable cond_;
  bool stopping_ = false;
  std::thread thread_;
};
using LeaderElectorPtr = std::unique_ptr<LeaderElector>;

}  // namespace keygate::kube

#pragma once
// A rate-limited work queue of object keys ("namespace/name"), with client-go's guarantees:
//  - de-duplication: a key added several times before a worker takes it is handed out once;
//  - exclusivity: a key being processed is never handed to a second worker; adding it meanwhile
//    marks it dirty and it is queued again when the first worker calls done();
//  - delayed adds (addAfter) and per-key exponential backoff (addRateLimited / forget);
//  - fairness across namespaces: keys are handed out round-robin by namespace (fair_queue.h).
// Keys, not objects, are queued: the worker reads the latest state from the informer cache.
//
// Thread-safe. One instance per controller; workers loop on get() ... done().

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/clock.h"
#include "kube/fair_queue.h"

namespace keygate::kube {

// Hooks for the metrics layer (keygate_workqueue_depth, keygate_workqueue_retries_total).
// They run under the queue's lock so values arrive in order: keep them cheap and never call
// back into the queue from them.
struct WorkQueueMetrics {
  std::function<void(size_t depth)> onDepth;
  std::function<void()> onAdd;
  std::function<void()> onRetry;
};

struct WorkQueueOptions {
  std::string name;                                   // for logs and metrics labels
  std::chrono::milliseconds baseDelay{5};             // first addRateLimited delay
  std::chrono::milliseconds maxDelay{1'000'000};      // backoff cap (1000 s)
  // Drives addAfter/addRateLimited deadlines (steadyNow). Null = realClock(). With a FakeClock,
  // call recheckDelayed() after advancing it.
  const Clock* clock = nullptr;
  WorkQueueMetrics metrics;
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  // Shuts down (without drain) and joins the delay thread.
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues the key unless it is already waiting; ignored after shutdown.
  void add(const std::string& key);
  // Queues the key once `delay` has passed; a key already waiting keeps the earlier deadline.
  void addAfter(const std::string& key, std::chrono::nanoseconds delay);
  // addAfter with this key's next backoff delay: baseDelay * 2^numRequeues, capped at maxDelay.
  void addRateLimited(const std::string& key);
  // Resets the key's backoff; call after a successful reconcile.
  void forget(const std::string& key);
  // How many times the key went through addRateLimited since the last forget().
  int numRequeues(const std::string& key) const;

  // Blocks until a key is available or the queue shuts down (nullopt). The caller owns the
  // key until it calls done(key).
  std::optional<std::string> get();
  // Ends processing of a key returned by get(); re-queues it if it was added meanwhile.
  void done(const std::string& key);

  // Keys waiting to be handed out (not those in flight or still delayed).
  size_t len() const;
  // No key queued, in flight or delayed. Lets tests and callers wait for a fixed point.
  bool isIdle() const;

  // Stops the queue and joins its delay thread: get() returns nullopt at once (queued keys are dropped: a replica that is
  // shutting down or lost leadership must stop reconciling, the next one relists everything),
  // add() is ignored, done() still works for keys in flight. Idempotent.
  void shutDown();
  // shutDown(), then waits until every key in flight has been done() or the deadline passes.
  // Returns true when all in-flight work finished.
  bool shutDownWithDrain(std::chrono::nanoseconds timeout);
  bool shuttingDown() const;

  // Moves keys whose delay has passed on the configured clock into the queue now. Only needed
  // with a fake clock: the delay thread waits in real time.
  void recheckDelayed();

 private:
  void addLocked(const std::string& key);
  void promoteReadyLocked(SteadyTime now);
  void reportDepthLocked();
  void delayLoop();

  const WorkQueueOptions options_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable cond_;       // getters: an item arrived or shutdown
  std::condition_variable delayCond_;  // delay thread: earlier deadline or shutdown
  std::condition_variable drainCond_;  // shutDownWithDrain: processing_ became empty
  FairQueue queue_;                    // keys to hand out, fair across namespaces; each also in dirty_
  std::unordered_set<std::string> dirty_;       // keys that need processing
  std::unordered_set<std::string> processing_;  // keys handed out and not yet done()
  // Delayed keys ordered by deadline; index_ finds a key's entry to keep the earliest deadline.
  std::multimap<SteadyTime, std::string> delayed_;
  std::unordered_map<std::string, std::multimap<SteadyTime, std::string>::iterator> delayedIndex_;
  std::unordered_map<std::string, int> failures_;
  bool shuttingDown_ = false;

  std::thread delayThread_;
  std::mutex joinMu_;  // one shutDown() joins the delay thread
};
using WorkQueuePtr = std::unique_ptr<WorkQueue>;

}  // namespace keygate::kube

#include "kube/work_queue.h"

#include <algorithm>

#include "common/backoff.h"
#include "common/thread_sched.h"

namespace keygate::kube {

WorkQueue::WorkQueue(WorkQueueOptions options)
    : options_(std::move(options)), clock_(options_.clock ? *options_.clock : realClock()) {
  delayThread_ = startNamedThread("kg-queue-delay", [this] { delayLoop(); });
}

WorkQueue::~WorkQueue() { shutDown(); }

void WorkQueue::add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  addLocked(key);
}

void WorkQueue::addLocked(const std::string& key) {
  if (shuttingDown_) return;
  if (!dirty_.insert(key).second) return;  // already waiting: de-duplicated
  if (options_.metrics.onAdd) options_.metrics.onAdd();
  // In flight: done() re-queues it, so no second worker ever holds the key.
  if (processing_.count(key)) return;
  queue_.push_back(key);
  reportDepthLocked();
  cond_.notify_one();
}

void WorkQueue::addAfter(const std::string& key, std::chrono::nanoseconds delay) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shuttingDown_) return;
  if (delay <= std::chrono::nanoseconds::zero()) {
    addLocked(key);
    return;
  }
  SteadyTime readyAt = clock_.steadyNow() + delay;
  auto it = delayedIndex_.find(key);
  if (it != delayedIndex_.end()) {
    if (it->second->first <= readyAt) return;  // keep the earlier deadline
    delayed_.erase(it->second);
    delayedIndex_.erase(it);
  }
  auto pos = delayed_.emplace(readyAt, key);
  delayedIndex_.emplace(key, pos);
  // Only a new earliest deadline changes how long the delay thread must sleep.
  if (pos == delayed_.begin()) delayCond_.notify_one();
}

void WorkQueue::addRateLimited(const std::string& key) {
  std::chrono::milliseconds delay;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shuttingDown_) return;
    int& failures = failures_[key];
    delay = exponentialDelay(options_.baseDelay, options_.maxDelay, failures);
    if (failures < 1'000'000) ++failures;
    if (options_.metrics.onRetry) options_.metrics.onRetry();
  }
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.erase(key);
}

int WorkQueue::numRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock<std::mutex> lock(mu_);
  cond_.wait(lock, [this] { return shuttingDown_ || !queue_.empty(); });
  if (shuttingDown_) return std::nullopt;
  std::string key = queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  reportDepthLocked();
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (processing_.erase(key) == 0) return;  // not handed out: ignore a stray done()
  if (dirty_.count(key) && !shuttingDown_) {
    queue_.push_back(key);
    reportDepthLocked();
    cond_.notify_one();
  }
  if (processing_.empty()) drainCond_.notify_all();
}

size_t WorkQueue::len() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool WorkQueue::isIdle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.empty() && processing_.empty() && delayed_.empty();
}

void WorkQueue::shutDown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!shuttingDown_) {
      shuttingDown_ = true;
      queue_.clear();
      dirty_.clear();
      delayed_.clear();
      delayedIndex_.clear();
      reportDepthLocked();
      cond_.notify_all();
      delayCond_.notify_all();
    }
  }
  // The delay thread ends at once; joined here, not only in the destructor: the operator
  // leaves with _exit() and never destroys its controllers (ThreadSanitizer reported the
  // finished, unjoined thread as a leak at every operator exit).
  std::lock_guard<std::mutex> join(joinMu_);
  if (delayThread_.joinable() && delayThread_.get_id() != std::this_thread::get_id()) delayThread_.join();
}

bool WorkQueue::shutDownWithDrain(std::chrono::nanoseconds timeout) {
  shutDown();
  std::unique_lock<std::mutex> lock(mu_);
  // The deadline is real time on purpose: it bounds how long process shutdown can hang.
  return drainCond_.wait_for(lock, timeout, [this] { return processing_.empty(); });
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shuttingDown_;
}

void WorkQueue::recheckDelayed() {
  std::lock_guard<std::mutex> lock(mu_);
  promoteReadyLocked(clock_.steadyNow());
  delayCond_.notify_one();
}

void WorkQueue::promoteReadyLocked(SteadyTime now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = std::move(delayed_.begin()->second);
    delayedIndex_.erase(key);
    delayed_.erase(delayed_.begin());
    addLocked(key);
  }
}

void WorkQueue::reportDepthLocked() {
  if (options_.metrics.onDepth) options_.metrics.onDepth(queue_.size());
}

void WorkQueue::delayLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!shuttingDown_) {
    SteadyTime now = clock_.steadyNow();
    promoteReadyLocked(now);
    if (delayed_.empty()) {
      delayCond_.wait(lock);
    } else {
      // Sleep for the remaining time as measured on the configured clock; a new earlier
      // deadline, recheckDelayed() or shutdown wakes us sooner.
      delayCond_.wait_for(lock, delayed_.begin()->first - now);
    }
  }
}

}  // namespace keygate::kube

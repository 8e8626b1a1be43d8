#pragma once
// A controller: one work queue plus a small pool of workers running one Reconciler.
// The queue guarantees a key is never reconciled by two workers at once; failures are
// retried with per-key exponential backoff; requeueAfter schedules timed transitions.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "controllers/reconciler.h"
#include "kube/informer.h"
#include "kube/work_queue.h"

namespace keygate::controllers {

struct ControllerHooks {
  // result: "success", "requeue" (timed), "error". seconds: reconcile duration.
  std::function<void(const std::string& controller, const std::string& result, double seconds)> onReconcile;
};

struct ControllerOptions {
  int workers = 4;
  kube::WorkQueueOptions queue;
  ControllerHooks hooks;
  // Workers take no key until this holds (controller-runtime's WaitForCacheSync): a
  // reconcile must not decide on a half-listed cache, and during a large list the CPU goes
  // to the list. Keys enqueued meanwhile wait (each once). Null: start at once.
  std::function<bool()> cachesSynced;
};

class Controller {
 public:
  Controller(ReconcilerPtr reconciler, ControllerOptions options);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  const std::string& name() const { return reconciler_->name(); }
  kube::WorkQueue& queue() { return *queue_; }
  void enqueue(const std::string& key) { queue_->add(key); }
  // Handlers for an informer of the reconciled kind: enqueue the object's key.
  kube::EventHandlers enqueueHandlers();
  // Handlers for a related kind: map each object to the keys to reconcile.
  kube::EventHandlers mappedHandlers(std::function<std::vector<std::string>(const kube::ObjectPtr&)> map);

  void start();
  // Stops taking new work, waits up to `drain` for in-flight reconciles, joins workers.
  bool stop(std::chrono::milliseconds drain = std::chrono::milliseconds(10'000));
  bool running() const { return running_.load(); }

 private:
  void workerLoop();

  ReconcilerPtr reconciler_;
  ControllerOptions options_;
  std::unique_ptr<kube::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  std::atomic<bool> running_{false};
};

}  // namespace keygate::controllers

#include "controllers/controller.h"

#include "common/log.h"
#include "common/thread_sched.h"

namespace keygate::controllers {

Controller::Controller(ReconcilerPtr reconciler, ControllerOptions options)
    : reconciler_(std::move(reconciler)), options_(std::move(options)) {
  if (options_.queue.name.empty()) options_.queue.name = reconciler_->name();
  queue_ = std::make_unique<kube::WorkQueue>(options_.queue);
}

Controller::~Controller() { stop(std::chrono::milliseconds(0)); }

kube::EventHandlers Controller::enqueueHandlers() {
  auto add = [this](const kube::ObjectPtr& o) { queue_->add(kube::objectKey(*o)); };
  return {add, [add](const kube::ObjectPtr&, const kube::ObjectPtr& n) { add(n); }, add};
}

kube::EventHandlers Controller::mappedHandlers(std::function<std::vector<std::string>(const kube::ObjectPtr&)> map) {
  auto add = [this, map](const kube::ObjectPtr& o) {
    for (const auto& k : map(o)) queue_->add(k);
  };
  return {add,
          [add](const kube::ObjectPtr& o, const kube::ObjectPtr& n) {
            add(o);
            add(n);
          },
          add};
}

void Controller::start() {
  if (running_.exchange(true)) return;
  int n = std::max(1, options_.workers);
  for (int i = 0; i < n; ++i) workers_.push_back(startNamedThread("kg-worker", [this] { workerLoop(); }));
}

bool Controller::stop(std::chrono::milliseconds drain) {
  if (!running_.exchange(false)) {
    queue_->shutDown();
    return true;
  }
  bool drained = queue_->shutDownWithDrain(drain);
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
  return drained;
}

void Controller::workerLoop() {
  const log::Logger logger("controller." + reconciler_->name());
  while (options_.cachesSynced && !options_.cachesSynced() && running_.load())
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  while (auto key = queue_->get()) {
    auto start = std::chrono::steady_clock::now();
    Result<ReconcileResult> r = makeError(ErrorCode::kInternal, "reconcile threw");
    try {
      r = reconciler_->reconcile(*key);
    } catch (const std::exception& e) {
      // A reconciler must not throw; if a library does, treat it as a retryable failure.
      r = makeError(ErrorCode::kInternal, std::string("reconcile threw: ") + e.what());
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string outcome;
    if (!r.ok()) {
      outcome = "error";
      // A conflict is optimistic concurrency doing its job: retry quietly.
      log::Level level = r.error().code == ErrorCode::kConflict ? log::Level::kDebug : log::Level::kWarn;
      logger.write(level, "reconcile failed", {{"key", *key},
                                       {"error", r.error().toString()},
                                       {"retries", queue_->numRequeues(*key)}});
      queue_->addRateLimited(*key);
    } else {
      queue_->forget(*key);
      if (r->requeueAfter) {
        outcome = "requeue";
        queue_->addAfter(*key, std::max(Duration(0), *r->requeueAfter));
      } else {
        outcome = "success";
      }
    }
    if (options_.hooks.onReconcile) options_.hooks.onReconcile(reconciler_->name(), outcome, secs);
    queue_->done(*key);
  }
}

}  // namespace keygate::controllers

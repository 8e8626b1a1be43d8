#include "kube/reflector.h"

#include <random>

#include "common/log.h"
#include "common/thread_sched.h"
#include "kube/cache.h"
#include "kube/status.h"

namespace keygate::kube {
namespace {
const log::Logger& logger() {
  static const log::Logger l("kube.reflector");
  return l;
}
}  // namespace

Reflector::Reflector(ClientPtr client, Resource resource, ReflectorOptions options, ReflectorSink* sink)
    : client_(std::move(client)), resource_(std::move(resource)), options_(std::move(options)), sink_(sink) {}

Reflector::~Reflector() { stop(); }

void Reflector::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = startNamedThread("kg-reflector", [this] { run(); });
}

void Reflector::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (current_) current_->cancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Reflector::lastResourceVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resourceVersion_;
}

void Reflector::setResourceVersion(const std::string& rv) {
  std::lock_guard<std::mutex> lock(mu_);
  resourceVersion_ = rv;
}

void Reflector::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

Status Reflector::listAndReplace() {
  ListOptions opts;
  opts.labelSelector = options_.labelSelector;
  opts.fieldSelector = options_.fieldSelector;
  opts.limit = options_.pageSize;
  // Pages go to the sink as they arrive: a list of 100k objects is never held decoded
  // at once (the cache keeps them packed).
  ASSIGN_OR_RETURN(std::string rv, listPages(
                                       *client_, resource_, options_.ns, opts, [this] { sink_->beginReplace(); },
                                       [this](std::vector<Json>&& items) {
                                         for (auto& item : items) {
                                           // List items of custom resources carry apiVersion/kind; built-ins
                                           // may not: fill them in so cached objects look the same whichever
                                           // path delivered them.
                                           if (!item.contains("kind")) item["kind"] = resource_.kind;
                                           if (!item.contains("apiVersion")) item["apiVersion"] = resource_.apiVersion();
                                         }
                                         sink_->replacePage(std::move(items));
                                       }));
  sink_->endReplace(rv);
  setResourceVersion(rv);
  relists_++;
  synced_ = true;
  return okStatus();
}

Status Reflector::watchOnce() {
  WatchOptions wo;
  wo.resourceVersion = lastResourceVersion();
  wo.labelSelector = options_.labelSelector;
  wo.fieldSelector = options_.fieldSelector;
  wo.allowWatchBookmarks = true;
  static thread_local std::mt19937 rng(std::random_device{}());
  wo.timeoutSeconds = options_.minWatchTimeoutSeconds +
                      std::uniform_int_distribution<int>(0, options_.minWatchTimeoutSeconds)(rng);
  ASSIGN_OR_RETURN(WatchStreamPtr stream, client_->watch(resource_, options_.ns, wo));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return makeError(ErrorCode::kCancelled, "stopping");
    current_ = stream.get();
  }
  Status result;
  while (!stopping_) {
    auto ev = stream->next();
    if (!ev.ok()) {
      result = ev.takeError();
      break;
    }
    switch (ev->type) {
      case WatchEvent::Type::kBookmark:
        setResourceVersion(resourceVersionOf(ev->object));
        break;
      case WatchEvent::Type::kError: {
        Error e = errorFromStatus(ev->object);
        result = e;
        break;
      }
      default: {
        std::string rv = resourceVersionOf(ev->object);
        sink_->apply(std::move(*ev));
        if (!rv.empty()) setResourceVersion(rv);
        break;
      }
    }
    if (!result.ok()) break;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = nullptr;
  }
  return result;
}

void Reflector::run() {
  Backoff backoff(options_.backoff);
  // After stop()/start() the reflector resumes watching from where it was; a resourceVersion
  // that has become too old meanwhile yields 410 and a relist.
  bool needList = lastResourceVersion().empty();
  while (!stopping_) {
    if (needList) {
      Status s = listAndReplace();
      if (!s.ok()) {
        if (stopping_) break;
        auto d = backoff.next();
        logger().warn("list failed", {{"resource", resource_.plural}, {"error", s.error().toString()}, {"retryMs", d.count()}});
        sleepFor(d);
        continue;
      }
      needList = false;
      backoff.reset();
    }
    Status w = watchOnce();
    if (stopping_) break;
    watchRestarts_++;
    if (options_.onWatchRestart) options_.onWatchRestart();
    if (w.ok()) continue;
    const Error& e = w.error();
    if (e.code == ErrorCode::kGone) {
      logger().info("resourceVersion too old, relisting", {{"resource", resource_.plural}, {"error", e.message}});
      needList = true;
      continue;
    }
    if ((e.code == ErrorCode::kUnavailable && e.message == "watch closed") || e.reason == "StreamBroken") {
      // Clean end (server-side timeoutSeconds) or a connection broken mid-stream: re-watch at
      // once from the last resourceVersion. If the server is really gone, opening the next
      // watch fails and that failure backs off.
      logger().debug("watch ended, resuming", {{"resource", resource_.plural}, {"error", e.message}});
      continue;
    }
    auto d = backoff.next();
    logger().warn("watch failed", {{"resource", resource_.plural}, {"error", e.toString()}, {"retryMs", d.count()}});
    sleepFor(d);
  }
}

}  // namespace keygate::kube

#include "kube/event_recorder.h"

#include <algorithm>
#include <cstdio>

#include "common/thread_sched.h"
#include "common/time.h"
#include "kube/resource.h"

namespace keygate::kube {
namespace {

// The API server rejects longer messages on events.k8s.io; keep core/v1 ones within it too.
constexpr size_t kMaxMessageBytes = 1024;

std::string truncateUtf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  // Do not split a multi-byte sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}

std::string dedupKey(const Json& ref, EventType type, const std::string& reason, const std::string& message) {
  // uid identifies the object incarnation; kind/namespace/name keep references without a uid apart.
  const char sep = '\x1f';
  return getString(ref, "kind") + sep + getString(ref, "namespace") + sep + getString(ref, "name") + sep +
         getString(ref, "uid") + sep + eventTypeName(type) + sep + reason + sep + message;
}

}  // namespace

const char* eventTypeName(EventType type) { return type == EventType::kWarning ? "Warning" : "Normal"; }

Json objectReference(const Json& object) {
  Json ref = Json::object();
  auto copy = [&](const char* field, const char* path) {
    std::string v = getString(object, path);
    if (!v.empty()) ref[field] = v;
  };
  copy("apiVersion", "apiVersion");
  copy("kind", "kind");
  copy("namespace", "metadata.namespace");
  copy("name", "metadata.name");
  copy("uid", "metadata.uid");
  copy("resourceVersion", "metadata.resourceVersion");
  return ref;
}

ApiEventRecorder::ApiEventRecorder(ClientPtr client, EventRecorderOptions options)
    : client_(std::move(client)), options_(std::move(options)), clock_(options_.clock ? *options_.clock : realClock()) {
  thread_ = startNamedThread("kg-events", [this] { run(); });
}

ApiEventRecorder::~ApiEventRecorder() { shutDown(std::chrono::milliseconds(500)); }

void ApiEventRecorder::record(const Json& involvedObject, EventType type, const std::string& reason,
                              const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || queue_.size() >= std::max<size_t>(options_.queueSize, 1)) {
    uint64_t n = ++dropped_;
    // Log the first drop and then every power of two, not once per event.
    if ((n & (n - 1)) == 0) log_.warn("event dropped", {{"reason", reason}, {"droppedTotal", n}});
    return;
  }
  // Accept a whole object as well as an ObjectReference.
  Json ref = involvedObject.contains("metadata") ? objectReference(involvedObject) : involvedObject;
  queue_.push_back({std::move(ref), type, reason, truncateUtf8(message, kMaxMessageBytes), clock_.now()});
  cond_.notify_one();
}

bool ApiEventRecorder::flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idleCond_.wait_for(lock, timeout, [this] { return queue_.empty() && !inFlight_; });
}

void ApiEventRecorder::shutDown(std::chrono::milliseconds flushTimeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cond_.notify_all();
  }
  if (!flush(flushTimeout)) {
    std::lock_guard<std::mutex> lock(mu_);
    abandon_ = true;  // also cuts retry sleeps short
    cond_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ApiEventRecorder::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cond_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (abandon_ || (stopping_ && queue_.empty())) break;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    inFlight_ = true;
    lock.unlock();
    send(p);
    lock.lock();
    inFlight_ = false;
    if (queue_.empty()) idleCond_.notify_all();
  }
  dropped_ += queue_.size();
  queue_.clear();
  idleCond_.notify_all();
}

template <typename Op>
auto ApiEventRecorder::withRetries(Op op) -> decltype(op()) {
  auto delay = options_.retryDelay;
  for (int attempt = 1;; ++attempt) {
    auto r = op();
    if (r.ok() || !r.error().isTransient() || attempt >= options_.maxAttempts) return r;
    std::unique_lock<std::mutex> lock(mu_);
    if (cond_.wait_for(lock, delay, [this] { return abandon_; })) return r;
    delay *= 2;
  }
}

std::string ApiEventRecorder::eventName(const std::string& objectName, WallTime at) {
  // client-go: "<name>.<unix nanos in hex>"; kept strictly increasing so two events in the same
  // nanosecond (or with a fake clock) never collide.
  int64_t nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  nanos = std::max(nanos, lastNameNanos_ + 1);
  lastNameNanos_ = nanos;
  char hex[32];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(nanos));
  return (objectName.empty() ? std::string("event") : objectName) + "." + hex;
}

void ApiEventRecorder::remember(const std::string& key, CachedEvent ev) {
  forget(key);
  lru_.emplace_front(key, std::move(ev));
  cache_[key] = lru_.begin();
  while (lru_.size() > std::max<size_t>(options_.cacheSize, 1)) {
    cache_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

void ApiEventRecorder::forget(const std::string& key) {
  auto it = cache_.find(key);
  if (it == cache_.end()) return;
  lru_.erase(it->second);
  cache_.erase(it);
}

void ApiEventRecorder::send(const Pending& p) {
  const Resource events = resources::events();
  std::string key = dedupKey(p.involvedObject, p.type, p.reason, p.message);
  std::string now = formatRfc3339(p.at);
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    createEvent(p, key, 1, now);
    return;
  }
  CachedEvent cached = it->second->second;
  int64_t count = cached.count + 1;
  Json patch = {{"count", count}, {"lastTimestamp", now}, {"message", p.message}};
  auto r = withRetries(
      [&] { return client_->patch(events, cached.namespace_, cached.name, PatchType::kMerge, dumpJson(patch)); });
  if (r.ok()) {
    cached.count = count;
    remember(key, cached);
    ++sent_;
    return;
  }
  if (r.error().code == ErrorCode::kNotFound) {
    // The Event expired on the server (default TTL 1h): start a new one, keeping the tally.
    forget(key);
    createEvent(p, key, count, cached.firstTimestamp);
    return;
  }
  ++failed_;
  log_.warn("updating event failed", {{"event", cached.name}, {"namespace", cached.namespace_},
                                       {"reason", p.reason}, {"error", r.error().toString()}});
}

bool ApiEventRecorder::createEvent(const Pending& p, const std::string& key, int64_t count,
                                   const std::string& firstTimestamp) {
  const Resource events = resources::events();
  std::string objectNs = getString(p.involvedObject, "namespace");
  // Events about cluster-scoped objects live in "default", as client-go does.
  std::string ns = objectNs.empty() ? "default" : objectNs;
  std::string last = formatRfc3339(p.at);
  Json source = {{"component", options_.component}};
  if (!options_.reportingInstance.empty()) source["host"] = options_.reportingInstance;
  Json body = {{"apiVersion", events.apiVersion()},
               {"kind", events.kind},
               {"metadata", {{"namespace", ns}}},
               {"involvedObject", p.involvedObject},
               {"reason", p.reason},
               {"message", p.message},
               {"type", eventTypeName(p.type)},
               {"source", source},
               {"firstTimestamp", firstTimestamp},
               {"lastTimestamp", last},
               {"count", count},
               {"reportingComponent", options_.component},
               {"reportingInstance", options_.reportingInstance}};
  Result<std::string> r = makeError(ErrorCode::kInternal, "unset");
  std::string name;
  // A name collision (AlreadyExists) gets one more try under a fresh name. The answer is not
  // decoded: the Event is named by us (no generateName), so its name is the one sent.
  for (int i = 0; i < 2; ++i) {
    name = eventName(getString(p.involvedObject, "name"), p.at);
    body["metadata"]["name"] = name;
    r = withRetries([&] { return client_->createRaw(events, ns, body); });
    if (r.ok() || r.error().code != ErrorCode::kAlreadyExists) break;
  }
  if (!r.ok()) {
    ++failed_;
    log_.warn("creating event failed", {{"namespace", ns}, {"reason", p.reason}, {"error", r.error().toString()}});
    return false;
  }
  remember(key, {ns, name, count, firstTimestamp});
  ++sent_;
  return true;
}

}  // namespace keygate::kube

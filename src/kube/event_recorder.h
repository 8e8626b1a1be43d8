#pragma once
// Kubernetes Events (core/v1) about our objects, shaped like client-go's record.EventRecorder:
// name "<object name>.<hex unix nanos>", source.component, reportingComponent/Instance,
// count/firstTimestamp/lastTimestamp. Repeats of the same (object uid, type, reason, message)
// are folded into one Event: the first creates it with count 1, later ones merge-patch
// count+1 and lastTimestamp (an LRU cache remembers recent Events).
//
// record() never blocks on the API: it enqueues into a bounded queue and a background thread
// sends. When the queue is full the event is dropped and counted. Failures are logged, never
// returned: events are best-effort diagnostics. Never put key material in a message.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "kube/client.h"

namespace keygate::kube {

enum class EventType { kNormal, kWarning };
const char* eventTypeName(EventType type);

// The interface controllers use, so their tests can substitute a recording fake.
class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // involvedObject: {apiVersion, kind, namespace, name, uid, resourceVersion} (see objectReference()).
  virtual void record(const Json& involvedObject, EventType type, const std::string& reason,
                      const std::string& message) = 0;
};
using EventRecorderPtr = std::shared_ptr<EventRecorder>;

// The involvedObject reference for an API object (apiVersion, kind, namespace, name, uid,
// resourceVersion), leaving out fields the object lacks.
Json objectReference(const Json& object);

struct EventRecorderOptions {
  std::string component = "keygate";   // source.component and reportingComponent
  std::string reportingInstance;        // the pod name; also source.host when set
  size_t queueSize = 1000;              // pending events beyond this are dropped
  size_t cacheSize = 4096;              // recent Events remembered for de-duplication
  int maxAttempts = 3;                  // per event, for transient errors
  std::chrono::milliseconds retryDelay{100};  // doubles per attempt
  const Clock* clock = nullptr;         // null = realClock(); stamps timestamps and names
};

class ApiEventRecorder final : public EventRecorder {
 public:
  ApiEventRecorder(ClientPtr client, EventRecorderOptions options);
  // shutDown() with a short flush.
  ~ApiEventRecorder() override;
  ApiEventRecorder(const ApiEventRecorder&) = delete;
  ApiEventRecorder& operator=(const ApiEventRecorder&) = delete;

  void record(const Json& involvedObject, EventType type, const std::string& reason,
              const std::string& message) override;

  // Waits until every queued event has been sent (or given up on). False on timeout.
  bool flush(std::chrono::milliseconds timeout);
  // Stops accepting events, sends what is queued for up to `flushTimeout`, then joins the
  // sender thread (an API call in progress finishes first). Idempotent.
  void shutDown(std::chrono::milliseconds flushTimeout = std::chrono::milliseconds(2000));

  uint64_t dropped() const { return dropped_.load(); }  // queue full or shut down
  uint64_t sent() const { return sent_.load(); }        // creates + patches that succeeded
  uint64_t failed() const { return failed_.load(); }    // gave up after errors

 private:
  struct Pending {
    Json involvedObject;
    EventType type;
    std::string reason;
    std::string message;
    WallTime at;
  };
  // What we know of an Event already in the API.
  struct CachedEvent {
    std::string namespace_;
    std::string name;
    int64_t count = 0;
    std::string firstTimestamp;
  };
  using LruList = std::list<std::pair<std::string, CachedEvent>>;

  void run();
  void send(const Pending& p);
  bool createEvent(const Pending& p, const std::string& key, int64_t count, const std::string& firstTimestamp);
  // Calls `op` until it succeeds, fails permanently, or attempts run out.
  template <typename Op>
  auto withRetries(Op op) -> decltype(op());
  std::string eventName(const std::string& objectName, WallTime at);
  void remember(const std::string& key, CachedEvent ev);
  void forget(const std::string& key);

  ClientPtr client_;
  const EventRecorderOptions options_;
  const Clock& clock_;
  const log::Logger log_{"events"};

  std::mutex mu_;
  std::condition_variable cond_;      // sender: work or stop
  std::condition_variable idleCond_;  // flush(): queue empty and nothing in flight
  std::deque<Pending> queue_;
  bool inFlight_ = false;
  bool stopping_ = false;   // no new events
  bool abandon_ = false;    // flush deadline passed: drop the rest
  std::thread thread_;

  // Sender-thread state.
  LruList lru_;
  std::unordered_map<std::string, LruList::iterator> cache_;
  int64_t lastNameNanos_ = 0;

  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace keygate::kube

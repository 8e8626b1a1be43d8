#pragma once
// Keeps tenant storage free of material no key accounts for (issue 17; docs/scale.md "Objects
// nobody accounts for"). For every backend and every namespace that has EncryptionKeys on it,
// KeyBackend::sweepStrays is told which key versions, Destroyed versions and wrapping keys
// the informer cache accounts for; strays it disables or destroys are audited
// (StrayObjectDisabled / StrayObjectDestroyed) and counted (keygate_backend_stray_objects_total),
// and the latest sweep's pending and retained counts are exported per backend.
//
// When: a full sweep at start() (a restart after a kill inside object creation is the case
// that leaves half-made objects), then every `interval`; request() asks for one tenant soon
// (the reconciler calls it when a create failed half-way). Sweeps run on one thread of their
// own, one tenant at a time, at most one per tenant per `minSpacing`, so an HSM is never
// stormed. Backends without a sweep (Unimplemented) are skipped.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backends/key_backend.h"
#include "common/clock.h"
#include "controllers/audit.h"
#include "controllers/backend_set.h"
#include "kube/cache.h"
#include "kube/informer.h"

namespace keygate::controllers {

// What a sweep needs of every EncryptionKey (uid, versions and their states, the BYOK wrapping
// key's serial, backend), kept up to date from the keys informer's events: a sweep then
// neither decodes a tenant's keys inside the token's exclusive section nor holds them all
// decoded (100k keys in one tenant took ~6 s there and a few hundred MB). Thread-safe.
class KeyAccountingIndex {
 public:
  kube::EventHandlers handlers();
  void set(const Json& key);
  void drop(const std::string& cacheKey);  // "namespace/name"
  // The same answer as accountedIn() over the cache the events came from.
  Result<backends::AccountedObjects> accountedIn(const std::string& ns) const;
  // Namespaces with keys, per backend (spec.backend).
  std::map<std::string, std::set<std::string>> tenantsByBackend() const;

  struct Version {
    int64_t version = 0;
    bool destroyed = false, pending = false;
  };
  struct Entry {
    std::string backend, uid;
    std::string error;  // not empty: the key cannot be read
    std::vector<Version> versions;
    int64_t wrappingVersion = 0, wrappingSerial = 0;
  };
  static Entry entryOf(const Json& key);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, Entry>> byNamespace_;  // namespace -> name -> entry
};

struct StraySweeperOptions {
  const kube::ObjectReader* keys = nullptr;  // EncryptionKeys (when `accounting` is not set)
  const KeyAccountingIndex* accounting = nullptr;  // preferred: no decoding at sweep time
  const BackendSet* backends = nullptr;
  AuditSinkPtr audit;
  const Clock* clock = nullptr;  // null = realClock()
  Duration grace = std::chrono::hours(24);
  Duration interval = std::chrono::hours(1);  // 0 = only at start and on request
  Duration minSpacing = std::chrono::seconds(30);
  std::function<void(const std::string& backend, const std::string& action)> counted;
  std::function<void(const std::string& backend, size_t pending, size_t retained)> present;
  // The background thread's first sweep waits until this holds (the keys informer has
  // synced: before, every object would look unaccounted for). Null = at once.
  std::function<bool()> ready;
};

// What the cache accounts for in `ns`; FailedPrecondition when an EncryptionKey there cannot
// be read (then nothing in the namespace may be called a stray).
Result<backends::AccountedObjects> accountedIn(const kube::ObjectReader& keys, const std::string& ns);

class StraySweeper {
 public:
  explicit StraySweeper(StraySweeperOptions options);
  ~StraySweeper();  // stops
  StraySweeper(const StraySweeper&) = delete;
  StraySweeper& operator=(const StraySweeper&) = delete;

  // On the caller's thread (tests; the background thread runs the same).
  std::vector<backends::StrayObject> sweepAll();
  std::vector<backends::StrayObject> sweep(const std::string& backend, const std::string& ns);

  void start();
  void stop();
  // Thread-safe: sweep this tenant of this backend soon.
  void request(const std::string& backend, const std::string& ns);

 private:
  void run();
  WallTime now() const;

  StraySweeperOptions o_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::set<std::pair<std::string, std::string>> requested_;
  std::map<std::pair<std::string, std::string>, SteadyTime> lastSwept_;  // sweep thread only
  std::map<std::string, std::pair<size_t, size_t>> present_;           // per backend, per sweepAll
  std::thread thread_;
};

}  // namespace keygate::controllers

#pragma once
// List-then-watch loop for one resource (client-go's Reflector): lists (paged), hands the
// snapshot to the sink, then watches from that resourceVersion with bookmarks, remembers
// the last resourceVersion from events and bookmarks, re-watches after the server's
// timeout or a dropped connection (no events lost or repeated), relists on 410 (HTTP or
// ERROR event), and backs off on errors. Runs on its own thread.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/backoff.h"
#include "kube/client.h"

namespace keygate::kube {

class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  // A full, consistent snapshot (the first list and every relist), handed over page by
  // page: beginReplace, replacePage for each page, endReplace once the last page has
  // arrived. A list that fails midway never reaches endReplace (the next list begins again).
  virtual void beginReplace() = 0;
  virtual void replacePage(std::vector<Json> items) = 0;
  virtual void endReplace(const std::string& resourceVersion) = 0;
  // The whole snapshot in one page.
  void replace(std::vector<Json> items, const std::string& resourceVersion) {
    beginReplace();
    replacePage(std::move(items));
    endReplace(resourceVersion);
  }
  virtual void apply(WatchEvent event) = 0;  // ADDED / MODIFIED / DELETED only
};

struct ReflectorOptions {
  std::string ns;             // "" = all namespaces
  std::string labelSelector;
  std::string fieldSelector;
  int64_t pageSize = 500;
  int minWatchTimeoutSeconds = 300;  // each watch asks for a random timeout in [min, 2*min]
  BackoffOptions backoff{std::chrono::milliseconds(800), std::chrono::milliseconds(30'000), 2.0, 0.2};
  std::function<void()> onWatchRestart;  // metrics hook: keygate_watch_restarts_total
  // Informers drop metadata.managedFields and kubectl's last-applied-configuration
  // annotation before caching (as controller-runtime's TransformStripManagedFields):
  // nothing in Keygate reads them, together they are most of a cached EncryptionKey
  // written by `kubectl apply` or a GitOps tool, and nothing writes metadata back from a
  // cached copy (metadata changes are JSON patches; a status PUT ignores metadata, and
  // leaving managedFields out of it means "keep the stored ones").
  bool stripManagedFields = true;
};

class Reflector {
 public:
  Reflector(ClientPtr client, Resource resource, ReflectorOptions options, ReflectorSink* sink);
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void start();
  void stop();  // cancels the open watch and joins; idempotent
  bool hasSynced() const { return synced_.load(); }
  std::string lastResourceVersion() const;
  // Counters for tests and metrics.
  int64_t relists() const { return relists_.load(); }
  int64_t watchRestarts() const { return watchRestarts_.load(); }

 private:
  void run();
  Status listAndReplace();
  // Watches until the stream ends. Returns kGone when a relist is needed.
  Status watchOnce();
  void sleepFor(std::chrono::milliseconds d);
  void setResourceVersion(const std::string& rv);

  ClientPtr client_;
  Resource resource_;
  ReflectorOptions options_;
  ReflectorSink* sink_;

  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  std::atomic<int64_t> relists_{0};
  std::atomic<int64_t> watchRestarts_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string resourceVersion_;
  WatchStream* current_ = nullptr;  // guarded by mu_, for stop()
};

}  // namespace keygate::kube

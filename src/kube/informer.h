#pragma once
// A shared informer: a Reflector feeding a Cache, with event handlers. Handlers run on the
// reflector thread and must only enqueue keys (work happens in controllers' workers).

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "kube/cache.h"
#include "kube/reflector.h"

namespace keygate::kube {

struct EventHandlers {
  std::function<void(const ObjectPtr& obj)> onAdd;
  std::function<void(const ObjectPtr& oldObj, const ObjectPtr& newObj)> onUpdate;
  std::function<void(const ObjectPtr& obj)> onDelete;
};

// Handlers that keep a derived index: set(object) on add and update, drop("namespace/name")
// on delete (cmd/gauge_index.h, controllers/stray_sweeper.h).
EventHandlers indexHandlers(std::function<void(const Json& obj)> set, std::function<void(const std::string& key)> drop);

class Informer final : public ReflectorSink {
 public:
  Informer(ClientPtr client, Resource resource, ReflectorOptions options = {});
  ~Informer() override;

  // Register indexers and handlers before start().
  void addIndexer(const std::string& name, IndexFunc fn) { cache_.addIndexer(name, std::move(fn)); }
  void addHandlers(EventHandlers h);

  void start() { reflector_.start(); }
  void stop() { reflector_.stop(); }
  bool hasSynced() const { return reflector_.hasSynced(); }
  // Blocks until synced or the timeout; false on timeout.
  bool waitForSync(std::chrono::milliseconds timeout) const;

  const Cache& cache() const { return cache_; }
  const Reflector& reflector() const { return reflector_; }
  const Resource& resource() const { return resource_; }

  // ReflectorSink
  void beginReplace() override;
  void replacePage(std::vector<Json> items) override;
  void endReplace(const std::string& resourceVersion) override;
  void apply(WatchEvent event) override;

 private:
  ObjectPtr intern(Json&& obj) const;

  Resource resource_;
  bool stripManagedFields_;
  Cache cache_;
  std::vector<EventHandlers> handlers_;
  std::unordered_set<std::string> replaceSeen_;  // keys listed by the snapshot under way
  Reflector reflector_;
};

}  // namespace keygate::kube

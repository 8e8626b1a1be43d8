#pragma once
// Thread-safe object cache keyed by "namespace/name" with secondary indexes. Objects are
// immutable snapshots (shared_ptr<const Json>): readers keep them without copying or locking.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/json.h"

namespace keygate::kube {

using ObjectPtr = std::shared_ptr<const Json>;

// "namespace/name" for namespaced objects, "name" otherwise.
std::string objectKey(const Json& obj);
std::string namespaceOf(const Json& obj);
std::string resourceVersionOf(const Json& obj);

using IndexFunc = std::function<std::vector<std::string>(const Json&)>;

// Read side shared by the informer cache and the in-memory store of `keygate local`.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  virtual ObjectPtr get(const std::string& key) const = 0;
  virtual std::vector<ObjectPtr> list() const = 0;
  virtual std::vector<ObjectPtr> listNamespace(const std::string& ns) const = 0;
  // Objects whose index `indexName` yields `value` (e.g. "byKeyRef" -> "tenant-a/model-weights").
  virtual std::vector<ObjectPtr> byIndex(const std::string& indexName, const std::string& value) const = 0;
};

class Cache final : public ObjectReader {
 public:
  Cache();
  // Register before the first mutation; indexes are maintained on every write.
  void addIndexer(const std::string& name, IndexFunc fn);

  ObjectPtr get(const std::string& key) const override;
  std::vector<ObjectPtr> list() const override;
  std::vector<ObjectPtr> listNamespace(const std::string& ns) const override;
  std::vector<ObjectPtr> byIndex(const std::string& indexName, const std::string& value) const override;
  std::vector<std::string> keys() const;
  size_t size() const;

  // Inserts or replaces; returns the previous object (null if none).
  ObjectPtr upsert(ObjectPtr obj);
  // Removes by key; returns the removed object (null if absent).
  ObjectPtr remove(const std::string& key);

 private:
  using IndexMap = std::unordered_map<std::string, std::unordered_set<std::string>>;  // value -> keys
  void indexLocked(const std::string& key, const Json& obj);
  void unindexLocked(const std::string& key, const Json& obj);
  std::vector<ObjectPtr> collectLocked(const std::unordered_set<std::string>* keys) const;

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, ObjectPtr> items_;
  std::map<std::string, IndexFunc> indexers_;
  std::map<std::string, IndexMap> indexes_;
};

}  // namespace keygate::kube

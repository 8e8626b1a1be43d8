#pragma once
// Thread-safe object cache keyed by "namespace/name" with secondary indexes.
//
// At rest an object is kept packed (kube/packed_object.h: a few hundred bytes instead of
// the kilobytes of a decoded nlohmann::json tree); readers get an immutable decoded snapshot
// (shared_ptr<const Json>) they can keep without copying or locking. While anyone holds
// a snapshot, every reader gets that same snapshot (so memos keyed by the pointer keep
// working); once nobody does, the next read decodes again. The cache itself holds the last
// 128 objects written, so hot objects are not unpacked, and packs an object only when it
// leaves those 128 (a version replaced before then is never packed). docs/scale.md has the
// figures.

#include <array>
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
#include "kube/packed_object.h"

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
  // Only the keys ("namespace/name") of byIndex() / listNamespace(), sorted: nothing decoded.
  virtual std::vector<std::string> keysByIndex(const std::string& indexName, const std::string& value) const;
  std::vector<std::string> keysInNamespace(const std::string& ns) const { return keysByIndex(kNamespaceIndex, ns); }
  static constexpr const char* kNamespaceIndex = "__namespace";
  // Calls fn on every object, in key order, one at a time: unlike list(), it never holds
  // every object decoded at once (a metrics scrape or a sweep over 100k keys).
  virtual void forEach(const std::function<void(const Json&)>& fn) const;
  // The same for one namespace's objects; fn returns false to stop early.
  virtual void forEachInNamespace(const std::string& ns, const std::function<bool(const Json&)>& fn) const;
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
  std::vector<std::string> keysByIndex(const std::string& indexName, const std::string& value) const override;
  void forEach(const std::function<void(const Json&)>& fn) const override;
  void forEachInNamespace(const std::string& ns, const std::function<bool(const Json&)>& fn) const override;
  std::vector<std::string> keys() const;
  size_t size() const;
  // The bytes every object takes at rest (bench/scale_bench).
  size_t packedBytes() const;

  // Inserts or replaces; returns the previous object (null if none).
  ObjectPtr upsert(ObjectPtr obj);
  // Removes by key; returns the removed object (null if absent).
  ObjectPtr remove(const std::string& key);

 private:
  struct Entry {
    std::string packed;                       // ObjectPacker::pack; empty while in recent_
    mutable std::weak_ptr<const Json> live;   // the decoded snapshot while someone holds it
  };
  using Items = std::unordered_map<std::string, Entry>;
  // Index sets point at the keys of items_ (stable: unordered_map nodes never move).
  using KeySet = std::unordered_set<const std::string*>;
  using IndexMap = std::unordered_map<std::string, KeySet>;  // value -> keys

  ObjectPtr materialize(const Entry& e) const;
  std::mutex& liveMutex(const Entry& e) const;  // the stripe of liveMu_ guarding e.live
  // Packs an object that left recent_ into its entry, if the entry still holds that version.
  void packEvicted(const ObjectPtr& obj);
  void indexLocked(const std::string* key, const Json& obj);
  void unindexLocked(const std::string* key, const Json& obj);
  std::vector<std::pair<const std::string*, const Entry*>> sortedLocked(const KeySet* keys) const;
  std::vector<ObjectPtr> collectLocked(const KeySet* keys) const;
  // Visits `keys` (sorted) a batch at a time, fn unlocked; stops when fn returns false.
  void visitBatches(const std::vector<std::string>& keys, const std::function<bool(const Json&)>& fn) const;

  mutable std::shared_mutex mu_;
  // The last objects written stay decoded (strong references, under mu_): the reconcile that
  // follows a watch event, and the next event's unindexing, read them without unpacking.
  static constexpr size_t kRecentlyWritten = 128;
  std::array<ObjectPtr, kRecentlyWritten> recent_;
  size_t recentNext_ = 0;
  // Guards Entry::live (readers hold mu_ shared); striped by entry address.
  mutable std::array<std::mutex, 16> liveMu_;
  ObjectPacker packer_;
  Items items_;
  std::map<std::string, IndexFunc> indexers_;
  std::map<std::string, IndexMap> indexes_;
};

}  // namespace keygate::kube

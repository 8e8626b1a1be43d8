#include "kube/cache.h"

#include <algorithm>
#include <utility>

namespace keygate::kube {

std::string namespaceOf(const Json& obj) { return getString(obj, "metadata.namespace"); }
std::string resourceVersionOf(const Json& obj) { return getString(obj, "metadata.resourceVersion"); }

std::string objectKey(const Json& obj) {
  std::string ns = namespaceOf(obj);
  std::string name = getString(obj, "metadata.name");
  return ns.empty() ? name : ns + "/" + name;
}

void ObjectReader::forEach(const std::function<void(const Json&)>& fn) const {
  for (const auto& o : list())
    if (o) fn(*o);
}

std::vector<std::string> ObjectReader::keysByIndex(const std::string& indexName, const std::string& value) const {
  std::vector<std::string> out;
  for (const auto& o : indexName == kNamespaceIndex ? listNamespace(value) : byIndex(indexName, value))
    if (o) out.push_back(objectKey(*o));
  return out;
}

void ObjectReader::forEachInNamespace(const std::string& ns, const std::function<bool(const Json&)>& fn) const {
  for (const auto& o : listNamespace(ns))
    if (o && !fn(*o)) return;
}

Cache::Cache() {
  indexers_[kNamespaceIndex] = [](const Json& o) { return std::vector<std::string>{namespaceOf(o)}; };
}

std::mutex& Cache::liveMutex(const Entry& e) const {
  return liveMu_[(reinterpret_cast<uintptr_t>(&e) >> 4) % liveMu_.size()];
}

ObjectPtr Cache::materialize(const Entry& e) const {
  std::mutex& m = liveMutex(e);
  {
    std::lock_guard<std::mutex> lock(m);
    if (ObjectPtr p = e.live.lock()) return p;
  }
  // Outside the stripe lock: decoding takes microseconds. Bytes this cache wrote itself
  // always decode; were they ever not to, readers get an empty object, not an exception.
  std::optional<Json> decoded = packer_.unpack(e.packed);
  ObjectPtr fresh = std::make_shared<const Json>(decoded ? std::move(*decoded) : Json::object());
  std::lock_guard<std::mutex> lock(m);
  if (ObjectPtr p = e.live.lock()) return p;  // another reader won the race: share its copy
  e.live = fresh;
  return fresh;
}

void Cache::addIndexer(const std::string& name, IndexFunc fn) {
  std::unique_lock lock(mu_);
  indexers_[name] = std::move(fn);
  auto& idx = indexes_[name];
  idx.clear();
  for (const auto& [key, entry] : items_) {
    ObjectPtr obj = materialize(entry);
    for (const auto& v : indexers_[name](*obj)) idx[v].insert(&key);
  }
}

ObjectPtr Cache::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : materialize(it->second);
}

std::vector<std::pair<const std::string*, const Cache::Entry*>> Cache::sortedLocked(const KeySet* keys) const {
  std::vector<std::pair<const std::string*, const Entry*>> v;
  if (keys) {
    v.reserve(keys->size());
    for (const std::string* k : *keys)
      if (auto it = items_.find(*k); it != items_.end()) v.emplace_back(&it->first, &it->second);
  } else {
    v.reserve(items_.size());
    for (const auto& [k, e] : items_) v.emplace_back(&k, &e);
  }
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });
  return v;
}

std::vector<ObjectPtr> Cache::collectLocked(const KeySet* keys) const {
  std::vector<ObjectPtr> out;
  for (const auto& [_, e] : sortedLocked(keys)) out.push_back(materialize(*e));
  return out;
}

std::vector<ObjectPtr> Cache::list() const {
  std::shared_lock lock(mu_);
  return collectLocked(nullptr);
}

void Cache::visitBatches(const std::vector<std::string>& keys, const std::function<bool(const Json&)>& fn) const {
  // Objects are decoded under the lock one batch at a time and fn runs unlocked (it may
  // read the cache): at most one batch is decoded at once.
  constexpr size_t kBatch = 256;
  for (size_t i = 0; i < keys.size(); i += kBatch) {
    std::vector<ObjectPtr> batch;
    {
      std::shared_lock lock(mu_);
      for (size_t j = i; j < std::min(keys.size(), i + kBatch); ++j)
        if (auto it = items_.find(keys[j]); it != items_.end()) batch.push_back(materialize(it->second));
    }
    for (const auto& o : batch)
      if (!fn(*o)) return;
  }
}

void Cache::forEach(const std::function<void(const Json&)>& fn) const {
  visitBatches(keys(), [&fn](const Json& o) {
    fn(o);
    return true;
  });
}

std::vector<std::string> Cache::keysByIndex(const std::string& indexName, const std::string& value) const {
  std::vector<std::string> keys;
  {
    std::shared_lock lock(mu_);
    auto idx = indexes_.find(indexName);
    if (idx == indexes_.end()) return keys;
    auto it = idx->second.find(value);
    if (it == idx->second.end()) return keys;
    keys.reserve(it->second.size());
    for (const std::string* k : it->second) keys.push_back(*k);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

void Cache::forEachInNamespace(const std::string& ns, const std::function<bool(const Json&)>& fn) const {
  visitBatches(keysInNamespace(ns), fn);
}

std::vector<ObjectPtr> Cache::listNamespace(const std::string& ns) const { return byIndex(kNamespaceIndex, ns); }

std::vector<ObjectPtr> Cache::byIndex(const std::string& indexName, const std::string& value) const {
  std::shared_lock lock(mu_);
  auto idx = indexes_.find(indexName);
  if (idx == indexes_.end()) return {};
  auto it = idx->second.find(value);
  if (it == idx->second.end()) return {};
  return collectLocked(&it->second);
}

std::vector<std::string> Cache::keys() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [k, _] : items_) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

size_t Cache::size() const {
  std::shared_lock lock(mu_);
  return items_.size();
}

size_t Cache::packedBytes() const {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const auto& [_, e] : items_) n += e.packed.size();
  return n;
}

void Cache::indexLocked(const std::string* key, const Json& obj) {
  for (const auto& [name, fn] : indexers_)
    for (const auto& v : fn(obj)) indexes_[name][v].insert(key);
}

void Cache::unindexLocked(const std::string* key, const Json& obj) {
  for (const auto& [name, fn] : indexers_) {
    auto& idx = indexes_[name];
    for (const auto& v : fn(obj)) {
      auto it = idx.find(v);
      if (it == idx.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) idx.erase(it);
    }
  }
}

ObjectPtr Cache::upsert(ObjectPtr obj) {
  std::string key = objectKey(*obj);
  ObjectPtr evicted;  // released after the lock, once packed
  ObjectPtr old;
  {
    std::unique_lock lock(mu_);
    evicted = std::exchange(recent_[recentNext_++ % kRecentlyWritten], obj);
    auto it = items_.find(key);
    if (it != items_.end()) {
      old = materialize(it->second);
      unindexLocked(&it->first, *old);
    } else {
      it = items_.emplace(std::move(key), Entry{}).first;
    }
    // Packed when it leaves recent_: a version replaced while still recent (the object a
    // create returns, overwritten by the status written a moment later) is never packed.
    it->second.packed.clear();
    it->second.live = obj;
    indexLocked(&it->first, *obj);
  }
  if (evicted) packEvicted(evicted);
  return old;
}

void Cache::packEvicted(const ObjectPtr& obj) {
  // The entry still points at this version and holds no bytes: pack it (outside the lock,
  // while `obj` keeps the live snapshot valid for readers) and store the bytes unless the
  // entry moved on meanwhile. Invariant: an entry without bytes has a live snapshot held by
  // recent_ or by the caller here.
  const std::string key = objectKey(*obj);
  {
    std::shared_lock lock(mu_);
    auto it = items_.find(key);
    if (it == items_.end() || !it->second.packed.empty()) return;
    // Readers holding mu_ shared may set `live` (under its stripe lock) when it expired.
    std::lock_guard<std::mutex> stripe(liveMutex(it->second));
    if (it->second.live.lock() != obj) return;
  }
  std::string packed = packer_.pack(*obj);
  std::unique_lock lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end() || !it->second.packed.empty() || it->second.live.lock() != obj) return;
  it->second.packed = std::move(packed);
}

ObjectPtr Cache::remove(const std::string& key) {
  std::unique_lock lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  ObjectPtr old = materialize(it->second);
  unindexLocked(&it->first, *old);
  items_.erase(it);
  return old;
}

}  // namespace keygate::kube

#include "kube/cache.h"

#include <algorithm>

namespace keygate::kube {

std::string namespaceOf(const Json& obj) { return getString(obj, "metadata.namespace"); }
std::string resourceVersionOf(const Json& obj) { return getString(obj, "metadata.resourceVersion"); }

std::string objectKey(const Json& obj) {
  std::string ns = namespaceOf(obj);
  std::string name = getString(obj, "metadata.name");
  return ns.empty() ? name : ns + "/" + name;
}

static const char* kNamespaceIndex = "__namespace";

Cache::Cache() {
  indexers_[kNamespaceIndex] = [](const Json& o) { return std::vector<std::string>{namespaceOf(o)}; };
}

void Cache::addIndexer(const std::string& name, IndexFunc fn) {
  std::unique_lock lock(mu_);
  indexers_[name] = std::move(fn);
  auto& idx = indexes_[name];
  idx.clear();
  for (const auto& [key, obj] : items_)
    for (const auto& v : indexers_[name](*obj)) idx[v].insert(key);
}

ObjectPtr Cache::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Cache::collectLocked(const std::unordered_set<std::string>* keys) const {
  std::vector<std::pair<std::string, ObjectPtr>> v;
  if (keys) {
    for (const auto& k : *keys)
      if (auto it = items_.find(k); it != items_.end()) v.emplace_back(k, it->second);
  } else {
    v.assign(items_.begin(), items_.end());
  }
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<ObjectPtr> out;
  out.reserve(v.size());
  for (auto& p : v) out.push_back(std::move(p.second));
  return out;
}

std::vector<ObjectPtr> Cache::list() const {
  std::shared_lock lock(mu_);
  return collectLocked(nullptr);
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

void Cache::indexLocked(const std::string& key, const Json& obj) {
  for (const auto& [name, fn] : indexers_)
    for (const auto& v : fn(obj)) indexes_[name][v].insert(key);
}

void Cache::unindexLocked(const std::string& key, const Json& obj) {
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
  std::unique_lock lock(mu_);
  ObjectPtr old;
  auto it = items_.find(key);
  if (it != items_.end()) {
    old = it->second;
    unindexLocked(key, *old);
    it->second = obj;
  } else {
    items_.emplace(key, obj);
  }
  indexLocked(key, *obj);
  return old;
}

ObjectPtr Cache::remove(const std::string& key) {
  std::unique_lock lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  ObjectPtr old = it->second;
  unindexLocked(key, *old);
  items_.erase(it);
  return old;
}

}  // namespace keygate::kube

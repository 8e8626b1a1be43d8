#include "kube/informer.h"

#include <thread>
#include <unordered_set>

namespace keygate::kube {

Informer::Informer(ClientPtr client, Resource resource, ReflectorOptions options)
    : resource_(resource),
      stripManagedFields_(options.stripManagedFields),
      reflector_(std::move(client), std::move(resource), std::move(options), this) {}

ObjectPtr Informer::intern(Json&& obj) const {
  if (stripManagedFields_)
    if (auto meta = obj.find("metadata"); meta != obj.end() && meta->is_object()) meta->erase("managedFields");
  return std::make_shared<const Json>(std::move(obj));
}

Informer::~Informer() { reflector_.stop(); }

void Informer::addHandlers(EventHandlers h) { handlers_.push_back(std::move(h)); }

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!hasSynced()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void Informer::replace(std::vector<Json> items, const std::string&) {
  // Diff the snapshot against the cache so handlers see what changed while we were not
  // watching (objects deleted during a 410 gap produce onDelete with their last state).
  std::unordered_set<std::string> seen;
  for (auto& item : items) {
    auto obj = intern(std::move(item));
    std::string key = objectKey(*obj);
    seen.insert(key);
    ObjectPtr old = cache_.upsert(obj);
    for (auto& h : handlers_) {
      if (!old) {
        if (h.onAdd) h.onAdd(obj);
      } else if (resourceVersionOf(*old) != resourceVersionOf(*obj)) {
        if (h.onUpdate) h.onUpdate(old, obj);
      }
    }
  }
  for (const auto& key : cache_.keys()) {
    if (seen.count(key)) continue;
    ObjectPtr old = cache_.remove(key);
    if (!old) continue;
    for (auto& h : handlers_)
      if (h.onDelete) h.onDelete(old);
  }
}

void Informer::apply(WatchEvent ev) {
  auto obj = intern(std::move(ev.object));
  if (ev.type == WatchEvent::Type::kDeleted) {
    ObjectPtr old = cache_.remove(objectKey(*obj));
    for (auto& h : handlers_)
      if (h.onDelete) h.onDelete(obj);
    (void)old;
    return;
  }
  ObjectPtr old = cache_.upsert(obj);
  for (auto& h : handlers_) {
    if (old) {
      if (h.onUpdate) h.onUpdate(old, obj);
    } else if (h.onAdd) {
      h.onAdd(obj);
    }
  }
}

}  // namespace keygate::kube

#include "kube/informer.h"

#include <thread>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace keygate::kube {

Informer::Informer(ClientPtr client, Resource resource, ReflectorOptions options)
    : resource_(resource),
      stripManagedFields_(options.stripManagedFields),
      reflector_(std::move(client), std::move(resource), std::move(options), this) {}

ObjectPtr Informer::intern(Json&& obj) const {
  if (stripManagedFields_)
    if (auto meta = obj.find("metadata"); meta != obj.end() && meta->is_object()) {
      meta->erase("managedFields");
      if (auto ann = meta->find("annotations"); ann != meta->end() && ann->is_object()) {
        ann->erase("kubectl.kubernetes.io/last-applied-configuration");
        if (ann->empty()) meta->erase(ann);
      }
    }
  return std::make_shared<const Json>(std::move(obj));
}

EventHandlers indexHandlers(std::function<void(const Json&)> set, std::function<void(const std::string&)> drop) {
  EventHandlers h;
  h.onAdd = [set](const ObjectPtr& o) { set(*o); };
  h.onUpdate = [set](const ObjectPtr&, const ObjectPtr& o) { set(*o); };
  h.onDelete = [drop](const ObjectPtr& o) { drop(objectKey(*o)); };
  return h;
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

void Informer::beginReplace() { replaceSeen_.clear(); }

// Each page is applied as it arrives, like watch events for those objects (each is a newer
// state of one object); what the snapshot no longer lists is deleted at its end, so
// handlers also see what changed while we were not watching (objects deleted during a 410
// gap produce onDelete with their last state).
void Informer::replacePage(std::vector<Json> items) {
  for (auto& item : items) {
    auto obj = intern(std::move(item));
    std::string key = objectKey(*obj);
    ObjectPtr old = cache_.upsert(obj);
    replaceSeen_.insert(std::move(key));
    for (auto& h : handlers_) {
      if (!old) {
        if (h.onAdd) h.onAdd(obj);
      } else if (resourceVersionOf(*old) != resourceVersionOf(*obj)) {
        if (h.onUpdate) h.onUpdate(old, obj);
      }
    }
  }
}

void Informer::endReplace(const std::string&) {
  for (const auto& key : cache_.keys()) {
    if (replaceSeen_.count(key)) continue;
    ObjectPtr old = cache_.remove(key);
    if (!old) continue;
    for (auto& h : handlers_)
      if (h.onDelete) h.onDelete(old);
  }
  replaceSeen_.clear();
  replaceSeen_.rehash(0);
#ifdef __GLIBC__
  // A list leaves the heap full of freed page trees: hand them back to the system (a few
  // milliseconds, once per list) so RSS is what the cache holds.
  ::malloc_trim(0);
#endif
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

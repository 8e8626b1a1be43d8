#pragma once
// A reconciler's own writes are ahead of its informer cache for a moment. Remember the
// resourceVersion each write replaced; while the cache still shows it, a reconcile should
// wait (the watch event of our write enqueues the key again) instead of deciding on stale
// data and earning a 409. Thread-safe.

#include <map>
#include <mutex>
#include <string>

#include "common/json.h"

namespace keygate::controllers {

class OwnWrites {
 public:
  // `before`: the object as it was when we wrote over it.
  void remember(const std::string& key, const Json& before) {
    std::lock_guard<std::mutex> l(mu_);
    writtenOver_[key] = getString(before, "metadata.resourceVersion");
  }
  // The object is gone (deleted): nothing to wait for.
  void forget(const std::string& key) {
    std::lock_guard<std::mutex> l(mu_);
    writtenOver_.erase(key);
  }
  size_t size() {
    std::lock_guard<std::mutex> l(mu_);
    return writtenOver_.size();
  }
  // True while `cached` is still the version our write replaced.
  bool cacheIsBehind(const std::string& key, const Json& cached) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = writtenOver_.find(key);
    if (it == writtenOver_.end()) return false;
    if (it->second == getString(cached, "metadata.resourceVersion")) return true;
    writtenOver_.erase(it);  // the cache has moved past our write
    return false;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> writtenOver_;  // key -> resourceVersion we replaced
};

}  // namespace keygate::controllers

#include "cmd/gauge_index.h"

#include "cmd/snapshot.h"
#include "kube/cache.h"

namespace keygate::cmd {
namespace {

int64_t pack(const std::optional<WallTime>& t) {
  return t ? std::chrono::duration_cast<std::chrono::nanoseconds>(t->time_since_epoch()).count() : INT64_MIN;
}

std::optional<WallTime> unpack(int64_t ns) {
  if (ns == INT64_MIN) return std::nullopt;
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(ns)));
}

// "namespace/name" -> {namespace, name}
std::pair<std::string, std::string> split(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace

uint16_t GaugeIndex::intern(const std::string& v) {
  if (auto it = valueIds_.find(v); it != valueIds_.end()) return it->second;
  // Label values come from enums the API server validated; should something else ever
  // pour in, the last slot stands for every further value rather than growing forever.
  if (values_.size() >= 0xffff) return 0xffff - 1;
  values_.push_back(v);
  return valueIds_[v] = static_cast<uint16_t>(values_.size() - 1);
}

kube::EventHandlers GaugeIndex::keyHandlers() {
  return kube::indexHandlers(
      [this](const Json& o) {
        metrics::KeyGauge g = keyGauge(o);
        std::lock_guard<std::mutex> l(mu_);
        keys_[kube::objectKey(o)] = {intern(g.state), intern(g.purpose), intern(g.backend), pack(g.preActiveExpiresAt),
                                     pack(g.rotationDueAt)};
      },
      [this](const std::string& key) {
        std::lock_guard<std::mutex> l(mu_);
        keys_.erase(key);
      });
}

kube::EventHandlers GaugeIndex::requestHandlers() {
  return kube::indexHandlers(
      [this](const Json& o) {
        metrics::RequestGauge g = requestGauge(o);
        std::lock_guard<std::mutex> l(mu_);
        requests_[kube::objectKey(o)] = intern(g.phase);
      },
      [this](const std::string& key) {
        std::lock_guard<std::mutex> l(mu_);
        requests_.erase(key);
      });
}

kube::EventHandlers GaugeIndex::bindingHandlers() {
  return kube::indexHandlers(
      [this](const Json& o) {
        metrics::BindingGauge g = bindingGauge(o);
        std::lock_guard<std::mutex> l(mu_);
        bindings_[kube::objectKey(o)] = {pack(g.reviewDueAt)};
      },
      [this](const std::string& key) {
        std::lock_guard<std::mutex> l(mu_);
        bindings_.erase(key);
      });
}

metrics::Snapshot GaugeIndex::snapshot() const {
  metrics::Snapshot s;
  std::lock_guard<std::mutex> l(mu_);
  s.keys.reserve(keys_.size());
  for (const auto& [key, r] : keys_) {
    auto [ns, name] = split(key);
    s.keys.push_back({std::move(ns), std::move(name), values_[r.state], values_[r.purpose], values_[r.backend],
                      unpack(r.preActiveExpiresAt), unpack(r.rotationDueAt)});
  }
  s.requests.reserve(requests_.size());
  for (const auto& [key, phase] : requests_) s.requests.push_back({split(key).first, values_[phase]});
  s.bindings.reserve(bindings_.size());
  for (const auto& [key, r] : bindings_) {
    auto [ns, name] = split(key);
    s.bindings.push_back({std::move(ns), std::move(name), unpack(r.reviewDueAt)});
  }
  return s;
}

}  // namespace keygate::cmd

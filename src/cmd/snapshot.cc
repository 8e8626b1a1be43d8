#include "cmd/snapshot.h"

#include "common/time.h"

namespace keygate::cmd {

void addKey(metrics::Snapshot& s, const Json& obj) {
  const Json* o = &obj;
  {
    metrics::KeyGauge g;
    g.ns = getString(*o, "metadata.namespace");
    g.name = getString(*o, "metadata.name");
    g.state = getString(*o, "status.state", "Pending");
    g.purpose = getString(*o, "spec.purpose");
    g.backend = getString(*o, "spec.backend");
    if (auto t = parseRfc3339(getString(*o, "status.preActiveExpiresAt")); t.ok()) g.preActiveExpiresAt = *t;
    // Rotation is due one period after the current version was activated.
    if (auto period = parseGoDuration(getString(*o, "spec.rotation.period")); period.ok()) {
      int64_t current = getInt(*o, "status.currentVersion");
      if (const Json* vs = findPath(*o, "status.versions"); vs && vs->is_array())
        for (const auto& v : *vs)
          if (getInt(v, "version") == current)
            if (auto at = parseRfc3339(getString(v, "activatedAt")); at.ok())
              g.rotationDueAt = *at + std::chrono::duration_cast<WallTime::duration>(*period);
    }
    s.keys.push_back(std::move(g));
  }
}

void addRequest(metrics::Snapshot& s, const Json& o) {
  s.requests.push_back({getString(o, "metadata.namespace"), getString(o, "status.phase", "Pending")});
}

void addBinding(metrics::Snapshot& s, const Json& o) {
  metrics::BindingGauge g{getString(o, "metadata.namespace"), getString(o, "metadata.name"), std::nullopt};
  // reviewBy is a date; the binding grants through the end of that day (UTC).
  if (auto t = parseRfc3339(getString(o, "spec.reviewBy")); t.ok()) g.reviewDueAt = *t + std::chrono::hours(24);
  s.bindings.push_back(std::move(g));
}

metrics::Snapshot snapshotFrom(const std::vector<const Json*>& keys, const std::vector<const Json*>& requests,
                               const std::vector<const Json*>& bindings) {
  metrics::Snapshot s;
  for (const Json* o : keys) addKey(s, *o);
  for (const Json* o : requests) addRequest(s, *o);
  for (const Json* o : bindings) addBinding(s, *o);
  return s;
}

metrics::Snapshot snapshotFrom(const kube::ObjectReader& keys, const kube::ObjectReader& requests,
                               const kube::ObjectReader& bindings) {
  metrics::Snapshot s;
  keys.forEach([&s](const Json& o) { addKey(s, o); });
  requests.forEach([&s](const Json& o) { addRequest(s, o); });
  bindings.forEach([&s](const Json& o) { addBinding(s, o); });
  return s;
}

}  // namespace keygate::cmd

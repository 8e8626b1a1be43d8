#include "cmd/snapshot.h"

#include "common/time.h"

namespace keygate::cmd {

metrics::KeyGauge keyGauge(const Json& obj) {
  const Json* o = &obj;
  metrics::KeyGauge g;
  {
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
  }
  return g;
}

metrics::RequestGauge requestGauge(const Json& o) {
  return {getString(o, "metadata.namespace"), getString(o, "status.phase", "Pending")};
}

metrics::BindingGauge bindingGauge(const Json& o) {
  metrics::BindingGauge g{getString(o, "metadata.namespace"), getString(o, "metadata.name"), std::nullopt};
  // reviewBy is a date; the binding grants through the end of that day (UTC).
  if (auto t = parseRfc3339(getString(o, "spec.reviewBy")); t.ok()) g.reviewDueAt = *t + std::chrono::hours(24);
  return g;
}



metrics::Snapshot snapshotFrom(const std::vector<const Json*>& keys, const std::vector<const Json*>& requests,
                               const std::vector<const Json*>& bindings) {
  metrics::Snapshot s;
  for (const Json* o : keys) s.keys.push_back(keyGauge(*o));
  for (const Json* o : requests) s.requests.push_back(requestGauge(*o));
  for (const Json* o : bindings) s.bindings.push_back(bindingGauge(*o));
  return s;
}


}  // namespace keygate::cmd

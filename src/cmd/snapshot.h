#pragma once
// Cache-derived gauges for /metrics, from whatever holds the objects (informer caches in
// the operator, the in-memory store in `keygate local`).
#include <vector>

#include "common/json.h"
#include "kube/cache.h"
#include "metrics/metrics.h"

namespace keygate::cmd {

metrics::Snapshot snapshotFrom(const std::vector<const Json*>& keys, const std::vector<const Json*>& requests,
                               const std::vector<const Json*>& bindings);
// From caches, one object at a time (a scrape never holds 100k keys decoded).
metrics::Snapshot snapshotFrom(const kube::ObjectReader& keys, const kube::ObjectReader& requests,
                               const kube::ObjectReader& bindings);

void addKey(metrics::Snapshot& s, const Json& key);
void addRequest(metrics::Snapshot& s, const Json& request);
void addBinding(metrics::Snapshot& s, const Json& binding);

}  // namespace keygate::cmd

#pragma once
// Cache-derived gauges for /metrics, from whatever holds the objects (informer caches in
// the operator, the in-memory store in `keygate local`).
#include <vector>

#include "common/json.h"
#include "metrics/metrics.h"

namespace keygate::cmd {

metrics::Snapshot snapshotFrom(const std::vector<const Json*>& keys, const std::vector<const Json*>& requests,
                               const std::vector<const Json*>& bindings);

// One object's row (cmd/gauge_index.h keeps them up to date in the operator).
metrics::KeyGauge keyGauge(const Json& key);
metrics::RequestGauge requestGauge(const Json& request);
metrics::BindingGauge bindingGauge(const Json& binding);

}  // namespace keygate::cmd

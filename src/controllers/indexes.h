#pragma once
// Cache indexes shared by controllers and `keygate local`.

#include <functional>
#include <string>
#include <vector>

#include "common/json.h"
#include "kube/cache.h"
#include "kube/informer.h"

namespace keygate::controllers {

// KeyActivationRequests by the key they reference: "namespace/keyName". Cross-namespace
// references are indexed under the request's own namespace only (they are refused later).
inline constexpr const char* kRequestsByKeyIndex = "byKeyRef";
std::vector<std::string> requestsByKey(const Json& request);

// The keys to reconcile again when a Namespace changes: every key in it when its
// keygate.dev/jurisdiction label was set, changed or removed (the label binds the keys'
// jurisdiction); none for other changes. `before` is null for a Namespace just seen.
std::vector<std::string> keysForNamespaceChange(const kube::ObjectReader& keys, const Json* before, const Json& after);
// Namespace informer handlers that enqueue those keys.
kube::EventHandlers keysOnJurisdictionChange(const kube::ObjectReader& keys, std::function<void(const std::string&)> enqueue);

}  // namespace keygate::controllers

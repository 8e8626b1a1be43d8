#pragma once
// Cache indexes shared by controllers and `keygate local`.

#include <string>
#include <vector>

#include "common/json.h"

namespace keygate::controllers {

// KeyActivationRequests by the key they reference: "namespace/keyName". Cross-namespace
// references are indexed under the request's own namespace only (they are refused later).
inline constexpr const char* kRequestsByKeyIndex = "byKeyRef";
std::vector<std::string> requestsByKey(const Json& request);

}  // namespace keygate::controllers

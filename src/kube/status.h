#pragma once
// Decodes Kubernetes API errors (metav1.Status bodies) into keygate::Error.

#include <string>

#include "common/json.h"
#include "common/result.h"
#include "kube/transport.h"

namespace keygate::kube {

// From an HTTP response with a non-2xx status. Falls back to the HTTP status when the body
// is not a Status (e.g. "404 page not found" for an unknown path).
Error errorFromResponse(const HttpResponse& resp);
// From a Status object (watch ERROR events carry one).
Error errorFromStatus(const Json& status, int httpStatusFallback = 0);
ErrorCode codeForHttpStatus(int httpStatus, const std::string& reason);

}  // namespace keygate::kube

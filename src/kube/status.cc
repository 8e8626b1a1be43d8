#include "kube/status.h"

#include <cstdlib>

namespace keygate::kube {

ErrorCode codeForHttpStatus(int s, const std::string& reason) {
  if (s == 409) return reason == "AlreadyExists" ? ErrorCode::kAlreadyExists : ErrorCode::kConflict;
  switch (s) {
    case 400: return ErrorCode::kInvalidArgument;
    case 401: return ErrorCode::kUnauthenticated;
    case 403: return ErrorCode::kPermissionDenied;
    case 404: return ErrorCode::kNotFound;
    case 405: return ErrorCode::kUnimplemented;
    case 406:
    case 415: return ErrorCode::kInvalidArgument;
    case 410: return ErrorCode::kGone;
    case 422: return ErrorCode::kInvalidArgument;
    case 429: return ErrorCode::kResourceExhausted;
    case 503: return ErrorCode::kUnavailable;
    case 504: return ErrorCode::kDeadlineExceeded;
    default: break;
  }
  if (s >= 500) return ErrorCode::kInternal;
  return ErrorCode::kInternal;
}

Error errorFromStatus(const Json& st, int fallback) {
  int code = static_cast<int>(getInt(st, "code", fallback));
  if (code == 0) code = fallback;
  std::string reason = getString(st, "reason");
  std::string message = getString(st, "message");
  if (message.empty()) message = reason.empty() ? "HTTP " + std::to_string(code) : reason;
  Error e(codeForHttpStatus(code, reason), message);
  e.httpStatus = code;
  e.reason = reason;
  if (const Json* causes = findPath(st, "details.causes"); causes && causes->is_array()) {
    for (const auto& c : *causes) {
      if (!c.is_object()) continue;
      e.causes.push_back({getString(c, "reason"), getString(c, "message"), getString(c, "field")});
    }
  }
  if (const Json* ra = findPath(st, "details.retryAfterSeconds"); ra && ra->is_number())
    e.retryAfterSeconds = ra->get<double>();
  return e;
}

Error errorFromResponse(const HttpResponse& resp) {
  Error e;
  auto parsed = parseJson(resp.body);
  if (parsed.ok() && parsed->is_object() && getString(*parsed, "kind") == "Status") {
    e = errorFromStatus(*parsed, resp.status);
    e.httpStatus = resp.status;  // the HTTP status wins if the body disagrees
    e.code = codeForHttpStatus(resp.status, e.reason);
  } else {
    std::string body = resp.body.substr(0, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
    e = Error(codeForHttpStatus(resp.status, ""), "HTTP " + std::to_string(resp.status) + (body.empty() ? "" : ": " + body));
    e.httpStatus = resp.status;
  }
  std::string ra = resp.header("retry-after");
  if (!ra.empty()) {
    char* end = nullptr;
    double v = std::strtod(ra.c_str(), &end);
    if (end != ra.c_str() && v >= 0) e.retryAfterSeconds = v;
  }
  return e;
}

}  // namespace keygate::kube

#include "common/result.h"

namespace keygate {

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kNotFound: return "NotFound";
    case ErrorCode::kAlreadyExists: return "AlreadyExists";
    case ErrorCode::kConflict: return "Conflict";
    case ErrorCode::kGone: return "Gone";
    case ErrorCode::kUnauthenticated: return "Unauthenticated";
    case ErrorCode::kPermissionDenied: return "PermissionDenied";
    case ErrorCode::kFailedPrecondition: return "FailedPrecondition";
    case ErrorCode::kResourceExhausted: return "ResourceExhausted";
    case ErrorCode::kDeadlineExceeded: return "DeadlineExceeded";
    case ErrorCode::kCancelled: return "Cancelled";
    case ErrorCode::kUnavailable: return "Unavailable";
    case ErrorCode::kInternal: return "Internal";
    case ErrorCode::kUnimplemented: return "Unimplemented";
  }
  return "Unknown";
}

std::string Error::toString() const {
  std::string s = errorCodeName(code);
  if (httpStatus != 0) s += " (HTTP " + std::to_string(httpStatus) + ")";
  s += ": " + message;
  for (const auto& c : causes) {
    s += "; ";
    if (!c.field.empty()) s += c.field + ": ";
    s += c.message;
  }
  return s;
}

bool Error::isTransient() const {
  switch (code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kConflict:
      return true;
    case ErrorCode::kInternal:
      return httpStatus >= 500;
    default:
      return false;
  }
}

}  // namespace keygate

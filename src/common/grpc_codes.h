#pragma once
// ErrorCode ↔ gRPC status codes (numbers and canonical names), without including gRPC: the
// crypto API server and client, the KMS v2 plugin and the metrics that label calls by code
// share this one table.

#include "common/result.h"

namespace keygate {

// The gRPC status code number (grpc::StatusCode) for an ErrorCode; kGone maps to
// FAILED_PRECONDITION, kConflict to ABORTED.
int grpcStatusCode(ErrorCode code);
// Its canonical name: "OK", "INVALID_ARGUMENT", "PERMISSION_DENIED", ...
const char* grpcCodeName(ErrorCode code);
// The ErrorCode for a gRPC status code number (UNKNOWN, OUT_OF_RANGE, DATA_LOSS: kInternal).
ErrorCode errorCodeFromGrpc(int grpcCode);

}  // namespace keygate

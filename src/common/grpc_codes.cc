#include "common/grpc_codes.h"

namespace keygate {
namespace {

// gRPC's status code numbers (grpc/status.h), fixed by the protocol.
enum GrpcCode : int {
  kGrpcOk = 0,
  kGrpcCancelled = 1,
  kGrpcUnknown = 2,
  kGrpcInvalidArgument = 3,
  kGrpcDeadlineExceeded = 4,
  kGrpcNotFound = 5,
  kGrpcAlreadyExists = 6,
  kGrpcPermissionDenied = 7,
  kGrpcResourceExhausted = 8,
  kGrpcFailedPrecondition = 9,
  kGrpcAborted = 10,
  kGrpcUnimplemented = 12,
  kGrpcInternal = 13,
  kGrpcUnavailable = 14,
  kGrpcUnauthenticated = 16,
};

}  // namespace

int grpcStatusCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return kGrpcOk;
    case ErrorCode::kInvalidArgument: return kGrpcInvalidArgument;
    case ErrorCode::kNotFound: return kGrpcNotFound;
    case ErrorCode::kAlreadyExists: return kGrpcAlreadyExists;
    case ErrorCode::kConflict: return kGrpcAborted;
    case ErrorCode::kGone:
    case ErrorCode::kFailedPrecondition: return kGrpcFailedPrecondition;
    case ErrorCode::kUnauthenticated: return kGrpcUnauthenticated;
    case ErrorCode::kPermissionDenied: return kGrpcPermissionDenied;
    case ErrorCode::kResourceExhausted: return kGrpcResourceExhausted;
    case ErrorCode::kDeadlineExceeded: return kGrpcDeadlineExceeded;
    case ErrorCode::kCancelled: return kGrpcCancelled;
    case ErrorCode::kUnavailable: return kGrpcUnavailable;
    case ErrorCode::kInternal: return kGrpcInternal;
    case ErrorCode::kUnimplemented: return kGrpcUnimplemented;
  }
  return kGrpcUnknown;
}

const char* grpcCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode::kNotFound: return "NOT_FOUND";
    case ErrorCode::kAlreadyExists: return "ALREADY_EXISTS";
    case ErrorCode::kConflict: return "ABORTED";
    case ErrorCode::kGone:
    case ErrorCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case ErrorCode::kUnauthenticated: return "UNAUTHENTICATED";
    case ErrorCode::kPermissionDenied: return "PERMISSION_DENIED";
    case ErrorCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case ErrorCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case ErrorCode::kCancelled: return "CANCELLED";
    case ErrorCode::kUnavailable: return "UNAVAILABLE";
    case ErrorCode::kInternal: return "INTERNAL";
    case ErrorCode::kUnimplemented: return "UNIMPLEMENTED";
  }
  return "UNKNOWN";
}

ErrorCode errorCodeFromGrpc(int c) {
  switch (c) {
    case kGrpcOk: return ErrorCode::kOk;
    case kGrpcCancelled: return ErrorCode::kCancelled;
    case kGrpcInvalidArgument: return ErrorCode::kInvalidArgument;
    case kGrpcDeadlineExceeded: return ErrorCode::kDeadlineExceeded;
    case kGrpcNotFound: return ErrorCode::kNotFound;
    case kGrpcAlreadyExists: return ErrorCode::kAlreadyExists;
    case kGrpcPermissionDenied: return ErrorCode::kPermissionDenied;
    case kGrpcResourceExhausted: return ErrorCode::kResourceExhausted;
    case kGrpcFailedPrecondition: return ErrorCode::kFailedPrecondition;
    case kGrpcAborted: return ErrorCode::kConflict;
    case kGrpcUnimplemented: return ErrorCode::kUnimplemented;
    case kGrpcUnavailable: return ErrorCode::kUnavailable;
    case kGrpcUnauthenticated: return ErrorCode::kUnauthenticated;
    default: return ErrorCode::kInternal;
  }
}

}  // namespace keygate

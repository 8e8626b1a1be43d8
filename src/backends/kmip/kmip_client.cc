#include "backends/kmip/kmip_client.h"

namespace keygate::backends::kmip {

const char* operationName(Operation op) {
  switch (op) {
    case Operation::kCreate: return "Create";
    case Operation::kQuery: return "Query";
    case Operation::kCreateKeyPair: return "CreateKeyPair";
    case Operation::kLocate: return "Locate";
    case Operation::kGetAttributes: return "GetAttributes";
    case Operation::kActivate: return "Activate";
    case Operation::kRevoke: return "Revoke";
    case Operation::kDestroy: return "Destroy";
    case Operation::kEncrypt: return "Encrypt";
    case Operation::kDecrypt: return "Decrypt";
    case Operation::kSign: return "Sign";
    case Operation::kSignatureVerify: return "SignatureVerify";
    case Operation::kMac: return "MAC";
  }
  return "?";
}

Item requestMessage(Operation op, Item payload, int protocolMinor) {
  payload.tag = tag::kRequestPayload;
  payload.type = ItemType::kStructure;
  return Item::structure(
      tag::kRequestMessage,
      {Item::structure(tag::kRequestHeader,
                       {Item::structure(tag::kProtocolVersion, {Item::integer(tag::kProtocolVersionMajor, 1),
                                                                Item::integer(tag::kProtocolVersionMinor, protocolMinor)}),
                        Item::integer(tag::kBatchCount, 1)}),
       Item::structure(tag::kBatchItem, {Item::enumeration(tag::kOperation, static_cast<uint32_t>(op)), std::move(payload)})});
}

namespace {

ErrorCode codeForReason(int64_t reason) {
  switch (reason) {
    case 1: case 55: return ErrorCode::kNotFound;            // Item Not Found, Object Not Found
    case 3: case 57: return ErrorCode::kUnauthenticated;     // Authentication Not Successful, Not Authorised
    case 12: return ErrorCode::kPermissionDenied;            // Permission Denied
    case 4: case 6: case 7: case 36: case 44: case 45: case 59: case 62:
      return ErrorCode::kInvalidArgument;                    // Invalid Message/Field, Missing Data, bad parameters
    case 11: case 54: case 67: return ErrorCode::kFailedPrecondition;  // Illegal Operation, Destroyed, Wrong State
    case 5: case 8: return ErrorCode::kUnimplemented;        // Operation / Feature Not Supported
    case 24: return ErrorCode::kAlreadyExists;
    case 58: return ErrorCode::kResourceExhausted;
    default: return ErrorCode::kInternal;
  }
}

}  // namespace

Result<Item> responsePayload(const Item& response, Operation op) {
  if (response.tag != tag::kResponseMessage || response.type != ItemType::kStructure)
    return makeError(ErrorCode::kInvalidArgument, "KMIP server answered with something other than a Response Message");
  ASSIGN_OR_RETURN(const Item* batch, response.child(tag::kBatchItem, ItemType::kStructure));
  if (const Item* o = batch->find(tag::kOperation); o != nullptr && o->number != static_cast<int64_t>(op))
    return makeError(ErrorCode::kInvalidArgument, std::string("KMIP server answered a different operation than ") +
                                                      operationName(op));
  ASSIGN_OR_RETURN(const Item* status, batch->child(tag::kResultStatus, ItemType::kEnumeration));
  if (status->number != value::kSuccess) {
    const Item* reason = batch->find(tag::kResultReason);
    const Item* message = batch->find(tag::kResultMessage);
    const int64_t r = reason != nullptr ? reason->number : 0;
    std::string text = std::string("KMIP ") + operationName(op) + " failed";
    if (reason != nullptr) text += " (result reason " + std::to_string(r) + ")";
    if (message != nullptr && !message->bytes.empty()) text += ": " + message->bytes;
    Error e(status->number == 2 ? ErrorCode::kUnavailable : codeForReason(r), text);
    e.reason = "KMIP_RESULT_REASON_" + std::to_string(r);  // for callers that branch on it
    return e;
  }
  if (const Item* p = batch->find(tag::kResponsePayload); p != nullptr) return *p;
  return Item::structure(tag::kResponsePayload);
}

KmipClient::KmipClient(TransportFactory connect, size_t maxIdle) : connect_(std::move(connect)), maxIdle_(maxIdle) {}

Result<std::string> KmipClient::exchangeOn(TransportPtr& conn, const std::string& request) {
  auto r = conn->exchange(request);
  if (!r.ok()) conn.reset();  // never reuse a connection in an unknown state
  return r;
}

Result<Item> KmipClient::call(Operation op, Item payload, bool idempotent, int protocolMinor) {
  const std::string request = encode(requestMessage(op, std::move(payload), protocolMinor));
  TransportPtr conn;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  Result<std::string> raw = makeError(ErrorCode::kUnavailable, "no KMIP connection");
  if (conn) {
    raw = exchangeOn(conn, request);
    if (!raw.ok() && (raw.error().code != ErrorCode::kUnavailable || !idempotent)) return raw.takeError();
  }
  if (!conn) {
    ASSIGN_OR_RETURN(conn, connect_());
    raw = exchangeOn(conn, request);
    if (!raw.ok()) return raw.takeError();
  }
  auto decoded = decode(*raw);
  if (!decoded.ok()) return makeError(ErrorCode::kInvalidArgument, "KMIP server response: " + decoded.error().message);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (idle_.size() < maxIdle_) idle_.push_back(std::move(conn));
  }
  return responsePayload(*decoded, op);
}

}  // namespace keygate::backends::kmip

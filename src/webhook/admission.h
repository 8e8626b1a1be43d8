#pragma once
// AdmissionReview admission.k8s.io/v1: the request/response model, its JSON codec, and the
// dispatcher that routes a review to the mutators or validators by kind, operation and
// subresource. No HTTP library here: the whole admission path is unit-tested without sockets
// (server.cc only moves bytes between HTTP and AdmissionHandler::handle()).

#include <optional>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/v1alpha1/approval_signing.h"
#include "api/v1alpha1/policy.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/result.h"
#include "webhook/role_view.h"

namespace keygate::webhook {

// Approval signing moved to api/ (the reconcilers verify what the mutator stamps); the
// webhook keeps using the names unqualified.
using api::v1alpha1::ApprovalCheck;
using api::v1alpha1::ApprovalSigner;
using api::v1alpha1::base64Decode;
using api::v1alpha1::base64Encode;
using api::v1alpha1::checkApproval;
using api::v1alpha1::computeSpecHash;
using api::v1alpha1::generateSigningKey;
using api::v1alpha1::SignedFields;

inline constexpr std::string_view kAdmissionApiVersion = "admission.k8s.io/v1";

struct GroupVersionKind {
  std::string group;
  std::string version;
  std::string kind;
  bool operator==(const GroupVersionKind&) const = default;
};

struct AdmissionRequest {
  std::string uid;            // echoed in the response
  GroupVersionKind kind;
  std::string resource;       // plural, e.g. "keyactivationrequests"
  std::string subResource;    // "status" for /status writes
  std::string name;
  std::string namespace_;
  std::string operation;      // CREATE | UPDATE | DELETE | CONNECT
  UserInfo userInfo;          // empty username when the review carried none
  Json object;                // null when absent (DELETE)
  Json oldObject;             // null on CREATE
  bool dryRun = false;
};

struct AdmissionResponse {
  std::string uid;
  bool allowed = true;
  // Denials: status.code (403 Forbidden for identity/role rules, 422 Invalid for field
  // rules, 400 for undecodable objects), status.reason and a message telling the user
  // what to do. The API server shows it as `admission webhook "<name>" denied the request: <message>`.
  int code = 0;
  std::string reason;
  std::string message;
  std::vector<std::string> warnings;
  Json patch;  // RFC 6902 operations (array); null or empty = no patch

  static AdmissionResponse allow(std::string uid) {
    AdmissionResponse r;
    r.uid = std::move(uid);
    return r;
  }
  static AdmissionResponse deny(std::string uid, int code, std::string reason, std::string message) {
    AdmissionResponse r;
    r.uid = std::move(uid);
    r.allowed = false;
    r.code = code;
    r.reason = std::move(reason);
    r.message = std::move(message);
    return r;
  }
};

// Parses a review body. InvalidArgument with a message for: invalid JSON, not an object,
// kind != AdmissionReview, apiVersion != admission.k8s.io/v1, no request, request.uid
// missing, wrongly typed fields.
Result<AdmissionRequest> parseAdmissionReview(std::string_view body);
Result<AdmissionRequest> decodeAdmissionRequest(const Json& review);
Result<AdmissionRequest> decodeAdmissionRequest(Json&& review);  // moves the objects out
// {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{...}} with
// patchType JSONPatch and the base64 patch when there is one.
Json encodeAdmissionReview(const AdmissionResponse& response);

// JSON Pointer token escaping (RFC 6901): "~" -> "~0", "/" -> "~1".
std::string jsonPointerEscape(std::string_view token);

// Everything the rules read. The references must outlive the handler; RoleView and Clock
// must be thread-safe.
struct AdmissionContext {
  const RoleView& roles;
  const ApprovalSigner& signer;
  const api::v1alpha1::Policy& policy;
  WallTime now;
};

enum class Endpoint { kMutate, kValidate };

// What the HTTP layer sends back, plus what a metrics hook wants to know.
struct HttpReply {
  int status = 200;
  std::string body;
  std::string contentType = "application/json";
  std::string kind;        // request.kind.kind, when the review parsed
  std::string operation;
  std::optional<bool> allowed;  // set when a review response was produced
};

class AdmissionHandler {
 public:
  // All references must outlive the handler. Thread-safe: review() and handle() may run
  // concurrently.
  AdmissionHandler(const RoleView& roles, const ApprovalSigner& signer, api::v1alpha1::Policy policy,
                   const Clock& clock = realClock());

  // Never throws: an unexpected exception becomes a denial (fail closed) with code 500.
  AdmissionResponse review(Endpoint endpoint, const AdmissionRequest& request) const noexcept;
  // Body in, HTTP reply out: 200 + AdmissionReview, or 400 + a Status JSON when the body is
  // not a v1 AdmissionReview. Never throws.
  HttpReply handle(Endpoint endpoint, std::string_view body) const noexcept;

  const api::v1alpha1::Policy& policy() const { return policy_; }

  // Called for each allowed DELETE of an EncryptionKey (validating endpoint, not dry-run),
  // with the deleting user: the audit trail records who asked (KeyDeletionRequested). Set
  // before serving; must be thread-safe.
  std::function<void(const AdmissionRequest& request)> onKeyDeletion;

 private:
  AdmissionResponse dispatch(Endpoint endpoint, const AdmissionRequest& request) const;

  const RoleView& roles_;
  const ApprovalSigner& signer_;
  api::v1alpha1::Policy policy_;
  const Clock& clock_;
};

// A Kubernetes Status JSON body ({"kind":"Status",...,"code":N}) for non-review HTTP errors.
std::string statusBody(int code, std::string_view reason, std::string_view message);

}  // namespace keygate::webhook

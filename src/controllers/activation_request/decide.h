#pragma once
// The pure part of the KeyActivationRequest reconciler: which approvals count, and the
// request's phase. No I/O; table-tested in tests/unit/controllers/activation_request_test.cc.
//
// An approval counts only if, in this order:
//   1. its signature verifies with the operator's approval-signing key and its specHash
//      matches the request's and the key's spec as they are now (checkApproval);
//   2. it is the approver's first signed entry (one decision per approver);
//   3. segregation of duties holds: the approver is neither the requester nor the key's
//      creator (annotation keygate.dev/created-by), unless the policy allows it;
//   4. the approver holds KeyApprover for the namespace (and key) NOW through a current,
//      not review-overdue KeyRoleBinding.
// Everything else is ignored and reported ("1 ignored: signature mismatch (bob)").
//
// Ownership of phase transitions (one writer each):
//   Pending/Approved/Denied/Expired/Failed — this reconciler (status write);
//   Approved -> Activated                  — the EncryptionKey reconciler, in the same
//     reconcile that activates the key (Plan::requestUpdates). This reconciler only
//     mirrors Activated when the key's status.activatedBy already names the request and
//     the request still says otherwise (a lost patch): the fact has one owner, the key.

#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/approval_signing.h"
#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "api/v1alpha1/key_role_binding.h"
#include "api/v1alpha1/lifecycle.h"
#include "api/v1alpha1/policy.h"
#include "common/clock.h"

namespace keygate::controllers {

struct IgnoredApproval {
  std::string approver;
  std::string reason;  // "signature mismatch", "not signed", "spec changed after approval", ...
  bool operator==(const IgnoredApproval&) const = default;
};

struct ApprovalTally {
  std::vector<std::string> approvers;  // valid Approve entries, distinct, in order
  std::vector<std::string> deniers;    // valid Deny entries
  std::string denyComment;             // the first valid Deny's comment
  std::vector<IgnoredApproval> ignored;
  bool operator==(const ApprovalTally&) const = default;
};


ApprovalTally tallyApprovals(const api::v1alpha1::KeyActivationRequest& request,
                             const api::v1alpha1::EncryptionKey& key,
                             const std::vector<api::v1alpha1::KeyRoleBinding>& bindings,
                             const api::v1alpha1::Policy& policy, const api::v1alpha1::ApprovalSigner& signer,
                             WallTime now);

// "1 ignored: signature mismatch (bob)"; "" when nothing was ignored.
std::string describeIgnored(const std::vector<IgnoredApproval>& ignored);

// What the EncryptionKey reconciler's decide() counts: a valid Deny zeroes the approvals.
api::v1alpha1::ApprovalVerdict verdictFor(const api::v1alpha1::KeyActivationRequest& request,
                                          const ApprovalTally& tally);

struct RequestDecision {
  api::v1alpha1::KeyActivationRequestStatus status;
  ApprovalTally tally;
  // Set when the phase changed to a decided one this time: "ApprovalReceived" (Approved),
  // "RequestDenied", "RequestExpired", "RequestFailed". One audit record and one Event.
  std::string event;
  std::string message;
  bool becameApproved = false;           // enqueue the key
  std::optional<Duration> requeueAfter;  // Pending: when the request expires
};

struct RequestInputs {
  const api::v1alpha1::KeyActivationRequest* request = nullptr;
  const api::v1alpha1::EncryptionKey* key = nullptr;  // null: not found in the cache
  const std::vector<api::v1alpha1::KeyRoleBinding>* bindings = nullptr;
  const api::v1alpha1::Policy* policy = nullptr;
  const api::v1alpha1::ApprovalSigner* signer = nullptr;
  WallTime now;
};

RequestDecision decideRequest(const RequestInputs& in);

// The request's Ready condition from its phase (kstatus, Argo CD, `kubectl wait`): True only
// once the key version is active (Activated), False with the phase as reason and what it
// waits for otherwise. decideRequest sets it; `keygate local` calls it too.
void setRequestReady(api::v1alpha1::KeyActivationRequestStatus& status, int64_t generation, WallTime now);

}  // namespace keygate::controllers

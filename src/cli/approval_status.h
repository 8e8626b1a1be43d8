#pragma once
// What `kubectl keygate status` and `pending` print, computed from decoded objects only (no
// I/O), so the exact lines are unit-testable:
//
//   keyactivationrequest tenant-a/activate-payments: Pending, approvals 1/2
//     key:       payments v1 (PreActive, material destroyed in 23h59m unless activated)
//     requester: alice   reason: rollout   change: CHG-42   affected: payments-db
//     approved:  bob at 2026-12-06T09:00:00Z ("reviewed CHG-42")
//     can still approve: carol, group:security (requester and key creator excluded)
//
// "Who can still approve" reads the namespace's KeyApprover KeyRoleBindings: current (not
// past reviewBy), selecting the key, less the requester and the key's creator (the default
// segregation of duties; the operator's policy may allow them) and those who decided already.

#include <string>
#include <string_view>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "api/v1alpha1/key_role_binding.h"
#include "api/v1alpha1/roles.h"
#include "common/clock.h"

namespace keygate::cli {

namespace av1 = api::v1alpha1;

// kube-apiserver's `admission webhook "NAME" denied the request: REASON` as REASON; other
// messages as they are.
std::string admissionReason(std::string_view message);

// "bob", "group:security", "serviceaccount:ns/name".
std::string subjectText(const av1::Subject& s);

std::vector<std::string> stillEligibleApprovers(const av1::KeyActivationRequest& request, const av1::EncryptionKey* key,
                                                const std::vector<av1::KeyRoleBinding>& bindings, WallTime now);

// "23h59m", "4m", "expired".
std::string formatRemaining(Duration d);

std::string formatRequestStatus(const av1::KeyActivationRequest& request, const av1::EncryptionKey* key,
                                const std::vector<av1::KeyRoleBinding>& bindings, WallTime now);
// The key, its versions, and its requests (newest first), one line each.
std::string formatKeyStatus(const av1::EncryptionKey& key, const std::vector<av1::KeyActivationRequest>& requests,
                            WallTime now);

// Requests `user` may decide now: Pending, the user holds KeyApprover for the key, is not the
// requester or the key's creator, and has not decided yet. One line each:
//   tenant-a/activate-payments  key payments v1  requester alice  approvals 1/2  age 5m
std::vector<const av1::KeyActivationRequest*> pendingFor(const av1::UserInfo& user,
                                                         const std::vector<av1::KeyActivationRequest>& requests,
                                                         const std::vector<av1::EncryptionKey>& keys,
                                                         const std::vector<av1::KeyRoleBinding>& bindings, WallTime now);
std::string formatPendingLine(const av1::KeyActivationRequest& request, WallTime now);

}  // namespace keygate::cli

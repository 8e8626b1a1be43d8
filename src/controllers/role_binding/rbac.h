#pragma once
// The pure part of the KeyRoleBinding reconciler: the Role and RoleBinding
// (rbac.authorization.k8s.io/v1) a binding materialises as, and the binding's status.
// Table-tested in tests/unit/controllers/role_binding_test.cc.
//
// Verbs per role (api.md "KeyRoleBinding"), nothing more:
//   KeyAdministrator  encryptionkeys: create update delete get list watch
//   KeyApprover       keyactivationrequests: get list watch update
//   KeyUser           encryptionkeys: get
//   KeyAuditor        encryptionkeys, keyactivationrequests, keyrolebindings: get list watch;
//                     events (core): get list watch
// Requesters need only `create keyactivationrequests`, which no keygate role grants.

#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/key_role_binding.h"
#include "common/clock.h"
#include "common/json.h"

namespace keygate::controllers {

inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr const char* kBindingLabel = "keygate.dev/key-role-binding";

// "keygate-<binding>" for both the Role and the RoleBinding.
std::string rbacObjectName(const std::string& binding);
// The PolicyRules of a keygate role ([] for an unknown role: grants nothing).
Json rulesFor(api::v1alpha1::Role role);
// Role / RoleBinding owned by the KeyRoleBinding (controller: true, blockOwnerDeletion:
// true), so the garbage collector removes them with it.
Json desiredRole(const api::v1alpha1::KeyRoleBinding& binding);
Json desiredRoleBinding(const api::v1alpha1::KeyRoleBinding& binding);
// True when `live` already carries what `desired` manages (labels, owner reference,
// rules / subjects / roleRef); other fields (resourceVersion, managedFields) are ignored.
bool rbacInSync(const Json& live, const Json& desired);

struct BindingDecision {
  api::v1alpha1::KeyRoleBindingStatus status;
  bool grant = false;                    // false: the RoleBinding must not exist
  std::optional<WallTime> reviewDue;     // first overdue instant (metrics), none if unparsable
  std::optional<Duration> requeueAfter;  // until reviewBy
};

// `namespaceBindings`: every KeyRoleBinding of the binding's namespace (it included), for
// the SegregationConflict condition. The status assumes the RBAC writes succeed.
BindingDecision decideBinding(const api::v1alpha1::KeyRoleBinding& binding,
                              const std::vector<api::v1alpha1::KeyRoleBinding>& namespaceBindings, WallTime now);

}  // namespace keygate::controllers

#pragma once
// Who holds which keygate role: the pure rules over KeyRoleBindings, shared by the admission
// webhook (at request time, with the caller's userInfo) and the reconcilers (which re-check
// an approver before counting the approval). No I/O: callers bring the bindings.

#include <memory>
#include <string>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_role_binding.h"
#include "common/clock.h"

namespace keygate::api::v1alpha1 {

// AdmissionReview request.userInfo, or what a reconciler knows of an approver: the username
// and the groups the webhook recorded (signed) in the approval; group membership itself is
// known only to the API server at request time.
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  bool operator==(const UserInfo&) const = default;
};

// User by username, Group by userInfo.groups, ServiceAccount by
// "system:serviceaccount:<namespace>:<name>".
bool subjectMatches(const Subject& subject, const UserInfo& user);
std::string serviceAccountUsername(const std::string& ns, const std::string& name);

// A binding's keySelector matches a key when every matchLabels entry is on the key. A binding
// without selector covers every key in its namespace; with a selector and no key, none.
bool selectorMatches(const KeyRoleBinding& binding, const EncryptionKey* key);

// The outcome of a role lookup, with what a denial message needs.
struct RoleGrant {
  bool granted = false;
  std::vector<std::string> grantingBindings;  // current bindings that grant the role
  std::vector<std::string> grantingGroups;    // the user's groups those bindings name (sorted, unique)
  // Bindings that would grant the role but are past reviewBy (the user should renew them),
  // or whose keySelector does not match the key.
  std::vector<std::string> overdueBindings;
  std::vector<std::string> selectorMismatchBindings;
};

// Does `user` hold `role` in `ns` (for `key`, when given) at `now`?
RoleGrant holdsRole(const std::vector<KeyRoleBinding>& bindings, const UserInfo& user, Role role,
                    const std::string& ns, const EncryptionKey* key, WallTime now);
// The same over shared bindings (the crypto API's decoded-once cache).
RoleGrant holdsRole(const std::vector<std::shared_ptr<const KeyRoleBinding>>& bindings, const UserInfo& user,
                    Role role, const std::string& ns, const EncryptionKey* key, WallTime now);

}  // namespace keygate::api::v1alpha1

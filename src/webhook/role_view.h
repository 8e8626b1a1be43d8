#pragma once
// What the webhook knows about roles and keys: KeyRoleBindings and EncryptionKeys read from
// informer caches (kube::ObjectReader), and the pure rules that decide whether a user holds
// a keygate role for a namespace (and key) at a given time.

#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_role_binding.h"
#include "common/clock.h"
#include "kube/cache.h"

namespace keygate::webhook {

// AdmissionReview request.userInfo.
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  bool operator==(const UserInfo&) const = default;
};

// Read access the validators need. Implementations must be thread-safe (the server calls
// them from many threads at once).
class RoleView {
 public:
  virtual ~RoleView() = default;
  // Every KeyRoleBinding in `ns` (current or not). Objects that do not decode are skipped.
  virtual std::vector<api::v1alpha1::KeyRoleBinding> bindings(const std::string& ns) const = 0;
  // The EncryptionKey ns/name, or nullopt when it is not (yet) in the cache.
  virtual std::optional<api::v1alpha1::EncryptionKey> key(const std::string& ns, const std::string& name) const = 0;
};

// RoleView over two informer caches. Both readers must outlive this object.
class CacheRoleView final : public RoleView {
 public:
  CacheRoleView(const kube::ObjectReader& bindings, const kube::ObjectReader& keys) : bindings_(bindings), keys_(keys) {}
  std::vector<api::v1alpha1::KeyRoleBinding> bindings(const std::string& ns) const override;
  std::optional<api::v1alpha1::EncryptionKey> key(const std::string& ns, const std::string& name) const override;

 private:
  const kube::ObjectReader& bindings_;
  const kube::ObjectReader& keys_;
};

// User by username, Group by userInfo.groups, ServiceAccount by
// "system:serviceaccount:<namespace>:<name>".
bool subjectMatches(const api::v1alpha1::Subject& subject, const UserInfo& user);
std::string serviceAccountUsername(const std::string& ns, const std::string& name);

// A binding's keySelector matches a key when every matchLabels entry is on the key. A binding
// without selector covers every key in its namespace; with a selector and no key, none.
bool selectorMatches(const api::v1alpha1::KeyRoleBinding& binding, const api::v1alpha1::EncryptionKey* key);

// The outcome of a role lookup, with what a denial message needs.
struct RoleGrant {
  bool granted = false;
  std::vector<std::string> grantingBindings;  // current bindings that grant the role
  // Bindings that would grant the role but are past reviewBy (the user should renew them),
  // or whose keySelector does not match the key.
  std::vector<std::string> overdueBindings;
  std::vector<std::string> selectorMismatchBindings;
};

// Does `user` hold `role` in `ns` (for `key`, when given) at `now`?
RoleGrant holdsRole(const std::vector<api::v1alpha1::KeyRoleBinding>& bindings, const UserInfo& user,
                    api::v1alpha1::Role role, const std::string& ns, const api::v1alpha1::EncryptionKey* key,
                    WallTime now);

}  // namespace keygate::webhook

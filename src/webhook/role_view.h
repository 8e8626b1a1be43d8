#pragma once
// What the webhook knows about roles and keys: KeyRoleBindings and EncryptionKeys read from
// informer caches (kube::ObjectReader). The pure rules that decide whether a user holds a
// keygate role (holdsRole, subjectMatches, ...) are in api/v1alpha1/roles.h.

#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_role_binding.h"
#include "api/v1alpha1/roles.h"
#include "common/clock.h"
#include "kube/cache.h"

namespace keygate::webhook {

// The role rules live in api/ (the reconcilers re-check approvers with them too); the
// webhook keeps its historical names.
using api::v1alpha1::holdsRole;
using api::v1alpha1::RoleGrant;
using api::v1alpha1::selectorMatches;
using api::v1alpha1::serviceAccountUsername;
using api::v1alpha1::subjectMatches;
using api::v1alpha1::UserInfo;

// Read access the validators need. Implementations must be thread-safe (the server calls
// them from many threads at once).
class RoleView {
 public:
  virtual ~RoleView() = default;
  // Every KeyRoleBinding in `ns` (current or not). Objects that do not decode are skipped.
  virtual std::vector<api::v1alpha1::KeyRoleBinding> bindings(const std::string& ns) const = 0;
  // The EncryptionKey ns/name, or nullopt when it is not (yet) in the cache.
  virtual std::optional<api::v1alpha1::EncryptionKey> key(const std::string& ns, const std::string& name) const = 0;
  // The namespace's keygate.dev/jurisdiction label; "" when unlabelled or unknown.
  virtual std::string namespaceJurisdiction(const std::string& ns) const = 0;
};

// The keygate.dev/jurisdiction label of namespace `ns` in a Namespace cache; "" when absent.
std::string namespaceJurisdictionIn(const kube::ObjectReader& namespaces, const std::string& ns);

// RoleView over two informer caches. Both readers must outlive this object.
class CacheRoleView final : public RoleView {
 public:
  // namespaces: a Namespace cache (may be null: no jurisdiction labels).
  CacheRoleView(const kube::ObjectReader& bindings, const kube::ObjectReader& keys,
                const kube::ObjectReader* namespaces = nullptr)
      : bindings_(bindings), keys_(keys), namespaces_(namespaces) {}
  std::string namespaceJurisdiction(const std::string& ns) const override;
  std::vector<api::v1alpha1::KeyRoleBinding> bindings(const std::string& ns) const override;
  std::optional<api::v1alpha1::EncryptionKey> key(const std::string& ns, const std::string& name) const override;

 private:
  const kube::ObjectReader& bindings_;
  const kube::ObjectReader& keys_;
  const kube::ObjectReader* namespaces_;
};

}  // namespace keygate::webhook

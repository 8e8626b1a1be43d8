#include "kube/resource.h"

namespace keygate::kube {

std::string Resource::path(const std::string& ns, const std::string& name, const std::string& subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) {
    p += "/" + name;
    if (!subresource.empty()) p += "/" + subresource;
  }
  return p;
}

namespace resources {
Resource encryptionKeys() { return {"keygate.dev", "v1alpha1", "encryptionkeys", "EncryptionKey", true}; }
Resource keyActivationRequests() {
  return {"keygate.dev", "v1alpha1", "keyactivationrequests", "KeyActivationRequest", true};
}
Resource keyRoleBindings() { return {"keygate.dev", "v1alpha1", "keyrolebindings", "KeyRoleBinding", true}; }
Resource secrets() { return {"", "v1", "secrets", "Secret", true}; }
Resource events() { return {"", "v1", "events", "Event", true}; }
Resource leases() { return {"coordination.k8s.io", "v1", "leases", "Lease", true}; }
Resource namespaces() { return {"", "v1", "namespaces", "Namespace", false}; }
Resource roles() { return {"rbac.authorization.k8s.io", "v1", "roles", "Role", true}; }
Resource roleBindings() { return {"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true}; }
Resource tokenReviews() { return {"authentication.k8s.io", "v1", "tokenreviews", "TokenReview", false}; }
}  // namespace resources

}  // namespace keygate::kube

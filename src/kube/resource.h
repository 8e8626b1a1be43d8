#pragma once
// Identifies a Kubernetes resource type and builds its REST paths.

#include <string>

namespace keygate::kube {

struct Resource {
  std::string group;     // "" for the core group
  std::string version;   // "v1", "v1alpha1"
  std::string plural;    // "encryptionkeys"
  std::string kind;      // "EncryptionKey"
  bool namespaced = true;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // "encryptionkeys.keygate.dev" (as Kubernetes names a resource in messages), "leases.coordination.k8s.io".
  std::string qualifiedName() const { return group.empty() ? plural : plural + "." + group; }
  // /apis/<g>/<v>[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]]; ns "" = all namespaces.
  std::string path(const std::string& ns = "", const std::string& name = "", const std::string& subresource = "") const;
};

// Well-known resources the operator uses.
namespace resources {
Resource encryptionKeys();
Resource keyActivationRequests();
Resource keyRoleBindings();
Resource secrets();
Resource events();
Resource leases();
Resource namespaces();
Resource roles();
Resource roleBindings();
Resource tokenReviews();  // authentication.k8s.io/v1, cluster-scoped, create only
}  // namespace resources

}  // namespace keygate::kube

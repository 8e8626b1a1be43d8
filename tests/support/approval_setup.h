#pragma once
// Set-up shared by the approval-workflow tests and benchmarks: the plain RBAC a platform
// team gives requesters on KeyActivationRequests (approvers get theirs from
// KeyRoleBindings), and filling the webhook's caches from the API server where a test
// stands in for the operator's informers.

#include <string>
#include <vector>

#include "kube/cache.h"
#include "kube/client.h"

namespace keygate::testing {

// Role `name` in `ns` with `verbs` on keygate.dev keyactivationrequests, and a RoleBinding
// of the same name to the given users.
inline Status grantRequestAccess(kube::Client& admin, const std::string& ns, const std::string& name,
                                 const std::vector<std::string>& users, const std::vector<std::string>& verbs) {
  Json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "Role"},
               {"metadata", {{"name", name}, {"namespace", ns}}},
               {"rules", {{{"apiGroups", {"keygate.dev"}}, {"resources", {"keyactivationrequests"}}, {"verbs", verbs}}}}};
  if (auto r = admin.create(kube::resources::roles(), ns, role); !r.ok()) return r.takeError();
  Json subjects = Json::array();
  for (const auto& u : users) subjects.push_back({{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", u}});
  Json rb = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
             {"kind", "RoleBinding"},
             {"metadata", {{"name", name}, {"namespace", ns}}},
             {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", name}}},
             {"subjects", subjects}};
  if (auto r = admin.create(kube::resources::roleBindings(), ns, rb); !r.ok()) return r.takeError();
  return okStatus();
}

// Replaces the cache's content with every object of `r` the API server has now.
inline Status copyIntoCache(kube::Client& admin, const kube::Resource& r, kube::Cache& cache) {
  auto list = kube::listAll(admin, r, "", {});
  if (!list.ok()) return list.takeError();
  for (const auto& key : cache.keys()) cache.remove(key);
  for (auto& item : list->items) cache.upsert(std::make_shared<const Json>(std::move(item)));
  return okStatus();
}

}  // namespace keygate::testing

#include "api/v1alpha1/roles.h"

#include <algorithm>

#include "api/v1alpha1/validation.h"

namespace keygate::api::v1alpha1 {

std::string serviceAccountUsername(const std::string& ns, const std::string& name) {
  return "system:serviceaccount:" + ns + ":" + name;
}

bool subjectMatches(const Subject& s, const UserInfo& user) {
  switch (s.kind) {
    case SubjectKind::kUser: return !s.name.empty() && s.name == user.username;
    case SubjectKind::kGroup:
      return !s.name.empty() && std::find(user.groups.begin(), user.groups.end(), s.name) != user.groups.end();
    case SubjectKind::kServiceAccount:
      return !s.name.empty() && !s.namespace_.empty() && serviceAccountUsername(s.namespace_, s.name) == user.username;
    case SubjectKind::kUnspecified: return false;
  }
  return false;
}

bool selectorMatches(const KeyRoleBinding& b, const EncryptionKey* key) {
  if (!b.spec.keySelector) return true;
  if (!key) return false;
  for (const auto& [k, v] : b.spec.keySelector->matchLabels) {
    auto it = key->metadata.labels.find(k);
    if (it == key->metadata.labels.end() || it->second != v) return false;
  }
  return true;
}

namespace {

template <typename Deref, typename Vec>
RoleGrant holdsRoleIn(const Vec& bindings, Deref deref, const UserInfo& user, Role role, const std::string& ns,
                      const EncryptionKey* key, WallTime now) {
  RoleGrant g;
  for (const auto& item : bindings) {
    const KeyRoleBinding& b = deref(item);
    if (b.metadata.namespace_ != ns || b.spec.role != role) continue;
    if (b.metadata.deletionTimestamp) continue;  // on its way out: grants nothing
    if (std::none_of(b.spec.subjects.begin(), b.spec.subjects.end(),
                     [&](const Subject& s) { return subjectMatches(s, user); }))
      continue;
    if (!selectorMatches(b, key)) {
      g.selectorMismatchBindings.push_back(b.metadata.name);
      continue;
    }
    if (!bindingIsCurrent(b, now)) {
      g.overdueBindings.push_back(b.metadata.name);
      continue;
    }
    g.grantingBindings.push_back(b.metadata.name);
    for (const auto& s : b.spec.subjects)
      if (s.kind == SubjectKind::kGroup && subjectMatches(s, user)) g.grantingGroups.push_back(s.name);
  }
  std::sort(g.grantingGroups.begin(), g.grantingGroups.end());
  g.grantingGroups.erase(std::unique(g.grantingGroups.begin(), g.grantingGroups.end()), g.grantingGroups.end());
  g.granted = !g.grantingBindings.empty();
  return g;
}

}  // namespace

RoleGrant holdsRole(const std::vector<KeyRoleBinding>& bindings, const UserInfo& user, Role role,
                    const std::string& ns, const EncryptionKey* key, WallTime now) {
  return holdsRoleIn(bindings, [](const KeyRoleBinding& b) -> const KeyRoleBinding& { return b; }, user, role, ns, key,
                     now);
}

RoleGrant holdsRole(const std::vector<std::shared_ptr<const KeyRoleBinding>>& bindings, const UserInfo& user,
                    Role role, const std::string& ns, const EncryptionKey* key, WallTime now) {
  return holdsRoleIn(
      bindings, [](const std::shared_ptr<const KeyRoleBinding>& b) -> const KeyRoleBinding& { return *b; }, user, role,
      ns, key, now);
}

}  // namespace keygate::api::v1alpha1

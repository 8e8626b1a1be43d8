#include "webhook/role_view.h"

#include <algorithm>

#include "api/v1alpha1/codec.h"
#include "api/v1alpha1/validation.h"
#include "common/log.h"

namespace keygate::webhook {
namespace av1 = api::v1alpha1;

namespace {
const log::Logger& logger() {
  static const log::Logger l("webhook.roles");
  return l;
}
}  // namespace

std::vector<av1::KeyRoleBinding> CacheRoleView::bindings(const std::string& ns) const {
  std::vector<av1::KeyRoleBinding> out;
  for (const auto& obj : bindings_.listNamespace(ns)) {
    if (!obj) continue;
    auto b = av1::decodeKeyRoleBinding(*obj);
    if (!b.ok()) {
      // Such a binding grants nothing: failing closed is right for an authorization check.
      logger().warn("skipping undecodable KeyRoleBinding",
                    {{"object", kube::objectKey(*obj)}, {"error", b.error().message}});
      continue;
    }
    out.push_back(std::move(*b));
  }
  return out;
}

std::optional<av1::EncryptionKey> CacheRoleView::key(const std::string& ns, const std::string& name) const {
  auto obj = keys_.get(ns + "/" + name);
  if (!obj) return std::nullopt;
  auto k = av1::decodeEncryptionKey(*obj);
  if (!k.ok()) {
    logger().warn("undecodable EncryptionKey in cache", {{"object", ns + "/" + name}, {"error", k.error().message}});
    return std::nullopt;
  }
  return std::move(*k);
}

std::string serviceAccountUsername(const std::string& ns, const std::string& name) {
  return "system:serviceaccount:" + ns + ":" + name;
}

bool subjectMatches(const av1::Subject& s, const UserInfo& user) {
  switch (s.kind) {
    case av1::SubjectKind::kUser: return !s.name.empty() && s.name == user.username;
    case av1::SubjectKind::kGroup:
      return !s.name.empty() && std::find(user.groups.begin(), user.groups.end(), s.name) != user.groups.end();
    case av1::SubjectKind::kServiceAccount:
      return !s.name.empty() && !s.namespace_.empty() && serviceAccountUsername(s.namespace_, s.name) == user.username;
    case av1::SubjectKind::kUnspecified: return false;
  }
  return false;
}

bool selectorMatches(const av1::KeyRoleBinding& b, const av1::EncryptionKey* key) {
  if (!b.spec.keySelector) return true;
  if (!key) return false;
  for (const auto& [k, v] : b.spec.keySelector->matchLabels) {
    auto it = key->metadata.labels.find(k);
    if (it == key->metadata.labels.end() || it->second != v) return false;
  }
  return true;
}

RoleGrant holdsRole(const std::vector<av1::KeyRoleBinding>& bindings, const UserInfo& user, av1::Role role,
                    const std::string& ns, const av1::EncryptionKey* key, WallTime now) {
  RoleGrant g;
  for (const auto& b : bindings) {
    if (b.metadata.namespace_ != ns || b.spec.role != role) continue;
    if (b.metadata.deletionTimestamp) continue;  // on its way out: grants nothing
    if (std::none_of(b.spec.subjects.begin(), b.spec.subjects.end(),
                     [&](const av1::Subject& s) { return subjectMatches(s, user); }))
      continue;
    if (!selectorMatches(b, key)) {
      g.selectorMismatchBindings.push_back(b.metadata.name);
      continue;
    }
    if (!av1::bindingIsCurrent(b, now)) {
      g.overdueBindings.push_back(b.metadata.name);
      continue;
    }
    g.grantingBindings.push_back(b.metadata.name);
  }
  g.granted = !g.grantingBindings.empty();
  return g;
}

}  // namespace keygate::webhook

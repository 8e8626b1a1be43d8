#include "webhook/role_view.h"

#include "api/v1alpha1/codec.h"
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

std::string CacheRoleView::namespaceJurisdiction(const std::string& ns) const {
  return namespaces_ ? namespaceJurisdictionIn(*namespaces_, ns) : "";
}

std::string namespaceJurisdictionIn(const kube::ObjectReader& namespaces, const std::string& ns) {
  auto obj = namespaces.get(ns);
  return obj ? av1::jurisdictionOfNamespace(*obj) : "";
}

}  // namespace keygate::webhook

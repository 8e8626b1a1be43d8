#include "dataplane/key_directory.h"

#include "api/v1alpha1/codec.h"
#include "common/log.h"

namespace keygate::dataplane {
namespace av1 = api::v1alpha1;
namespace {

const log::Logger& logger() {
  static const log::Logger l("dataplane.keys");
  return l;
}


}  // namespace

std::shared_ptr<const av1::EncryptionKey> KeyDirectory::key(const std::string& ns, const std::string& name) const {
  const std::string k = ns + "/" + name;
  kube::ObjectPtr obj = keys_.get(k);
  std::lock_guard<std::mutex> lock(mu_);
  if (!obj) {
    keyMemo_.erase(k);
    return nullptr;
  }
  auto& m = keyMemo_[k];
  if (m.source.get() != obj.get()) {
    auto decoded = av1::decodeEncryptionKey(*obj);
    if (!decoded.ok()) {
      logger().warn("undecodable EncryptionKey in cache", {{"object", k}, {"error", decoded.error().message}});
      keyMemo_.erase(k);
      return nullptr;
    }
    m.source = obj;
    m.decoded = std::make_shared<const av1::EncryptionKey>(std::move(*decoded));
  }
  return m.decoded;
}

std::vector<std::shared_ptr<const av1::KeyRoleBinding>> KeyDirectory::bindings(const std::string& ns) const {
  std::vector<std::shared_ptr<const av1::KeyRoleBinding>> out;
  auto objs = bindings_.listNamespace(ns);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& obj : objs) {
    if (!obj) continue;
    const std::string k = kube::objectKey(*obj);
    auto& m = bindingMemo_[k];
    if (m.source.get() != obj.get()) {
      auto decoded = av1::decodeKeyRoleBinding(*obj);
      if (!decoded.ok()) {
        // Such a binding grants nothing: failing closed is right for authorization.
        logger().warn("skipping undecodable KeyRoleBinding", {{"object", k}, {"error", decoded.error().message}});
        bindingMemo_.erase(k);
        continue;
      }
      m.source = obj;
      m.decoded = std::make_shared<const av1::KeyRoleBinding>(std::move(*decoded));
    }
    out.push_back(m.decoded);
  }
  // Forget bindings deleted from the cache once in a while (bounded memory).
  if (++listCalls_ % 4096 == 0 && bindingMemo_.size() > 64) {
    for (auto it = bindingMemo_.begin(); it != bindingMemo_.end();) {
      if (!bindings_.get(it->first)) it = bindingMemo_.erase(it); else ++it;
    }
  }
  return out;
}

}  // namespace keygate::dataplane

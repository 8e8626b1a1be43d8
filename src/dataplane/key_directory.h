#pragma once
// EncryptionKeys and KeyRoleBindings as the crypto API reads them: from the operator's
// informer caches (or `keygate local`'s store), decoded once per object version and then
// shared, so a call costs a map lookup, not a JSON decode. Crypto calls never call the API
// server for this.

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_role_binding.h"
#include "kube/cache.h"

namespace keygate::dataplane {

class KeyDirectory {
 public:
  // Both readers must outlive the directory.
  KeyDirectory(const kube::ObjectReader& keys, const kube::ObjectReader& bindings) : keys_(keys), bindings_(bindings) {}

  // Null when absent (or undecodable: logged, and treated as absent).
  std::shared_ptr<const api::v1alpha1::EncryptionKey> key(const std::string& ns, const std::string& name) const;
  // Every decodable KeyRoleBinding in ns.
  std::vector<std::shared_ptr<const api::v1alpha1::KeyRoleBinding>> bindings(const std::string& ns) const;

 private:
  template <typename T>
  struct Memo {
    kube::ObjectPtr source;  // the cache snapshot it was decoded from
    std::shared_ptr<const T> decoded;
  };
  const kube::ObjectReader& keys_;
  const kube::ObjectReader& bindings_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, Memo<api::v1alpha1::EncryptionKey>> keyMemo_;
  mutable std::unordered_map<std::string, Memo<api::v1alpha1::KeyRoleBinding>> bindingMemo_;
  mutable uint64_t listCalls_ = 0;
};

}  // namespace keygate::dataplane

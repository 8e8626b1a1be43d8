#pragma once
// A SecretStore that keeps each kind of secret (secretKindOf) in a store of its own: in a
// cluster three Kubernetes Secrets, so that RBAC can give each to whom needs it and a leak
// of one (a backup, a mis-scoped Role) does not hand out the others. A name of no known
// kind is refused rather than put somewhere.

#include "backends/secret_store.h"

namespace keygate::backends {

class SplitSecretStore final : public SecretStore {
 public:
  SplitSecretStore(SecretStorePtr approvalSigning, SecretStorePtr userPins, SecretStorePtr soPins)
      : signing_(std::move(approvalSigning)), user_(std::move(userPins)), so_(std::move(soPins)) {}

  Result<std::optional<SecretValue>> get(std::string_view name) override;
  Status put(std::string_view name, const SecretValue& value) override;
  Result<SecretValue> putIfAbsent(std::string_view name, const SecretValue& value) override;
  Result<bool> replace(std::string_view name, const SecretValue& expected, const SecretValue& next) override;

  SecretStore& storeFor(SecretKind kind);

 private:
  Result<SecretStore*> route(std::string_view name);
  SecretStorePtr signing_, user_, so_;
};

}  // namespace keygate::backends

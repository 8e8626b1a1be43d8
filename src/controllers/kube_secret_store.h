#pragma once
// SecretStore on one Kubernetes Secret in the operator's namespace (never a tenant's), each
// value a data key. The operator keeps one per kind of secret (credential_secrets.h). Values
// never reach logs or Events.

#include <mutex>
#include <string>

#include "api/v1alpha1/approval_signing.h"
#include "backends/secret_store.h"
#include "kube/client.h"

namespace keygate::controllers {

class KubeSecretStore final : public backends::SecretStore {
 public:
  KubeSecretStore(kube::ClientPtr client, std::string ns, std::string secretName)
      : client_(std::move(client)), ns_(std::move(ns)), name_(std::move(secretName)) {}
  Result<std::optional<backends::SecretValue>> get(std::string_view name) override;
  // Optimistic concurrency: conflicts are retried a few times on the freshly read Secret.
  Status put(std::string_view name, const backends::SecretValue& value) override;
  // Optimistic concurrency without overwriting: create the Secret, or add the key to it with
  // the resourceVersion read; on 409 read again, and if another replica stored the key first,
  // return its value.
  Result<backends::SecretValue> putIfAbsent(std::string_view name, const backends::SecretValue& value) override;
  // Update with the resourceVersion of the read that compared: a concurrent writer is a 409.
  Result<bool> replace(std::string_view name, const backends::SecretValue& expected,
                       const backends::SecretValue& next) override;

 private:
  // The decoded value of data[name] in a read Secret (nullopt when absent).
  Result<std::optional<backends::SecretValue>> valueIn(const Json& secret, std::string_view name) const;
  kube::ClientPtr client_;
  std::string ns_;
  std::string name_;
  std::mutex mu_;  // serialises writers in this process
};

// Secret data is standard base64: the api layer's codec (one for the whole operator).
using api::v1alpha1::base64Decode;
using api::v1alpha1::base64Encode;

}  // namespace keygate::controllers

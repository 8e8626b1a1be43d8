#pragma once
// The operator's secret store, opened the same way by the operator and by
// `keygate signing-key` run in its pod: 0600 files on the state volume (secretStore: file),
// or one Kubernetes Secret per kind of credential (controllers/credential_secrets.h), with
// the single Secret of earlier releases moved into them first.

#include <string>

#include "backends/secret_store.h"
#include "cmd/config.h"
#include "kube/client.h"

namespace keygate::cmd {

struct OpenedSecretStore {
  backends::SecretStorePtr store;
  std::string where;   // for logs: a directory or namespace/secret of the signing keyring
  int migrated = 0;    // values moved out of the legacy Secret by this call
};

// `client` may be null for secretStore: file.
Result<OpenedSecretStore> openSecretStore(const OperatorConfig& cfg, const kube::ClientPtr& client);

// A client for the API server: --kubeconfig/--context or $KUBECONFIG, else in-cluster.
Result<kube::ClientPtr> apiClient(const std::string& kubeconfig, const std::string& context);

}  // namespace keygate::cmd

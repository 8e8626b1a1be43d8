#include "cmd/credentials_setup.h"

#include <cstdlib>

#include "backends/file_secret_store.h"
#include "controllers/credential_secrets.h"
#include "kube/client_factory.h"
#include "kube/kubeconfig.h"

namespace keygate::cmd {

Result<OpenedSecretStore> openSecretStore(const OperatorConfig& cfg, const kube::ClientPtr& client) {
  OpenedSecretStore out;
  if (cfg.secretStoreType == "file") {
    auto fs = backends::FileSecretStore::open(cfg.secretStoreDir);
    if (!fs.ok()) return makeError(fs.error().code, "secretStore: " + fs.error().message);
    out.store = std::move(*fs);
    out.where = cfg.secretStoreDir;
    return out;
  }
  if (!client) return makeError(ErrorCode::kInvalidArgument, "secretStore: kubernetes needs an API server");
  auto split = controllers::kubeCredentialStores(client, cfg.operatorNamespace);
  auto moved = controllers::migrateLegacyCredentials(*client, cfg.operatorNamespace, *split);
  if (!moved.ok()) return makeError(moved.error().code, "credentials: " + moved.error().message);
  out.store = std::move(split);
  out.where = cfg.operatorNamespace + "/" + controllers::kApprovalSigningSecretName;
  out.migrated = *moved;
  return out;
}

Result<kube::ClientPtr> apiClient(const std::string& kubeconfig, const std::string& context) {
  Result<kube::ClientConfig> kc = (!kubeconfig.empty() || std::getenv("KUBECONFIG"))
                                      ? kube::loadKubeconfig({kubeconfig, context})
                                      : kube::loadInCluster();
  if (!kc.ok()) return kc.takeError();
  kube::ClientOptions co;
  co.rest.fieldManager = "keygate";
  co.rest.maxRetries = 2;
  return kube::makeClient(*kc, co);
}

}  // namespace keygate::cmd

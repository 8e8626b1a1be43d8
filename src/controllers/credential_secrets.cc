#include "controllers/credential_secrets.h"

#include "controllers/kube_secret_store.h"
#include "kube/resource.h"

namespace keygate::controllers {

std::shared_ptr<backends::SplitSecretStore> kubeCredentialStores(kube::ClientPtr client, const std::string& ns) {
  return std::make_shared<backends::SplitSecretStore>(
      std::make_shared<KubeSecretStore>(client, ns, kApprovalSigningSecretName),
      std::make_shared<KubeSecretStore>(client, ns, kUserPinsSecretName),
      std::make_shared<KubeSecretStore>(client, ns, kSoPinsSecretName));
}

Result<int> migrateLegacyCredentials(kube::Client& client, const std::string& ns, backends::SecretStore& target) {
  const std::string where = ns + "/" + kLegacyCredentialsSecretName;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto legacy = client.get(kube::resources::secrets(), ns, kLegacyCredentialsSecretName);
    if (!legacy.ok()) {
      if (legacy.error().code == ErrorCode::kNotFound) return 0;
      return makeError(legacy.error().code, "secret " + where + ": " + legacy.error().message);
    }
    int moved = 0;
    if (const Json* data = findPath(*legacy, "data"); data && data->is_object()) {
      for (const auto& [name, enc] : data->items()) {
        if (!enc.is_string()) return makeError(ErrorCode::kInternal, "secret " + where + ": " + name + " is not a string");
        ASSIGN_OR_RETURN(std::string plain, base64Decode(enc.get<std::string>()));
        backends::SecretValue value(std::move(plain));
        ASSIGN_OR_RETURN(backends::SecretValue kept, target.putIfAbsent(name, value));
        if (!(kept == value))
          return makeError(ErrorCode::kFailedPrecondition,
                           "secret " + where + " and the new credential Secrets hold different values for " + name +
                               "; resolve by hand (docs/security.md, \"Credentials\") before starting the operator");
        ++moved;
      }
    }
    kube::DeleteOptions del;
    del.preconditionUid = getString(*legacy, "metadata.uid");
    del.preconditionResourceVersion = getString(*legacy, "metadata.resourceVersion");
    auto r = client.remove(kube::resources::secrets(), ns, kLegacyCredentialsSecretName, del);
    if (r.ok() || r.error().code == ErrorCode::kNotFound) return moved;
    if (r.error().code != ErrorCode::kConflict) return makeError(r.error().code, "deleting secret " + where + ": " + r.error().message);
  }
  return makeError(ErrorCode::kConflict, "secret " + where + " keeps changing; is a replica of an older release running?");
}

}  // namespace keygate::controllers

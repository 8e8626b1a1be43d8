#pragma once
// Where the operator keeps its credentials in a cluster: three Secrets in its own namespace,
// one per kind (backends::SecretKind), so RBAC `resourceNames` can scope each one and a copy
// of one hands out nothing else (docs/security.md, "Credentials"):
//   keygate-approval-signing-key  the approval-signing keyring (webhook signs, reconcilers verify)
//   keygate-token-user-pins       each tenant token's user PIN (every use of a key)
//   keygate-token-so-pins         each tenant token's SO PIN (token creation and recovery only)
// Releases before this split kept all of them in one Secret, keygate-backend-credentials;
// the operator moves its values at start (migrateLegacyCredentials) and deletes it.

#include <memory>
#include <string>

#include "backends/split_secret_store.h"
#include "kube/client.h"

namespace keygate::controllers {

inline constexpr const char* kApprovalSigningSecretName = "keygate-approval-signing-key";
inline constexpr const char* kUserPinsSecretName = "keygate-token-user-pins";
inline constexpr const char* kSoPinsSecretName = "keygate-token-so-pins";
inline constexpr const char* kLegacyCredentialsSecretName = "keygate-backend-credentials";

std::shared_ptr<backends::SplitSecretStore> kubeCredentialStores(kube::ClientPtr client, const std::string& ns);

// Moves every value of the legacy Secret into `target` (putIfAbsent: a value already in the
// new Secrets is kept), then deletes the legacy Secret with a resourceVersion precondition
// (a replica of the old release that wrote to it meanwhile makes the delete fail, and the
// move starts over). A name present in both with different values is FailedPrecondition:
// the operator refuses to start rather than pick one and lose the keys of the other.
// Returns how many values were moved (0 when there is no legacy Secret).
Result<int> migrateLegacyCredentials(kube::Client& client, const std::string& ns, backends::SecretStore& target);

}  // namespace keygate::controllers

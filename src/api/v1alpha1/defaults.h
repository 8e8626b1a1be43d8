#pragma once
// Defaulting. applySchemaDefaults mirrors the CRD's `default:` values exactly (what the API
// server fills in). applyPolicyDefaults adds the operator policy: requiredApprovals is raised
// to the policy minimum for the key's purpose, preActiveTTL defaults to and is capped by the
// policy. The mutating webhook applies both; the reconciler uses the effective* helpers on
// an unchanged spec (it never writes spec).

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "api/v1alpha1/key_role_binding.h"
#include "api/v1alpha1/policy.h"

namespace keygate::api::v1alpha1 {

inline constexpr std::string_view kDefaultPendingWindow = "168h";
inline constexpr int64_t kDefaultRequiredApprovals = 1;

void applySchemaDefaults(EncryptionKey& key);
void applySchemaDefaults(KeyActivationRequest& request);  // none today; kept for symmetry
void applySchemaDefaults(KeyRoleBinding& binding);        // none today
void applyPolicyDefaults(EncryptionKey& key, const Policy& policy);
inline void applyDefaults(EncryptionKey& key, const Policy& policy) {
  applySchemaDefaults(key);
  applyPolicyDefaults(key, policy);
}

// max(spec.activation.requiredApprovals (default 1), policy minimum for the purpose).
int64_t effectiveRequiredApprovals(const EncryptionKeySpec& spec, const Policy& policy);
// What `request` needs: the key's effective requirement now, and with
// policy.fixApprovalsAtRequest never less than what was stamped on the request at creation
// (kApprovalsRequiredAnnotation): lowering spec.activation.requiredApprovals after a request
// exists does not lower that request's bar.
int64_t requiredApprovalsFor(const KeyActivationRequest& request, const EncryptionKeySpec& spec, const Policy& policy);
// spec.activation.preActiveTTL (policy default if absent or invalid), capped at policy max.
Duration effectivePreActiveTtl(const EncryptionKeySpec& spec, const Policy& policy);
// spec.destruction.pendingWindow, 168h if absent or invalid.
Duration effectivePendingWindow(const EncryptionKeySpec& spec);
DestructionPolicy effectiveDestructionPolicy(const EncryptionKeySpec& spec);

}  // namespace keygate::api::v1alpha1

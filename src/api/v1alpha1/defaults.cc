#include "api/v1alpha1/defaults.h"

#include <algorithm>

#include "common/time.h"

namespace keygate::api::v1alpha1 {

void applySchemaDefaults(EncryptionKey& key) {
  auto& s = key.spec;
  if (s.origin == Origin::kUnspecified) s.origin = Origin::kGenerated;
  if (s.activation.requiredApprovals == 0) s.activation.requiredApprovals = kDefaultRequiredApprovals;
  if (s.destruction.policy == DestructionPolicy::kUnspecified) s.destruction.policy = DestructionPolicy::kRetain;
  if (s.destruction.pendingWindow.empty()) s.destruction.pendingWindow = std::string(kDefaultPendingWindow);
  // deactivate/scheduleDestruction default false and rotation.requireApproval true are the
  // struct initialisers.
}

void applySchemaDefaults(KeyActivationRequest&) {}
void applySchemaDefaults(KeyRoleBinding&) {}

void applyPolicyDefaults(EncryptionKey& key, const Policy& policy) {
  auto& a = key.spec.activation;
  a.requiredApprovals = effectiveRequiredApprovals(key.spec, policy);
  Duration ttl = effectivePreActiveTtl(key.spec, policy);
  auto current = a.preActiveTTL.empty() ? Result<Duration>(makeError(ErrorCode::kNotFound, ""))
                                        : parseGoDuration(a.preActiveTTL);
  // Rewrite only when absent or capped, so a valid user value keeps its spelling.
  if (!current.ok() ? a.preActiveTTL.empty() : *current != ttl) a.preActiveTTL = formatGoDuration(ttl);
}

int64_t effectiveRequiredApprovals(const EncryptionKeySpec& spec, const Policy& policy) {
  int64_t n = spec.activation.requiredApprovals > 0 ? spec.activation.requiredApprovals : kDefaultRequiredApprovals;
  if (spec.purpose != Purpose::kUnspecified) n = std::max(n, policy.minApprovalsFor(spec.purpose));
  else n = std::max(n, policy.minApprovals.defaultValue);
  return n;
}

int64_t requiredApprovalsFor(const KeyActivationRequest& request, const EncryptionKeySpec& spec, const Policy& policy) {
  int64_t n = effectiveRequiredApprovals(spec, policy);
  if (!policy.fixApprovalsAtRequest) return n;
  auto it = request.metadata.annotations.find(std::string(kApprovalsRequiredAnnotation));
  if (it == request.metadata.annotations.end()) return n;
  int64_t stamped = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9' || stamped > kMaxApprovals) return n;  // not ours: ignored
    stamped = stamped * 10 + (c - '0');
  }
  return std::max(n, std::min(stamped, kMaxApprovals));
}

Duration effectivePreActiveTtl(const EncryptionKeySpec& spec, const Policy& policy) {
  Duration ttl = policy.preActiveTTL.defaultValue;
  if (!spec.activation.preActiveTTL.empty()) {
    auto d = parseGoDuration(spec.activation.preActiveTTL);
    if (d.ok() && *d > Duration::zero()) ttl = *d;
  }
  return std::min(ttl, policy.preActiveTTL.max);
}

Duration effectivePendingWindow(const EncryptionKeySpec& spec) {
  if (!spec.destruction.pendingWindow.empty()) {
    auto d = parseGoDuration(spec.destruction.pendingWindow);
    if (d.ok() && *d > Duration::zero()) return *d;
  }
  return std::chrono::hours(168);
}

DestructionPolicy effectiveDestructionPolicy(const EncryptionKeySpec& spec) {
  return spec.destruction.policy == DestructionPolicy::kUnspecified ? DestructionPolicy::kRetain
                                                                    : spec.destruction.policy;
}

}  // namespace keygate::api::v1alpha1

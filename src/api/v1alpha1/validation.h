#pragma once
// ONE validation module, shared by `keygate check`, the admission webhook and the
// reconcilers. It mirrors the CRD schemas (required, enums, bounds, patterns), their CEL
// rules (immutability, purpose ↔ algorithm fit, origin/import), and adds what a schema
// cannot express: same-namespace references, policy (approvals, TTL caps, jurisdictions),
// lifecycle guards (an Active key is never destroyed) and segregation of duties.
//
// Every message names the field: `spec.algorithm: RSA-3072 cannot serve purpose MAC`.

#include <string>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "api/v1alpha1/key_role_binding.h"
#include "api/v1alpha1/policy.h"
#include "common/result.h"

namespace keygate::api::v1alpha1 {

struct FieldError {
  std::string field;
  std::string message;
  std::string toString() const { return field + ": " + message; }
  bool operator==(const FieldError&) const = default;
};
using FieldErrors = std::vector<FieldError>;

// "a: x; b: y" — for admission denials and conditions.
std::string joinErrors(const FieldErrors& errors);

// Schema bounds, also written into the CRDs.
inline constexpr size_t kMaxAffectedSystems = 32;
inline constexpr size_t kMaxApprovalEntries = 32;
inline constexpr size_t kMaxSubjects = 64;
inline constexpr size_t kMaxNameLength = 253;
inline constexpr size_t kMaxReasonLength = 1024;

FieldErrors validateCreate(const EncryptionKey& key, const Policy& policy);
FieldErrors validateUpdate(const EncryptionKey& oldKey, const EncryptionKey& newKey, const Policy& policy);
// DELETE of a key whose destruction.policy is Destroy while a version is Active.
FieldErrors validateDelete(const EncryptionKey& key);

FieldErrors validateCreate(const KeyActivationRequest& request, const Policy& policy);
FieldErrors validateUpdate(const KeyActivationRequest& oldRequest, const KeyActivationRequest& newRequest,
                           const Policy& policy);
// Cross-object: the request names this key (same namespace), the version exists, no
// approver is the key's creator (annotation keygate.dev/created-by) unless policy allows.
FieldErrors validateRequestForKey(const KeyActivationRequest& request, const EncryptionKey& key, const Policy& policy);

FieldErrors validateCreate(const KeyRoleBinding& binding, const Policy& policy);
FieldErrors validateUpdate(const KeyRoleBinding& oldBinding, const KeyRoleBinding& newBinding, const Policy& policy);

// reviewBy is a date (YYYY-MM-DD); the binding grants through that whole day (UTC). Returns
// the first instant at which the binding is overdue.
Result<WallTime> parseReviewBy(std::string_view reviewBy);
bool bindingIsCurrent(const KeyRoleBinding& binding, WallTime now);

// Segregation of duties: subjects that hold both KeyAdministrator and KeyApprover in one
// namespace (declared subjects only: group membership is known only at request time).
struct SegregationConflict {
  std::string namespace_;
  Subject subject;
  std::vector<std::string> administratorBindings;
  std::vector<std::string> approverBindings;
  bool operator==(const SegregationConflict&) const = default;
};
std::vector<SegregationConflict> findSegregationConflicts(const std::vector<KeyRoleBinding>& bindings);
// For the webhook: would adding/updating `candidate` create a conflict with `existing`
// (bindings of the same name as the candidate are ignored: it replaces them)?
FieldErrors validateSegregation(const KeyRoleBinding& candidate, const std::vector<KeyRoleBinding>& existing);

}  // namespace keygate::api::v1alpha1

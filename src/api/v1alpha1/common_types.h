#pragma once
// Types shared by the three keygate.dev/v1alpha1 kinds: the ObjectMeta subset the operator
// uses, Conditions, and the API's enums with their exact wire spelling.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace keygate::api::v1alpha1 {

inline constexpr std::string_view kGroup = "keygate.dev";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kApiVersion = "keygate.dev/v1alpha1";
// Finalizer that holds an EncryptionKey until its backend object is dealt with.
inline constexpr std::string_view kBackendCleanupFinalizer = "keygate.dev/backend-cleanup";
// Any new value forces a describe() against the backend (drift detection).
inline constexpr std::string_view kReconcileRequestedAtAnnotation = "keygate.dev/reconcile-requested-at";
// Stamped by the mutating webhook on EncryptionKey CREATE; immutable.
inline constexpr std::string_view kCreatedByAnnotation = "keygate.dev/created-by";
// On a KeyActivationRequest: the approvals its key required when the request was created,
// stamped by the mutating webhook (a client's value is replaced; changes are refused).
inline constexpr std::string_view kApprovalsRequiredAnnotation = "keygate.dev/approvals-required";
// On a Namespace, set by the platform team: the jurisdiction of every key in it. A key's
// spec.jurisdiction defaults to it and may not contradict it.
inline constexpr std::string_view kJurisdictionLabel = "keygate.dev/jurisdiction";
// On an EncryptionKey: who last changed spec.deactivate, spec.compromised or
// spec.scheduleDestruction, stamped by the mutating webhook (clients cannot set it); the
// audit record and Event of the resulting transition name this person as the initiator.
inline constexpr std::string_view kRequestedByAnnotation = "keygate.dev/requested-by";
// On an EncryptionKey, set by a KeyAdministrator (`kubectl keygate rotate`): a value other
// than status.observedRotateRequest starts a rotation now (a new PreActive version, activated
// like any other), whatever rotation.period says. Stamps requested-by like the admin fields.
inline constexpr std::string_view kRotateRequestedAtAnnotation = "keygate.dev/rotate-requested-at";

struct OwnerReference {
  std::string apiVersion;
  std::string kind;
  std::string name;
  std::string uid;
  std::optional<bool> controller;
  std::optional<bool> blockOwnerDeletion;
  bool operator==(const OwnerReference&) const = default;
};

// The ObjectMeta fields the operator reads or writes. Everything else the server sends
// (managedFields, generateName, ...) is kept in the owning object's `raw` and merged
// back on encode.
struct ObjectMeta {
  std::string name;
  std::string namespace_;  // "namespace" on the wire
  std::string uid;
  std::string resourceVersion;
  int64_t generation = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  std::optional<WallTime> creationTimestamp;
  std::optional<WallTime> deletionTimestamp;
  std::vector<OwnerReference> ownerReferences;
  bool operator==(const ObjectMeta&) const = default;
};

// metav1.Condition. lastTransitionTime changes only when status changes.
struct Condition {
  std::string type;
  std::string status;  // "True" | "False" | "Unknown"
  std::string reason;
  std::string message;
  int64_t observedGeneration = 0;
  std::optional<WallTime> lastTransitionTime;
  bool operator==(const Condition&) const = default;
};

const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type);
bool conditionIsTrue(const std::vector<Condition>& conditions, std::string_view type);
// Sets or updates one condition. lastTransitionTime is set to `now` only when the
// condition is new or its status changes, so repeating the same call is a no-op.
void setCondition(std::vector<Condition>& conditions, std::string_view type, bool status, std::string_view reason,
                  std::string_view message, int64_t observedGeneration, WallTime now);
// kstatus' "abnormal-true" conditions, set beside Ready on every kind (docs/gitops.md):
// Reconciling=True while work or people are still pending, Stalled=True on an outcome a
// human must act on (kstatus reports the object Failed); both False once the object is done.
enum class Progress { kDone, kReconciling, kStalled };
void setProgressConditions(std::vector<Condition>& conditions, Progress progress, std::string_view reason,
                           std::string_view message, int64_t observedGeneration, WallTime now);

// ---------------------------------------------------------------------------------------
// Enums. kUnspecified is "absent on the wire" (encoded by omission); validation reports it
// as a required value where the schema requires one.

enum class Purpose { kUnspecified, kEncrypt, kSign, kWrap, kMAC };
enum class Algorithm { kUnspecified, kAes256, kRsa3072, kRsa4096, kEcP256, kEcP384, kHmacSha256 };
enum class Origin { kUnspecified, kGenerated, kExternal };
enum class DestructionPolicy { kUnspecified, kRetain, kDestroy };
enum class KeyState {
  kUnspecified,
  kPending,
  kPreActive,
  kActive,
  kDeactivated,
  kCompromised,
  kExpired,
  kDestroyScheduled,
  kDestroyed,
  kFailed
};
enum class RequestPhase { kUnspecified, kPending, kApproved, kDenied, kActivated, kExpired, kFailed };
enum class Decision { kUnspecified, kApprove, kDeny };
enum class Role { kUnspecified, kKeyAdministrator, kKeyApprover, kKeyUser, kKeyAuditor };
enum class SubjectKind { kUnspecified, kUser, kGroup, kServiceAccount };

template <typename E>
struct EnumTraits;

#define KEYGATE_ENUM_TRAITS(E, N, ...)                                                  \
  template <>                                                                           \
  struct EnumTraits<E> {                                                                \
    static constexpr std::array<std::pair<E, std::string_view>, N> kValues{{__VA_ARGS__}}; \
  }

KEYGATE_ENUM_TRAITS(Purpose, 4, {Purpose::kEncrypt, "Encrypt"}, {Purpose::kSign, "Sign"}, {Purpose::kWrap, "Wrap"},
                    {Purpose::kMAC, "MAC"});
KEYGATE_ENUM_TRAITS(Algorithm, 6, {Algorithm::kAes256, "AES-256"}, {Algorithm::kRsa3072, "RSA-3072"},
                    {Algorithm::kRsa4096, "RSA-4096"}, {Algorithm::kEcP256, "EC-P256"},
                    {Algorithm::kEcP384, "EC-P384"}, {Algorithm::kHmacSha256, "HMAC-SHA256"});
KEYGATE_ENUM_TRAITS(Origin, 2, {Origin::kGenerated, "Generated"}, {Origin::kExternal, "External"});
KEYGATE_ENUM_TRAITS(DestructionPolicy, 2, {DestructionPolicy::kRetain, "Retain"},
                    {DestructionPolicy::kDestroy, "Destroy"});
KEYGATE_ENUM_TRAITS(KeyState, 9, {KeyState::kPending, "Pending"}, {KeyState::kPreActive, "PreActive"},
                    {KeyState::kActive, "Active"}, {KeyState::kDeactivated, "Deactivated"},
                    {KeyState::kCompromised, "Compromised"}, {KeyState::kExpired, "Expired"},
                    {KeyState::kDestroyScheduled, "DestroyScheduled"}, {KeyState::kDestroyed, "Destroyed"},
                    {KeyState::kFailed, "Failed"});
KEYGATE_ENUM_TRAITS(RequestPhase, 6, {RequestPhase::kPending, "Pending"}, {RequestPhase::kApproved, "Approved"},
                    {RequestPhase::kDenied, "Denied"}, {RequestPhase::kActivated, "Activated"},
                    {RequestPhase::kExpired, "Expired"}, {RequestPhase::kFailed, "Failed"});
KEYGATE_ENUM_TRAITS(Decision, 2, {Decision::kApprove, "Approve"}, {Decision::kDeny, "Deny"});
KEYGATE_ENUM_TRAITS(Role, 4, {Role::kKeyAdministrator, "KeyAdministrator"}, {Role::kKeyApprover, "KeyApprover"},
                    {Role::kKeyUser, "KeyUser"}, {Role::kKeyAuditor, "KeyAuditor"});
KEYGATE_ENUM_TRAITS(SubjectKind, 3, {SubjectKind::kUser, "User"}, {SubjectKind::kGroup, "Group"},
                    {SubjectKind::kServiceAccount, "ServiceAccount"});

#undef KEYGATE_ENUM_TRAITS

// Wire spelling; "" for kUnspecified.
template <typename E>
std::string_view toString(E e) {
  for (const auto& [v, name] : EnumTraits<E>::kValues)
    if (v == e) return name;
  return "";
}

// `supported values: "A", "B", ...` in the kube-apiserver's wording.
template <typename E>
std::string supportedValues() {
  std::string out = "supported values: ";
  bool first = true;
  for (const auto& [v, name] : EnumTraits<E>::kValues) {
    if (!first) out += ", ";
    first = false;
    out += "\"" + std::string(name) + "\"";
  }
  return out;
}

// Exact (case-sensitive) match, as the CRD enum is. The error message is
// `unsupported value "X": supported values: ...`; callers prefix the field path.
template <typename E>
Result<E> parseEnum(std::string_view s) {
  for (const auto& [v, name] : EnumTraits<E>::kValues)
    if (name == s) return v;
  return makeError(ErrorCode::kInvalidArgument,
                   "unsupported value \"" + std::string(s) + "\": " + supportedValues<E>());
}

inline Result<Purpose> parsePurpose(std::string_view s) { return parseEnum<Purpose>(s); }
inline Result<Algorithm> parseAlgorithm(std::string_view s) { return parseEnum<Algorithm>(s); }
inline Result<KeyState> parseKeyState(std::string_view s) { return parseEnum<KeyState>(s); }
inline Result<RequestPhase> parseRequestPhase(std::string_view s) { return parseEnum<RequestPhase>(s); }
inline Result<Role> parseRole(std::string_view s) { return parseEnum<Role>(s); }

// The purpose ↔ algorithm table (CEK-11): Encrypt→AES/RSA, Sign→RSA/EC, Wrap→AES/RSA, MAC→HMAC.
bool algorithmServesPurpose(Algorithm a, Purpose p);

}  // namespace keygate::api::v1alpha1

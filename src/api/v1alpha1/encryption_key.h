#pragma once
// EncryptionKey (ek): one customer-managed key with one purpose, living in one backend.
// Spec durations and times keep the user's exact text (they are parsed where used), so an
// object read from the server encodes back byte-for-byte and never bumps generation.

#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/common_types.h"
#include "common/json.h"

namespace keygate::api::v1alpha1 {

struct SecretKeyRef {
  std::string name;
  std::string key;
  std::string namespace_;  // optional; when set it must equal the object's namespace
  bool operator==(const SecretKeyRef&) const = default;
};

struct ImportSpec {
  std::optional<SecretKeyRef> secretRef;
  bool operator==(const ImportSpec&) const = default;
};

struct ActivationSpec {
  int64_t requiredApprovals = 0;  // 0 = absent; schema default 1
  std::string preActiveTTL;       // Go duration; absent = policy default
  std::string notBefore;          // RFC 3339; optional
  bool operator==(const ActivationSpec&) const = default;
};

struct RotationSpec {
  std::string period;  // Go duration
  bool requireApproval = true;
  bool operator==(const RotationSpec&) const = default;
};

struct CompromisedSpec {
  std::string reason;
  bool operator==(const CompromisedSpec&) const = default;
};

struct DestructionSpec {
  DestructionPolicy policy = DestructionPolicy::kUnspecified;  // schema default Retain
  std::string pendingWindow;                                   // schema default 168h
  bool operator==(const DestructionSpec&) const = default;
};

struct EncryptionKeySpec {
  Purpose purpose = Purpose::kUnspecified;
  Algorithm algorithm = Algorithm::kUnspecified;
  std::string backend;
  Origin origin = Origin::kUnspecified;  // schema default Generated
  std::optional<ImportSpec> import;
  ActivationSpec activation;
  std::optional<RotationSpec> rotation;
  bool deactivate = false;
  std::optional<CompromisedSpec> compromised;
  bool scheduleDestruction = false;
  DestructionSpec destruction;
  std::string jurisdiction;
  std::vector<std::string> affectedSystems;
  bool operator==(const EncryptionKeySpec&) const = default;

  bool isCompromised() const { return compromised && !compromised->reason.empty(); }
};

struct KeyVersionStatus {
  int64_t version = 0;
  KeyState state = KeyState::kUnspecified;
  std::string backendKeyId;  // never key material
  std::string fingerprint;   // KCV or public-key hash
  std::optional<WallTime> createdAt;
  std::optional<WallTime> activatedAt;
  std::optional<WallTime> deactivatedAt;
  std::optional<WallTime> destroyAt;  // end of the destruction window, or when it was destroyed
  bool operator==(const KeyVersionStatus&) const = default;
};

struct ActivatedBy {
  std::string request;
  std::vector<std::string> approvers;
  bool operator==(const ActivatedBy&) const = default;
};

// Origin External: the wrapping key of the current import window (docs/byok.md). Gone once
// the version's material is imported.
struct WrappingKeyStatus {
  std::string algorithm;                // the best format the backend unwraps (first of algorithms)
  std::vector<std::string> algorithms;  // every format it unwraps, best first (AWS KMS names)
  std::string publicKeyPem;
  std::optional<WallTime> expiresAt;    // end of the import window; a new wrapping key after it
  int64_t version = 0;                  // the key version the material is for
  int64_t serial = 0;                   // import window number of that version (1, 2, ...)
  bool operator==(const WrappingKeyStatus&) const = default;
};

struct SelfTestStatus {
  std::string result;  // Passed | Failed
  std::optional<WallTime> at;
  bool operator==(const SelfTestStatus&) const = default;
};

struct EncryptionKeyStatus {
  KeyState state = KeyState::kUnspecified;
  int64_t observedGeneration = 0;
  int64_t currentVersion = 0;
  std::vector<KeyVersionStatus> versions;
  std::optional<WallTime> preActiveExpiresAt;
  std::optional<ActivatedBy> activatedBy;
  std::optional<WrappingKeyStatus> wrappingKey;
  std::optional<SelfTestStatus> selfTest;
  // The last keygate.dev/reconcile-requested-at value acted on (drift check done).
  std::string observedReconcileRequest;
  // The last keygate.dev/rotate-requested-at value acted on.
  std::string observedRotateRequest;
  std::vector<Condition> conditions;
  bool operator==(const EncryptionKeyStatus&) const = default;

  const KeyVersionStatus* findVersion(int64_t v) const;
  KeyVersionStatus* findVersion(int64_t v);
};

struct EncryptionKey {
  ObjectMeta metadata;
  EncryptionKeySpec spec;
  EncryptionKeyStatus status;
  // The document this object was decoded from (null when built in code). Fields the
  // structs do not model are taken from here on encode.
  Json raw;
  bool operator==(const EncryptionKey&) const = default;
};

}  // namespace keygate::api::v1alpha1

#pragma once
// BYOK, the operator's side (docs/byok.md): one kImportVersion action of an EncryptionKey of
// origin External. While the version waits for its material, the backend's wrapping key of
// the current import window is published in status.wrappingKey (a new one, and the old one
// destroyed, when the window ends); the tenant's Secret (spec.import.secretRef, in the key's
// namespace) is read and its blob unwrapped inside the backend. The blob is never logged,
// copied or stored, and is wiped from memory after use.
//
// Conditions: ImportPending (True while waiting, with what the tenant must do next; False,
// reason Imported, once done) and ImportFailed (True with the reason when the last attempt
// was refused: nothing was imported, and the tenant can fix the Secret within the window).

#include <optional>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/lifecycle.h"
#include "backends/key_backend.h"
#include "common/clock.h"
#include "kube/client.h"

namespace keygate::controllers {

// On the tenant's Secret, written by `keygate wrap`: which wrapping key and format the blob
// was made for (optional; without them the format follows from the blob's length).
inline constexpr const char* kWrappingKeyAnnotation = "keygate.dev/wrapping-key";
inline constexpr const char* kWrappingAlgorithmAnnotation = "keygate.dev/wrapping-algorithm";
// EC keys: the public key (PEM) beside the wrapped private key.
inline constexpr const char* kPublicKeyAnnotation = "keygate.dev/public-key";

struct ImportOutcome {
  bool imported = false;
  std::optional<Duration> requeueAfter;         // waiting: look at the Secret again then
  // WrappingKeyPublished, KeyImportRefused (once per new reason) or KeyImported: an audit
  // record and, through the reconciler, a Kubernetes Event.
  std::optional<api::v1alpha1::AuditEvent> audit;
};

struct ImportContext {
  const api::v1alpha1::EncryptionKey* key = nullptr;
  int64_t version = 0;
  backends::KeyBackend* backend = nullptr;
  backends::KeySpec spec;
  kube::Client* client = nullptr;
  WallTime now;
  Duration importWindow = std::chrono::hours(24);
  Duration recheck = std::chrono::seconds(15);  // how often a waiting import looks at the Secret
};

// Updates `status` (the version, wrappingKey, conditions). Errors: what the reconciler retries
// (transient) or records as Failed (a backend that cannot import at all).
Result<ImportOutcome> importVersion(const ImportContext& c, api::v1alpha1::EncryptionKeyStatus& status);

}  // namespace keygate::controllers

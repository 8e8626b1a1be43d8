#pragma once
// The approval-signing keyring (api/v1alpha1/approval_signing.h), kept in the operator's
// secret store under "approval-signing-keys" as JSON:
//   {"keys":[{"id":"1a2b3c4d","key":"<base64>","created":"<RFC 3339>",
//             "retired":"<RFC 3339>" (once retired; the key is then ""),
//             "unversioned":true (the pre-rotation key)}]}
// Created on first start: from the single key of earlier releases ("approval-signing-key")
// when there is one, so the approvals it signed still verify, else from a fresh key.
// Replicas starting together agree on one keyring (putIfAbsent, the loser reads the
// winner's); rotation and retirement are compare-and-swap on the stored JSON, so two
// concurrent changes never lose a key.

#include <chrono>
#include <string>
#include <vector>

#include "api/v1alpha1/approval_signing.h"
#include "backends/secret_store.h"
#include "common/result.h"

namespace keygate::controllers {

inline constexpr const char* kSigningKeySecret = "approval-signing-key";       // releases before rotation
inline constexpr const char* kSigningKeyringSecret = "approval-signing-keys";

// Every replica re-reads the stored keyring this often; a new key signs only once it is
// older than kSigningKeyPropagation, by which time each replica has it.
inline constexpr std::chrono::milliseconds kSigningKeyringRefresh{30000};
inline constexpr std::chrono::seconds kSigningKeyPropagation{90};

struct LoadedKeyring {
  std::vector<api::v1alpha1::SigningKeyEntry> keys;
  bool generatedHere = false;     // this call created the keyring with a fresh key
  bool fromUnversioned = false;   // this call created it from the earlier single key
};

// The stored keyring, creating it if there is none.
Result<LoadedKeyring> loadOrCreateSigningKeyring(backends::SecretStore& store, WallTime now);
// The stored keyring; NotFound when there is none yet.
Result<std::vector<api::v1alpha1::SigningKeyEntry>> readSigningKeyring(backends::SecretStore& store);
// Adds a fresh key; it signs once every replica has had time to read it (the keyring's
// propagation delay). Returns the new key's entry, without its key bytes.
Result<api::v1alpha1::SigningKeyEntry> rotateSigningKey(backends::SecretStore& store, WallTime now);
// Retires a key: its bytes are erased from the store and approvals it signed count no
// longer. FailedPrecondition for the last unretired key, NotFound for an unknown id.
Status retireSigningKey(backends::SecretStore& store, const std::string& id, WallTime now);

// Reads the stored keyring into `ring` when it differs from what `ring` holds. Returns a
// description of the change for the log ("added 1a2b3c4d; retired 0f0e0d0c"), "" for none.
Result<std::string> refreshSigningKeyring(backends::SecretStore& store, api::v1alpha1::SigningKeyring& ring);

std::string encodeSigningKeyring(const std::vector<api::v1alpha1::SigningKeyEntry>& keys);
Result<std::vector<api::v1alpha1::SigningKeyEntry>> decodeSigningKeyring(std::string_view json);

}  // namespace keygate::controllers

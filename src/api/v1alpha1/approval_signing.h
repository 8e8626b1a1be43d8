#pragma once
// Approval stamps: the specHash and the HMAC-SHA256 signature the mutating webhook writes
// into each new KeyActivationRequest approval, and the check the request reconciler runs
// before it counts one. A bypassed webhook (no or wrong signature) or a spec edited after
// the approval (stale specHash) can therefore never activate a key.
//
// Lives in api/ (not webhook/) because both the webhook (which stamps) and the
// KeyActivationRequest / EncryptionKey reconcilers (which verify) need it, and controllers
// may not depend on webhook. Only api/ types and OpenSSL (a private dependency) are used.
//
// ---- specHash (version 1) -------------------------------------------------------------
//   specHash = "sha256:" + lowercase hex SHA-256 of the UTF-8 bytes of canonicalSpecJson()
// canonicalSpecJson() is compact JSON (no whitespace), object keys sorted bytewise, every
// field always present (absent values as "" / 0 / []), strings escaped as nlohmann::json
// dump() does (", \ and control characters escaped; other UTF-8 verbatim; invalid UTF-8
// replaced by U+FFFD). Exactly:
//   {"key":{"algorithm":A,"backend":B,"origin":O,"purpose":P},
//    "request":{"affectedSystems":[..in order..],"changeReference":C,
//               "keyRef":{"name":N,"namespace":NS,"version":V},"reason":R,"requester":Q},
//    "v":1}
// where A/O/P are the wire spellings of the key's spec.algorithm / spec.origin /
// spec.purpose ("" when unset, except origin, which is "Generated" when unset: the schema
// default), B the key's spec.backend, and the request fields are the request's spec less
// approvals (keyRef.namespace as written, usually ""; keyRef.version 0 when absent).
//
// ---- signature (payload versions 1 and 2) ----------------------------------------------
//   signature = "hmac-sha256:" + standard base64 (with padding) of
//               HMAC-SHA256(signingKey, payload)
//   payload   = compact JSON array
//               ["keygate.dev/approval/v1", requestUid, keyUid, specHash, approver, decision, time]
//   or, when the approval carries approverGroups (a group binding granted the role),
//               ["keygate.dev/approval/v2", requestUid, keyUid, specHash, approver, decision, time,
//                [group, ...]]
// (same escaping as above). requestUid is the KeyActivationRequest's metadata.uid, keyUid the
// EncryptionKey's metadata.uid, decision "Approve" | "Deny", time the approval's exact text,
// groups in the order stamped (sorted).
//
// ---- key ids (signing-key rotation) ----------------------------------------------------
//   signature = "hmac-sha256:" + keyId + ":" + base64(HMAC-SHA256(key[keyId], payload))
// keyId is 8 lowercase hex digits naming one key of the keyring, so approvals signed before
// a rotation still verify with the key that signed them. The form without a keyId (the only
// one before rotation existed) verifies with the keyring's "unversioned" key: the key the
// operator used then, carried into the keyring when it was created. A retired key verifies
// nothing: approvals it signed count no longer.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "common/result.h"
#include "common/clock.h"

namespace keygate::api::v1alpha1 {

inline constexpr size_t kSigningKeyBytes = 32;
inline constexpr std::string_view kSpecHashPrefix = "sha256:";
inline constexpr std::string_view kSignaturePrefix = "hmac-sha256:";

// kSigningKeyBytes from the OpenSSL CSPRNG. Storing it (a Secret in the operator's
// namespace, created on first start) is the operator's job. Fails only if RAND_bytes does.
Result<std::string> generateSigningKey();

std::string canonicalSpecJson(const KeyActivationRequestSpec& request,
                              const EncryptionKeySpec& key);
std::string computeSpecHash(const KeyActivationRequestSpec& request,
                            const EncryptionKeySpec& key);

struct SignedFields {
  std::string requestUid;
  std::string keyUid;
  std::string specHash;
  std::string approver;
  std::string decision;  // "Approve" | "Deny"
  std::string time;
  // Version 2 of the payload appends these (sorted as stamped) when there are any; without
  // groups the payload is version 1, so entries signed before groups existed still verify.
  std::vector<std::string> approverGroups = {};  // initialiser: positional {..} inits may omit it
};
std::string signaturePayload(const SignedFields& fields);

// One key of the approval-signing keyring.
struct SigningKeyEntry {
  std::string id;            // 8 lowercase hex digits; "" only for ApprovalSigner(std::string)
  std::string key;           // bytes; empty once retired
  WallTime created{};
  std::optional<WallTime> retired;
  bool unversioned = false;  // also verifies signatures without a key id (the pre-rotation key)
  bool operator==(const SigningKeyEntry&) const = default;
};

// Which key signs at `now`: the newest unretired key created at least `propagation` ago (so
// every replica, re-reading the keyring periodically, can verify it before anyone signs with
// it); before any is that old, the oldest unretired key. nullptr when every key is retired.
const SigningKeyEntry* signingKeyAt(const std::vector<SigningKeyEntry>& keys, WallTime now, Duration propagation);

// The keys an ApprovalSigner uses; replaced as a whole when the stored keyring changes.
// Thread-safe.
class SigningKeyring {
 public:
  explicit SigningKeyring(Duration propagation = std::chrono::seconds(90), const Clock* clock = nullptr)
      : propagation_(propagation), clock_(clock ? *clock : realClock()) {}
  void set(std::vector<SigningKeyEntry> keys);
  std::vector<SigningKeyEntry> keys() const;
  // A copy of the key that signs now (nullopt when none).
  std::optional<SigningKeyEntry> signingKey() const;
  // The key for a signature's key id ("" = the unversioned key), if present and not retired.
  std::optional<std::string> verifyingKey(std::string_view id) const;

 private:
  const Duration propagation_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::vector<SigningKeyEntry> keys_;
};

// Signs with the keyring's current key and verifies with the key the signature names.
// Thread-safe; the keyring may change under it.
class ApprovalSigner {
 public:
  // One unversioned key (bytes, any length > 0; kSigningKeyBytes recommended): signatures
  // without a key id. Tests and tools.
  explicit ApprovalSigner(std::string key);
  explicit ApprovalSigner(std::shared_ptr<const SigningKeyring> keyring) : ring_(std::move(keyring)) {}
  bool hasKey() const { return ring_ && ring_->signingKey().has_value(); }
  std::string sign(const SignedFields& fields) const;
  // Constant-time comparison; false for an unknown or retired key id, or a malformed signature.
  bool verify(const SignedFields& fields, std::string_view signature) const;

 private:
  std::shared_ptr<const SigningKeyring> ring_;
};

// Why an approval does or does not count (the reconciler puts the description in its
// InvalidApprovals condition: "signature mismatch (bob)").
enum class ApprovalCheck { kValid, kUnsigned, kStaleSpecHash, kSignatureMismatch };
std::string_view describe(ApprovalCheck check);

// Recomputes the specHash from the request and key as they are now and verifies the
// signature over (request uid, key uid, specHash, approver, decision, time).
ApprovalCheck checkApproval(const ApprovalSigner& signer, const KeyActivationRequest& request,
                            const EncryptionKey& key, const Approval& approval);

// Standard base64 with padding (also used for AdmissionReview patches).
std::string base64Encode(std::string_view bytes);
// Strict decoder (padding required, no whitespace); InvalidArgument on malformed input.
Result<std::string> base64Decode(std::string_view text);

}  // namespace keygate::api::v1alpha1

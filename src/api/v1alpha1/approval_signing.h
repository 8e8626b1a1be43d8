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

#include <string>
#include <string_view>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "common/result.h"

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

// Holds the signing key (bytes, any length > 0; kSigningKeyBytes recommended). Immutable and
// thread-safe after construction.
class ApprovalSigner {
 public:
  explicit ApprovalSigner(std::string key) : key_(std::move(key)) {}
  bool hasKey() const { return !key_.empty(); }
  std::string sign(const SignedFields& fields) const;
  // Constant-time comparison; false for an empty key or a malformed signature.
  bool verify(const SignedFields& fields, std::string_view signature) const;

 private:
  std::string key_;
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

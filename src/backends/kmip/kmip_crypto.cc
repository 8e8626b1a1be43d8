// The crypto API's operations on a KMIP server (KeyBackend's crypto section): AES-256-GCM,
// what KMIP 1.4 and PyKMIP 0.10 can do and the tests can check. MAC is not mapped: PyKMIP
// cannot create HMAC keys, so the KMIP backend has none to use. The server's own object state is the second check: it refuses
// Encrypt/Decrypt/MAC with a key that is not Active (Permission Denied → FailedPrecondition,
// reason KEY_USE_REFUSED). PyKMIP also refuses Decrypt with a Deactivated key, which KMIP
// itself allows: with PyKMIP, ciphertexts of a rotated-out version need the version
// re-activated (or ReEncrypt before rotation).
#include <openssl/rand.h>

#include "backends/kmip/kmip_backend.h"

namespace keygate::backends::kmip {
namespace {

Item uid(const std::string& id) { return Item::text(tag::kUniqueIdentifier, id); }
std::string str(ByteView b) { return std::string(b.begin(), b.end()); }

Item gcmParameters() {
  // Cryptographic Parameters fields in the specification's order.
  return Item::structure(tag::kCryptographicParameters, {Item::enumeration(tag::kBlockCipherMode, value::kGcm),
                                                         Item::enumeration(tag::kCryptographicAlgorithm, value::kAes),
                                                         Item::integer(tag::kTagLength, 16)});
}

Error fromServer(const Error& e, const KeySpec& spec) {
  Error out = e;
  if (e.reason == "KMIP_RESULT_REASON_12" || e.reason == "KMIP_RESULT_REASON_67") {  // Permission Denied, Wrong State
    out.code = ErrorCode::kFailedPrecondition;
    out.message = "the KMIP server refused the operation with " + spec.ref.backendKeyId() + " (" + e.message + ")";
    out.reason = "KEY_USE_REFUSED";
  }
  return out;
}

Status checkPurpose(const KeySpec& spec, Purpose p, Algorithm a, const char* op) {
  RETURN_IF_ERROR(spec.ref.validate());
  if (spec.purpose != p || spec.algorithm != a)
    return makeError(ErrorCode::kFailedPrecondition, std::string(op) + " needs a " + algorithmName(a) + " " +
                                                         purposeName(p) + " key; " + spec.ref.backendKeyId() + " is " +
                                                         algorithmName(spec.algorithm) + " " + purposeName(spec.purpose));
  return okStatus();
}

}  // namespace

Result<ByteVec> KmipBackend::randomBytes(const std::string&, size_t n) {
  // KMIP's RNG Retrieve is optional and PyKMIP lacks it: OpenSSL's CSPRNG.
  ByteVec out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1)
    return makeError(ErrorCode::kUnavailable, "OpenSSL's RNG failed");
  return out;
}

Result<GcmSealed> KmipBackend::aesGcmSeal(const KeySpec& spec, ByteView plaintext, ByteView aad) {
  RETURN_IF_ERROR(checkPurpose(spec, Purpose::kEncrypt, Algorithm::kAes256, "AES-GCM encryption"));
  ASSIGN_OR_RETURN(Objects o, objects(spec.ref, false));
  ASSIGN_OR_RETURN(ByteVec iv, randomBytes(spec.ref.tenantNamespace, 12));
  std::vector<Item> req{uid(o.secretOrPrivate), gcmParameters(), Item::byteString(tag::kData, str(plaintext)),
                        Item::byteString(tag::kIvCounterNonce, str(iv))};
  if (!aad.empty()) req.push_back(Item::byteString(tag::kAuthenticatedEncryptionAdditionalData, str(aad)));
  auto r = client_->call(Operation::kEncrypt, Item::structure(tag::kRequestPayload, std::move(req)), true, 4);
  if (!r.ok()) return fromServer(r.error(), spec);
  ASSIGN_OR_RETURN(const Item* ct, r->child(tag::kData, ItemType::kByteString));
  ASSIGN_OR_RETURN(const Item* t, r->child(tag::kAuthenticatedEncryptionTag, ItemType::kByteString));
  if (t->bytes.size() != 16) return makeError(ErrorCode::kInternal, "the KMIP server returned a GCM tag that is not 16 bytes");
  ByteVec out(ct->bytes.begin(), ct->bytes.end());
  out.insert(out.end(), t->bytes.begin(), t->bytes.end());
  return GcmSealed{std::move(iv), std::move(out)};
}

Result<ByteVec> KmipBackend::aesGcmOpen(const KeySpec& spec, ByteView iv, ByteView sealed, ByteView aad) {
  RETURN_IF_ERROR(checkPurpose(spec, Purpose::kEncrypt, Algorithm::kAes256, "AES-GCM decryption"));
  if (sealed.size() < 16) return makeError(ErrorCode::kInvalidArgument, "the ciphertext is shorter than its tag");
  ASSIGN_OR_RETURN(Objects o, objects(spec.ref, false));
  std::vector<Item> req{uid(o.secretOrPrivate), gcmParameters(),
                        Item::byteString(tag::kData, str(sealed.first(sealed.size() - 16))),
                        Item::byteString(tag::kIvCounterNonce, str(iv))};
  if (!aad.empty()) req.push_back(Item::byteString(tag::kAuthenticatedEncryptionAdditionalData, str(aad)));
  req.push_back(Item::byteString(tag::kAuthenticatedEncryptionTag, str(sealed.last(16))));
  auto r = client_->call(Operation::kDecrypt, Item::structure(tag::kRequestPayload, std::move(req)), true, 4);
  if (!r.ok()) {
    // Cryptographic Failure (KMIP), or General Failure (PyKMIP raises it for a GCM tag that does
    // not match): the key is Active and the parameters are ours, so the input is at fault.
    if (r.error().reason == "KMIP_RESULT_REASON_10" || r.error().reason == "KMIP_RESULT_REASON_256") {
      Error e(ErrorCode::kInvalidArgument, "the ciphertext or the aad does not authenticate (" + r.error().message + ")");
      e.reason = "AUTHENTICATION_FAILED";
      return e;
    }
    return fromServer(r.error(), spec);
  }
  ASSIGN_OR_RETURN(const Item* pt, r->child(tag::kData, ItemType::kByteString));
  return ByteVec(pt->bytes.begin(), pt->bytes.end());
}

}  // namespace keygate::backends::kmip

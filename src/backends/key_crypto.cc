// Signing schemes and the default (Unimplemented) crypto operations of KeyBackend.
#include "backends/key_backend.h"

namespace keygate::backends {
namespace {

Error unimplemented(const KeyBackend& b, const char* op) {
  return makeError(ErrorCode::kUnimplemented, std::string(b.type()) + " backend " + b.name() + " does not serve " + op +
                                                  " through the crypto API yet");
}

}  // namespace

const char* signingSchemeName(SigningScheme s) {
  switch (s) {
    case SigningScheme::kEcdsaSha256: return "ECDSA_SHA_256";
    case SigningScheme::kEcdsaSha384: return "ECDSA_SHA_384";
    case SigningScheme::kRsaPssSha256: return "RSASSA_PSS_SHA_256";
    case SigningScheme::kRsaPkcs1Sha256: return "RSASSA_PKCS1_V1_5_SHA_256";
  }
  return "UNKNOWN";
}

size_t signingSchemeDigestLength(SigningScheme s) { return s == SigningScheme::kEcdsaSha384 ? 48 : 32; }

bool signingSchemeFits(SigningScheme s, Algorithm a) {
  switch (s) {
    case SigningScheme::kEcdsaSha256: return a == Algorithm::kEcP256;
    case SigningScheme::kEcdsaSha384: return a == Algorithm::kEcP384;
    case SigningScheme::kRsaPssSha256:
    case SigningScheme::kRsaPkcs1Sha256: return a == Algorithm::kRsa3072 || a == Algorithm::kRsa4096;
  }
  return false;
}

SigningScheme defaultSigningScheme(Algorithm a) {
  switch (a) {
    case Algorithm::kEcP256: return SigningScheme::kEcdsaSha256;
    case Algorithm::kEcP384: return SigningScheme::kEcdsaSha384;
    default: return SigningScheme::kRsaPssSha256;
  }
}

Result<ByteVec> KeyBackend::randomBytes(const std::string&, size_t) { return unimplemented(*this, "random bytes"); }

Result<std::vector<StrayObject>> KeyBackend::sweepStrays(const std::string&, const StraySweepOptions&) {
  return makeError(ErrorCode::kUnimplemented, std::string(type()) + " backend " + name() + " has no stray-object sweep");
}

const char* strayActionName(StrayObject::Action a) {
  switch (a) {
    case StrayObject::Action::kDisabled: return "Disabled";
    case StrayObject::Action::kWaiting: return "Waiting";
    case StrayObject::Action::kDestroyed: return "Destroyed";
    case StrayObject::Action::kRetained: return "Retained";
  }
  return "Disabled";
}

namespace {
Error noImport(const KeyBackend& b) {
  return makeError(ErrorCode::kUnimplemented,
                   std::string(b.type()) + " backend " + b.name() + " cannot import tenant key material (BYOK)");
}
}  // namespace

Result<WrappingKey> KeyBackend::createWrappingKey(const KeyRef&, int) { return noImport(*this); }
Status KeyBackend::destroyWrappingKey(const KeyRef&, int) { return okStatus(); }
Result<GeneratedKey> KeyBackend::importWrapped(const KeySpec&, int, const WrappedKeyMaterial&) { return noImport(*this); }
Result<GcmSealed> KeyBackend::aesGcmSeal(const KeySpec&, ByteView, ByteView) {
  return unimplemented(*this, "AES-GCM encryption");
}
Result<ByteVec> KeyBackend::aesGcmOpen(const KeySpec&, ByteView, ByteView, ByteView) {
  return unimplemented(*this, "AES-GCM decryption");
}
Result<ByteVec> KeyBackend::rsaOaepEncrypt(const KeySpec&, ByteView) { return unimplemented(*this, "RSA-OAEP encryption"); }
Result<ByteVec> KeyBackend::rsaOaepDecrypt(const KeySpec&, ByteView) { return unimplemented(*this, "RSA-OAEP decryption"); }
Result<ByteVec> KeyBackend::signDigest(const KeySpec&, SigningScheme, ByteView) { return unimplemented(*this, "signing"); }
Result<bool> KeyBackend::verifyDigest(const KeySpec&, SigningScheme, ByteView, ByteView) {
  return unimplemented(*this, "signature verification");
}
Result<ByteVec> KeyBackend::hmacSha256(const KeySpec&, ByteView) { return unimplemented(*this, "HMAC"); }
Result<bool> KeyBackend::verifyHmacSha256(const KeySpec&, ByteView, ByteView) {
  return unimplemented(*this, "HMAC verification");
}
Result<std::string> KeyBackend::publicKeyPem(const KeySpec&) { return unimplemented(*this, "public keys"); }

}  // namespace keygate::backends

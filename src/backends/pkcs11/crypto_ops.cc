// The crypto API's operations on a PKCS#11 token (KeyBackend's crypto section).
//
// Each call runs on a kCrypto session (no token lock, see Token::Access) with the key
// version's cached object handles; the token's own usage attributes decide whether the key
// may do it, so a PreActive, Compromised or Deactivated key is refused by the HSM even if
// Keygate's own state check were wrong (CKR_KEY_FUNCTION_NOT_PERMITTED → FailedPrecondition
// with reason KEY_USE_REFUSED).
#include <openssl/crypto.h>

#include "backends/pkcs11/attributes.h"
#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/mechanisms.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/public_key.h"
#include "backends/pkcs11/templates.h"

namespace keygate::backends::pkcs11 {
namespace {

constexpr const char* kCacheMiss = "KEYGATE_HANDLE_CACHE_MISS";

CK_OBJECT_HANDLE handleOf(const ObjectSet& objs, CK_OBJECT_CLASS c) {
  for (const auto& o : objs) {
    if (o.objectClass == c) return o.handle;
  }
  return CK_INVALID_HANDLE;
}

// A refused use says which key and why; session trouble keeps its CKR reason (retried).
Error useError(const char* function, CK_RV rv, const KeySpec& spec) {
  Error e = ckError(function, rv, spec.ref.backendKeyId());
  if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED || rv == CKR_KEY_TYPE_INCONSISTENT) {
    e.code = ErrorCode::kFailedPrecondition;
    e.message = "the HSM refused the operation: the usage attributes of " + spec.ref.backendKeyId() +
                " do not allow it (" + e.message + ")";
    e.reason = "KEY_USE_REFUSED";
  }
  return e;
}

Status check(const char* function, CK_RV rv, const KeySpec& spec) {
  if (rv == CKR_OK) return okStatus();
  return useError(function, rv, spec);
}

// SHA-256 DigestInfo prefix (RFC 8017 §9.2 note 1) for PKCS #1 v1.5 over a digest.
const Bytes kSha256DigestInfo = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

// The mechanism and the exact bytes the token signs for a scheme over a digest.
Bytes prepareSignature(Mechanism& m, SigningScheme scheme, ByteView digest) {
  switch (scheme) {
    case SigningScheme::kEcdsaSha256:
    case SigningScheme::kEcdsaSha384:
      setPlain(m, CKM_ECDSA);
      return Bytes(digest.begin(), digest.end());
    case SigningScheme::kRsaPssSha256:
      setRsaPssOnSha256Digest(m);
      return Bytes(digest.begin(), digest.end());
    case SigningScheme::kRsaPkcs1Sha256: {
      setPlain(m, CKM_RSA_PKCS);
      Bytes in = kSha256DigestInfo;
      in.insert(in.end(), digest.begin(), digest.end());
      return in;
    }
  }
  return {};
}

// One-shot C_EncryptInit + C_Encrypt (and the other three) with the use-error mapping.
Result<ByteVec> runEncrypt(Session& s, const Mechanism& m, CK_OBJECT_HANDLE key, ByteView in, const KeySpec& spec) {
  ByteVec out;
  RETURN_IF_ERROR(check("C_EncryptInit", s.ck().encryptInit(s.handle(), m.get(), key), spec));
  RETURN_IF_ERROR(check("C_Encrypt", s.ck().encrypt(s.handle(), in, &out), spec));
  return out;
}

// A ciphertext (or tag) that does not authenticate is the caller's input problem, not the HSM's.
Result<ByteVec> runDecrypt(Session& s, const Mechanism& m, CK_OBJECT_HANDLE key, ByteView in, const KeySpec& spec,
                           const std::string& notAuthentic) {
  ByteVec out;
  RETURN_IF_ERROR(check("C_DecryptInit", s.ck().decryptInit(s.handle(), m.get(), key), spec));
  CK_RV rv = s.ck().decrypt(s.handle(), in, &out);
  if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE || rv == CKR_GENERAL_ERROR ||
      rv == CKR_DATA_INVALID) {
    if (!out.empty()) OPENSSL_cleanse(out.data(), out.size());
    Error e(ErrorCode::kInvalidArgument, notAuthentic + " (" + ckrName(rv) + ")");
    e.reason = "AUTHENTICATION_FAILED";
    return e;
  }
  RETURN_IF_ERROR(check("C_Decrypt", rv, spec));
  return out;
}

Result<ByteVec> runSign(Session& s, const Mechanism& m, CK_OBJECT_HANDLE key, ByteView in, const KeySpec& spec) {
  ByteVec sig;
  RETURN_IF_ERROR(check("C_SignInit", s.ck().signInit(s.handle(), m.get(), key), spec));
  RETURN_IF_ERROR(check("C_Sign", s.ck().sign(s.handle(), in, &sig), spec));
  return sig;
}

// false (not an error) when the signature or MAC does not match.
Result<bool> runVerify(Session& s, const Mechanism& m, CK_OBJECT_HANDLE key, ByteView in, ByteView sig,
                       const KeySpec& spec) {
  RETURN_IF_ERROR(check("C_VerifyInit", s.ck().verifyInit(s.handle(), m.get(), key), spec));
  CK_RV rv = s.ck().verify(s.handle(), in, sig);
  if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) return false;
  RETURN_IF_ERROR(check("C_Verify", rv, spec));
  return true;
}

bool isEcdsa(SigningScheme s) { return s == SigningScheme::kEcdsaSha256 || s == SigningScheme::kEcdsaSha384; }

Status checkFits(const KeySpec& spec, Purpose purpose, const char* op) {
  RETURN_IF_ERROR(spec.ref.validate());
  if (spec.purpose != purpose) {
    return makeError(ErrorCode::kFailedPrecondition, std::string(op) + " needs a key with purpose " + purposeName(purpose) +
                                                         "; " + spec.ref.backendKeyId() + " has purpose " +
                                                         purposeName(spec.purpose));
  }
  return okStatus();
}

}  // namespace

template <typename T>
Result<T> Pkcs11Backend::withKeyObjects(const KeySpec& spec,
                                        const std::function<Result<T>(Session&, const ObjectSet&)>& op) {
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(spec.ref.tenantNamespace));
  const Bytes id = objectId(spec.ref);
  std::function<Result<T>(Session&)> run = [&](Session& s) -> Result<T> {
    if (!s.token().cachedObjects(id)) {
      Error miss(ErrorCode::kUnavailable, "handle cache miss");
      miss.reason = kCacheMiss;
      return miss;
    }
    ASSIGN_OR_RETURN(ObjectSet objs, requireObjects(s, spec, id));  // from the cache
    Result<T> r = op(s, objs);
    // A failed call may leave an operation active on the session: never pool it again.
    if (!r.ok() && r.error().reason != "KEY_USE_REFUSED") s.markBroken();
    return r;
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result<T> r = token->withSession<T>(run, Token::Access::kCrypto);
    if (r.ok() || r.error().reason != kCacheMiss) return r;
    // Find the objects (C_FindObjects reads the object set: a shared section).
    RETURN_IF_ERROR(token->withSession<bool>([&](Session& s) -> Result<bool> {
      ASSIGN_OR_RETURN(ObjectSet objs, requireObjects(s, spec, id));
      return true;
    }));
  }
  return makeError(ErrorCode::kUnavailable, "the handles of " + spec.ref.backendKeyId() + " keep disappearing; retry");
}

Result<ByteVec> Pkcs11Backend::randomBytes(const std::string& tenantNamespace, size_t n) {
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(tenantNamespace));
  return token->withSession<ByteVec>([&](Session& s) -> Result<ByteVec> {
    ByteVec out(n);
    RETURN_IF_ERROR(ckCheck("C_GenerateRandom", s.ck().generateRandom(s.handle(), out), token->label()));
    return out;
  }, Token::Access::kCrypto);
}

Result<GcmSealed> Pkcs11Backend::aesGcmSeal(const KeySpec& spec, ByteView plaintext, ByteView aad) {
  RETURN_IF_ERROR(checkFits(spec, Purpose::kEncrypt, "AES-GCM encryption"));
  return withKeyObjects<GcmSealed>(spec, [&](Session& s, const ObjectSet& objs) -> Result<GcmSealed> {
    // The IV from the HSM's RNG, in the session that encrypts (one pool round trip, not two).
    std::array<uint8_t, 12> iv{};
    RETURN_IF_ERROR(ckCheck("C_GenerateRandom", s.ck().generateRandom(s.handle(), iv), s.token().label()));
    Mechanism m;
    setAesGcm(m, iv, aad);
    ASSIGN_OR_RETURN(ByteVec sealed, runEncrypt(s, m, handleOf(objs, CKO_SECRET_KEY), plaintext, spec));
    return GcmSealed{ByteVec(iv.begin(), iv.end()), std::move(sealed)};
  });
}

Result<ByteVec> Pkcs11Backend::aesGcmOpen(const KeySpec& spec, ByteView iv, ByteView sealed, ByteView aad) {
  RETURN_IF_ERROR(checkFits(spec, Purpose::kEncrypt, "AES-GCM decryption"));
  if (iv.size() != 12) return makeError(ErrorCode::kInvalidArgument, "AES-GCM needs a 96-bit IV");
  if (sealed.size() < 16) return makeError(ErrorCode::kInvalidArgument, "the ciphertext is shorter than its tag");
  std::array<uint8_t, 12> ivArr{};
  std::copy(iv.begin(), iv.end(), ivArr.begin());
  return withKeyObjects<ByteVec>(spec, [&](Session& s, const ObjectSet& objs) -> Result<ByteVec> {
    Mechanism m;
    setAesGcm(m, ivArr, aad);
    return runDecrypt(s, m, handleOf(objs, CKO_SECRET_KEY), sealed, spec, "the ciphertext or the aad does not authenticate");
  });
}

Result<ByteVec> Pkcs11Backend::rsaOaepEncrypt(const KeySpec& spec, ByteView plaintext) {
  RETURN_IF_ERROR(checkFits(spec, Purpose::kEncrypt, "RSA-OAEP encryption"));
  return withKeyObjects<ByteVec>(spec, [&](Session& s, const ObjectSet& objs) -> Result<ByteVec> {
    Mechanism m;
    setRsaOaepSha1(m);
    return runEncrypt(s, m, handleOf(objs, CKO_PUBLIC_KEY), plaintext, spec);
  });
}

Result<ByteVec> Pkcs11Backend::rsaOaepDecrypt(const KeySpec& spec, ByteView ciphertext) {
  RETURN_IF_ERROR(checkFits(spec, Purpose::kEncrypt, "RSA-OAEP decryption"));
  return withKeyObjects<ByteVec>(spec, [&](Session& s, const ObjectSet& objs) -> Result<ByteVec> {
    Mechanism m;
    setRsaOaepSha1(m);
    return runDecrypt(s, m, handleOf(objs, CKO_PRIVATE_KEY), ciphertext, spec,
                      "the RSA-OAEP ciphertext does not decrypt with this key");
  });
}

Result<ByteVec> Pkcs11Backend::signDigest(const KeySpec& spec, SigningScheme scheme, ByteView digest) {
  RETURN_IF_ERROR(checkFits(spec, Purpose::kSign, "signing"));
  return withKeyObjects<ByteVec>(spec, [&](Session& s, const ObjectSet& objs) -> Result<ByteVec> {
    Mechanism m;
    Bytes in = prepareSignature(m, scheme, digest);
    ASSIGN_OR_RETURN(ByteVec sig, runSign(s, m, handleOf(objs, CKO_PRIVATE_KEY), in, spec));
    if (isEcdsa(scheme)) return ecdsaRawToDer(sig);
    return sig;
  });
}

Result<bool> Pkcs11Backend::verifyDigest(const KeySpec& spec, SigningScheme scheme, ByteView digest, ByteView signature) {
  RETURN_IF_ERROR(checkFits(spec, Purpose::kSign, "signature verification"));
  Bytes sig(signature.begin(), signature.end());
  if (isEcdsa(scheme)) {
    auto raw = ecdsaDerToRaw(signature, signingSchemeDigestLength(scheme));
    if (!raw.ok()) return false;  // not a signature of this curve: it does not verify
    sig = std::move(*raw);
  }
  return withKeyObjects<bool>(spec, [&](Session& s, const ObjectSet& objs) -> Result<bool> {
    Mechanism m;
    Bytes in = prepareSignature(m, scheme, digest);
    return runVerify(s, m, handleOf(objs, CKO_PUBLIC_KEY), in, sig, spec);
  });
}

Result<ByteVec> Pkcs11Backend::hmacSha256(const KeySpec& spec, ByteView data) {
  RETURN_IF_ERROR(checkFits(spec, Purpose::kMac, "HMAC"));
  return withKeyObjects<ByteVec>(spec, [&](Session& s, const ObjectSet& objs) -> Result<ByteVec> {
    Mechanism m;
    setPlain(m, CKM_SHA256_HMAC);
    return runSign(s, m, handleOf(objs, CKO_SECRET_KEY), data, spec);
  });
}

Result<bool> Pkcs11Backend::verifyHmacSha256(const KeySpec& spec, ByteView data, ByteView mac) {
  RETURN_IF_ERROR(checkFits(spec, Purpose::kMac, "HMAC verification"));
  return withKeyObjects<bool>(spec, [&](Session& s, const ObjectSet& objs) -> Result<bool> {
    Mechanism m;
    setPlain(m, CKM_SHA256_HMAC);
    return runVerify(s, m, handleOf(objs, CKO_SECRET_KEY), data, mac, spec);
  });
}

Result<std::string> Pkcs11Backend::publicKeyPem(const KeySpec& spec) {
  RETURN_IF_ERROR(spec.ref.validate());
  return withKeyObjects<std::string>(spec, [&](Session& s, const ObjectSet& objs) -> Result<std::string> {
    ASSIGN_OR_RETURN(Bytes spki, publicKeySpki(s, objs));
    if (spki.empty()) {
      return makeError(ErrorCode::kFailedPrecondition,
                       spec.ref.backendKeyId() + " is a secret key (" + algorithmName(spec.algorithm) + "): it has no public key");
    }
    return spkiPem(spki);
  });
}

}  // namespace keygate::backends::pkcs11

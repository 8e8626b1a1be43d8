// BYOK in a PKCS#11 token (docs/byok.md): the wrapping key pair of an import window, and the
// import of the tenant's wrapped material, unwrapped only inside the token. The material is
// never in this process in plaintext: it arrives wrapped, is handed to C_UnwrapKey, and the
// blob is neither logged nor kept.
//
// SoftHSM2 2.6.1 (facts.md): OAEP unwrap works with SHA-1 only and CKM_RSA_AES_KEY_WRAP is
// missing, so RSA_AES_KEY_WRAP_* is done in two steps (OAEP-unwrap the ephemeral AES key as
// a session object, CKM_AES_KEY_WRAP_PAD-unwrap the target, destroy the ephemeral key).
// Which formats a token can do is tried, not assumed, when a wrapping key is made.
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "backends/pkcs11/attributes.h"
#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/create_objects.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/public_key.h"
#include "backends/pkcs11/templates.h"

namespace keygate::backends::pkcs11 {
namespace {

constexpr size_t kWrappingModulusBytes = 3072 / 8;

bool isKeyPairAlgorithm(Algorithm a) { return a != Algorithm::kAes256 && a != Algorithm::kHmacSha256; }

// Destroys a session object when it goes out of scope (the ephemeral AES key, probe keys).
class SessionObject {
 public:
  SessionObject(Session& s, CK_OBJECT_HANDLE h) : s_(s), h_(h) {}
  ~SessionObject() {
    if (h_ != CK_INVALID_HANDLE) s_.ck().destroyObject(s_.handle(), h_);
  }
  SessionObject(const SessionObject&) = delete;
  SessionObject& operator=(const SessionObject&) = delete;
  CK_OBJECT_HANDLE get() const { return h_; }

 private:
  Session& s_;
  CK_OBJECT_HANDLE h_;
};

struct OaepMechanism {
  CK_RSA_PKCS_OAEP_PARAMS params;
  CK_MECHANISM mech;
  explicit OaepMechanism(bool sha256)
      : params{sha256 ? CKM_SHA256 : CKM_SHA_1, sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0},
        mech{CKM_RSA_PKCS_OAEP, &params, sizeof(params)} {}
  OaepMechanism(const OaepMechanism&) = delete;
};

// A session AES-256 key that can only unwrap: the ephemeral key of RSA_AES_KEY_WRAP_*.
AttributeList ephemeralTemplate() {
  AttributeList t;
  t.addUlong(CKA_CLASS, CKO_SECRET_KEY).addUlong(CKA_KEY_TYPE, CKK_AES).add(CKA_TOKEN, false).add(CKA_PRIVATE, true);
  for (CK_ATTRIBUTE_TYPE a : usageAttributes(CKO_SECRET_KEY)) t.add(a, a == CKA_UNWRAP);
  t.add(CKA_SENSITIVE, true).add(CKA_EXTRACTABLE, false);
  return t;
}

// A session secret the probe unwraps into and destroys.
AttributeList probeTemplate() {
  AttributeList t;
  t.addUlong(CKA_CLASS, CKO_SECRET_KEY).addUlong(CKA_KEY_TYPE, CKK_GENERIC_SECRET).add(CKA_TOKEN, false);
  for (CK_ATTRIBUTE_TYPE a : usageAttributes(CKO_SECRET_KEY)) t.add(a, false);
  t.add(CKA_SENSITIVE, true).add(CKA_EXTRACTABLE, false);
  return t;
}

Error notUnwrapped(CK_RV rv, std::string_view step) {
  return makeError(ErrorCode::kInvalidArgument,
                   std::string(step) + " failed (" + ckrName(rv) +
                       "): the blob does not unwrap with this key's current wrapping key (wrapped for an older wrapping "
                       "key or another key's, truncated, padded, or in another format than the one named)");
}

// C_UnwrapKey of `blob` in `format` with the wrapping private key into an object made from
// `tmpl`. The ephemeral key of the two-step formats is a session object, destroyed here.
Result<CK_OBJECT_HANDLE> unwrapBlob(Session& s, CK_OBJECT_HANDLE wrapPriv, WrappingFormat format, ByteView blob,
                                    const AttributeList& tmpl) {
  OaepMechanism oaep(usesSha256(format));
  CK_OBJECT_HANDLE out = CK_INVALID_HANDLE;
  if (!isKeyWrapFormat(format)) {
    if (blob.size() != kWrappingModulusBytes)
      return makeError(ErrorCode::kInvalidArgument, std::string(wrappingFormatName(format)) + " blob is " +
                                                        std::to_string(blob.size()) + " bytes; a wrapping key of RSA-3072 makes " +
                                                        std::to_string(kWrappingModulusBytes));
    CK_RV rv = s.ck().unwrapKey(s.handle(), oaep.mech, wrapPriv, blob, tmpl.span(), &out);
    if (rv != CKR_OK) return notUnwrapped(rv, "RSA-OAEP unwrap");
    return out;
  }
  // The RFC 5649 part is at least 16 bytes (one semiblock of integrity check + data), whole semiblocks.
  if (blob.size() < kWrappingModulusBytes + 16 || (blob.size() - kWrappingModulusBytes) % 8 != 0)
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(wrappingFormatName(format)) + " blob is " + std::to_string(blob.size()) +
                         " bytes: expected " + std::to_string(kWrappingModulusBytes) +
                         " bytes of RSA-OAEP followed by an AES key wrap (RFC 5649) of whole 8-byte blocks");
  AttributeList eph = ephemeralTemplate();
  CK_OBJECT_HANDLE ephemeral = CK_INVALID_HANDLE;
  CK_RV rv = s.ck().unwrapKey(s.handle(), oaep.mech, wrapPriv, blob.subspan(0, kWrappingModulusBytes), eph.span(), &ephemeral);
  if (rv != CKR_OK) return notUnwrapped(rv, "RSA-OAEP unwrap of the ephemeral AES key");
  SessionObject guard(s, ephemeral);
  CK_MECHANISM kwp{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
  rv = s.ck().unwrapKey(s.handle(), kwp, ephemeral, blob.subspan(kWrappingModulusBytes), tmpl.span(), &out);
  if (rv != CKR_OK)
    return rv == CKR_MECHANISM_INVALID ? makeError(ErrorCode::kInvalidArgument, "this token cannot unwrap CKM_AES_KEY_WRAP_PAD")
                                       : notUnwrapped(rv, "AES key wrap (RFC 5649) unwrap of the key material");
  return out;
}

// Objects carrying `id` (up to 8).
Result<ObjectSet> objectsWithId(Session& s, const Bytes& id) {
  AttributeList tmpl;
  tmpl.addBytes(CKA_ID, id);
  std::vector<CK_OBJECT_HANDLE> handles;
  RETURN_IF_ERROR(ckCheck("C_FindObjects", s.ck().findObjects(s.handle(), tmpl.span(), &handles, 8), s.token().label()));
  ObjectSet objs;
  for (CK_OBJECT_HANDLE h : handles) {
    ASSIGN_OR_RETURN(std::optional<CK_ULONG> cls, readUlong(s.ck(), s.handle(), h, CKA_CLASS));
    objs.push_back(ObjectRef{h, cls.value_or(CKO_VENDOR_DEFINED)});
  }
  return objs;
}

CK_OBJECT_HANDLE handleOf(const ObjectSet& objs, CK_OBJECT_CLASS c) {
  for (const auto& o : objs)
    if (o.objectClass == c) return o.handle;
  return CK_INVALID_HANDLE;
}

// Tries each format with a throw-away secret wrapped here for the wrapping key's public half.
std::vector<WrappingFormat> probeFormats(Session& s, CK_OBJECT_HANDLE wrapPriv, const std::string& pem) {
  std::vector<WrappingFormat> out;
  Bytes secret(32);
  RAND_bytes(secret.data(), static_cast<int>(secret.size()));
  const AttributeList tmpl = probeTemplate();
  for (WrappingFormat f : kAllWrappingFormats) {
    auto blob = wrapKeyMaterial(pem, f, secret);
    if (!blob.ok()) continue;
    auto h = unwrapBlob(s, wrapPriv, f, *blob, tmpl);
    if (!h.ok()) continue;
    SessionObject guard(s, *h);
    out.push_back(f);
  }
  return out;
}

struct Measure {
  size_t length = 0;  // bytes, rounded up to 8 (AES key wrap granularity)
  Bytes checkValue;   // 3 bytes
};

// Unwraps the blob once more into a session copy that never leaves the token, and measures
// it there: its length from the size of its AES key wrap (RFC 5649) under a random session
// key the token generates and nobody sees, and its check value as PKCS#11 defines
// CKA_CHECK_VALUE (AES: AES-ECB of a zero block; generic secrets: SHA-1 of the value, by
// C_DigestKey). Both session objects are destroyed before returning.
Result<Measure> measureSecret(Session& s, CK_OBJECT_HANDLE wrapPriv, WrappingFormat format, ByteView blob, bool aes) {
  AttributeList copyTmpl;
  copyTmpl.addUlong(CKA_CLASS, CKO_SECRET_KEY).addUlong(CKA_KEY_TYPE, aes ? CKK_AES : CKK_GENERIC_SECRET).add(CKA_TOKEN, false);
  for (CK_ATTRIBUTE_TYPE a : usageAttributes(CKO_SECRET_KEY)) copyTmpl.add(a, aes && a == CKA_ENCRYPT);
  copyTmpl.add(CKA_SENSITIVE, true).add(CKA_EXTRACTABLE, true);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE copy, unwrapBlob(s, wrapPriv, format, blob, copyTmpl));
  SessionObject copyGuard(s, copy);
  AttributeList wrapperTmpl;
  wrapperTmpl.addUlong(CKA_CLASS, CKO_SECRET_KEY).addUlong(CKA_KEY_TYPE, CKK_AES).add(CKA_TOKEN, false);
  for (CK_ATTRIBUTE_TYPE a : usageAttributes(CKO_SECRET_KEY)) wrapperTmpl.add(a, a == CKA_WRAP);
  wrapperTmpl.add(CKA_SENSITIVE, true).add(CKA_EXTRACTABLE, false).addUlong(CKA_VALUE_LEN, 32);
  CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE wrapper = CK_INVALID_HANDLE;
  RETURN_IF_ERROR(ckCheck("C_GenerateKey", s.ck().generateKey(s.handle(), gen, wrapperTmpl.span(), &wrapper), "measure"));
  SessionObject wrapperGuard(s, wrapper);
  Measure m;
  Bytes wrapped;
  CK_MECHANISM kwp{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
  RETURN_IF_ERROR(ckCheck("C_WrapKey", s.ck().wrapKey(s.handle(), kwp, wrapper, copy, &wrapped), "measure"));
  m.length = wrapped.size() >= 8 ? wrapped.size() - 8 : 0;
  if (aes && m.length != 16 && m.length != 24 && m.length != 32) return m;  // not an AES key: the caller refuses it
  Bytes out;
  if (aes) {
    CK_MECHANISM ecb{CKM_AES_ECB, nullptr, 0};
    RETURN_IF_ERROR(ckCheck("C_EncryptInit", s.ck().encryptInit(s.handle(), ecb, copy), "check value"));
    const Bytes zero(16, 0);
    RETURN_IF_ERROR(ckCheck("C_Encrypt", s.ck().encrypt(s.handle(), zero, &out), "check value"));
  } else {
    CK_MECHANISM sha1{CKM_SHA_1, nullptr, 0};
    RETURN_IF_ERROR(ckCheck("C_DigestKey", s.ck().digestKey(s.handle(), sha1, copy, &out), "check value"));
  }
  if (out.size() < 3) return makeError(ErrorCode::kInternal, "check value too short");
  m.checkValue.assign(out.begin(), out.begin() + 3);
  return m;
}

// The CKA_EC_POINT (DER OCTET STRING of the uncompressed point) of an EC public key PEM on
// the algorithm's curve.
Result<Bytes> ecPublicPoint(const std::string& pem, Algorithm algorithm) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr,
                                                          EVP_PKEY_free);
  if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_EC)
    return makeError(ErrorCode::kInvalidArgument, "the public key beside the material is not an EC public key (PEM)");
  char curve[64] = {0};
  size_t len = 0;
  EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve), &len);
  const std::string want = algorithm == Algorithm::kEcP256 ? "prime256v1" : "secp384r1";
  if (want != curve)
    return makeError(ErrorCode::kInvalidArgument, std::string("the public key is on curve ") + curve + "; the key is " +
                                                      algorithmName(algorithm));
  Bytes point(160);
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(), point.size(), &len) != 1)
    return makeError(ErrorCode::kInvalidArgument, "cannot read the EC public point");
  point.resize(len);
  Bytes der{0x04, static_cast<uint8_t>(point.size())};
  der.insert(der.end(), point.begin(), point.end());
  return der;
}

// Unwraps the blob once more into a session copy of the private key that may only sign, signs
// a random digest with it in the token, and checks the signature with the tenant's public key.
Status provePair(Session& s, CK_OBJECT_HANDLE wrapPriv, const WrappedKeyMaterial& material, Algorithm algorithm,
                 const std::string& publicPem) {
  AttributeList copyTmpl;
  copyTmpl.addUlong(CKA_CLASS, CKO_PRIVATE_KEY).addUlong(CKA_KEY_TYPE, CKK_EC).add(CKA_TOKEN, false);
  for (CK_ATTRIBUTE_TYPE a : usageAttributes(CKO_PRIVATE_KEY)) copyTmpl.add(a, a == CKA_SIGN);
  copyTmpl.add(CKA_SENSITIVE, true).add(CKA_EXTRACTABLE, false);
  ASSIGN_OR_RETURN(CK_OBJECT_HANDLE copy, unwrapBlob(s, wrapPriv, material.format, material.blob, copyTmpl));
  SessionObject guard(s, copy);
  Bytes digest(algorithm == Algorithm::kEcP256 ? 32 : 48);
  RAND_bytes(digest.data(), static_cast<int>(digest.size()));
  CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
  Bytes raw;
  RETURN_IF_ERROR(ckCheck("C_SignInit", s.ck().signInit(s.handle(), ecdsa, copy), "pair check"));
  RETURN_IF_ERROR(ckCheck("C_Sign", s.ck().sign(s.handle(), digest, &raw), "pair check"));
  ASSIGN_OR_RETURN(Bytes der, ecdsaRawToDer(raw));
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(publicPem.data(), static_cast<int>(publicPem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new(key.get(), nullptr), EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 ||
      EVP_PKEY_verify(ctx.get(), der.data(), der.size(), digest.data(), digest.size()) != 1)
    return makeError(ErrorCode::kInvalidArgument, "the public key beside the material does not belong to the private key");
  return okStatus();
}

}  // namespace

Result<WrappingKey> Pkcs11Backend::createWrappingKey(const KeyRef& ref, int serial) {
  RETURN_IF_ERROR(ref.validate());
  if (serial < 1) return makeError(ErrorCode::kInvalidArgument, "wrapping key serial must be >= 1");
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(ref.tenantNamespace));
  const Bytes id = wrappingObjectId(ref, serial);
  const std::string label = wrappingKeyLabel(ref, serial);
  return token->withSession<WrappingKey>([&](Session& s) -> Result<WrappingKey> {
    ASSIGN_OR_RETURN(ObjectSet objs, objectsWithId(s, id));
    CK_OBJECT_HANDLE pub = handleOf(objs, CKO_PUBLIC_KEY), priv = handleOf(objs, CKO_PRIVATE_KEY);
    if (objs.size() != 2 || pub == CK_INVALID_HANDLE || priv == CK_INVALID_HANDLE) {
      // Half a pair from an interrupted attempt holds nothing of the tenant's: replace it.
      for (const auto& o : objs) RETURN_IF_ERROR(ckCheck("C_DestroyObject", s.ck().destroyObject(s.handle(), o.handle), label));
      GenerationTemplate g = wrappingKeyTemplate(ref, serial);
      CK_MECHANISM mech{g.mechanism, nullptr, 0};
      RETURN_IF_ERROR(ckCheck("C_GenerateKeyPair",
                              s.ck().generateKeyPair(s.handle(), mech, g.publicKey.span(), g.privateKey.span(), &pub, &priv),
                              label));
      log_.info("created wrapping key", {{"wrappingKey", label}, {"token", token->label()}});
    }
    ASSIGN_OR_RETURN(Bytes spki, publicKeySpki(s, {ObjectRef{pub, CKO_PUBLIC_KEY}}));
    WrappingKey wk{label, spkiPem(spki), {}};
    wk.formats = probeFormats(s, priv, wk.publicKeyPem);
    if (wk.formats.empty())
      return makeError(ErrorCode::kFailedPrecondition,
                       "token " + token->label() + " cannot unwrap any import format (RSA-OAEP and AES key wrap with padding)");
    return wk;
  }, Token::Access::kExclusive);
}

Status Pkcs11Backend::destroyWrappingKey(const KeyRef& ref, int serial) {
  RETURN_IF_ERROR(ref.validate());
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(ref.tenantNamespace));
  const Bytes id = wrappingObjectId(ref, serial);
  RETURN_IF_ERROR(token->withSession<bool>([&](Session& s) -> Result<bool> {
    ASSIGN_OR_RETURN(ObjectSet objs, objectsWithId(s, id));
    for (const auto& o : objs)
      RETURN_IF_ERROR(ckCheck("C_DestroyObject", s.ck().destroyObject(s.handle(), o.handle), wrappingKeyLabel(ref, serial)));
    if (!objs.empty()) log_.info("destroyed wrapping key", {{"wrappingKey", wrappingKeyLabel(ref, serial)}});
    return true;
  }, Token::Access::kExclusive));
  return okStatus();
}

Result<GeneratedKey> Pkcs11Backend::importWrapped(const KeySpec& spec, int wrappingSerial, const WrappedKeyMaterial& material) {
  RETURN_IF_ERROR(spec.ref.validate());
  RETURN_IF_ERROR(checkAlgorithmFitsPurpose(spec.algorithm, spec.purpose));
  const bool keyPair = isKeyPairAlgorithm(spec.algorithm);
  if (keyPair && !isKeyWrapFormat(material.format))
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(wrappingFormatName(material.format)) + " carries raw secret material; a " +
                         algorithmName(spec.algorithm) + " private key is imported as PKCS#8 with RSA_AES_KEY_WRAP_SHA_1 or _SHA_256");
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(spec.ref.tenantNamespace));
  const Bytes id = objectId(spec.ref);
  const std::string keyId = spec.ref.backendKeyId();
  return token->withSession<GeneratedKey>([&](Session& s) -> Result<GeneratedKey> {
    ASSIGN_OR_RETURN(ObjectSet existing, lookup(s, id));
    if (!existing.empty()) {
      ASSIGN_OR_RETURN(ObjectSet objs, requireObjects(s, spec, id));
      ASSIGN_OR_RETURN(std::string fp, fingerprint(s, objs));
      return GeneratedKey{keyId, fp, false};
    }
    ASSIGN_OR_RETURN(ObjectSet wrapObjs, objectsWithId(s, wrappingObjectId(spec.ref, wrappingSerial)));
    const CK_OBJECT_HANDLE wrapPriv = handleOf(wrapObjs, CKO_PRIVATE_KEY);
    if (wrapPriv == CK_INVALID_HANDLE)
      return makeError(ErrorCode::kFailedPrecondition, "wrapping key " + wrappingKeyLabel(spec.ref, wrappingSerial) +
                                                           " is not in token " + token->label() + " (its import window ended)");
    const AttributeList tmpl = importTemplate(spec);
    // Staged (create_objects.h): unwrapped as a session object, checked, and only then copied
    // into the token in one write — material that fails a check never touches the token, and
    // a kill leaves nothing usable there.
    const bool staged = options_.stagedCreate && !stagedRefused_.load();
    const AttributeList sessionTmpl = sessionTemplateOf(tmpl);
    ASSIGN_OR_RETURN(CK_OBJECT_HANDLE key, unwrapBlob(s, wrapPriv, material.format, material.blob, staged ? sessionTmpl : tmpl));
    // From here the object exists: anything wrong with it destroys it again.
    auto reject = [&](const std::string& why) -> Error {
      s.ck().destroyObject(s.handle(), key);
      return makeError(ErrorCode::kInvalidArgument, why);
    };
    ObjectSet created{ObjectRef{key, keyPair ? static_cast<CK_OBJECT_CLASS>(CKO_PRIVATE_KEY) : static_cast<CK_OBJECT_CLASS>(CKO_SECRET_KEY)}};
    // The checked session object into the token (before any public half, as unstaged).
    auto commit = [&]() -> Status {
      if (!staged) return okStatus();
      CK_RV refused = CKR_OK;
      Result<CK_OBJECT_HANDLE> copied = copyIntoToken(s.ck(), s.handle(), key, tmpl, keyId, &refused);
      if (!copied.ok() && refused != CKR_OK) {
        stagedCopyRefused(refused);
        copied = unwrapBlob(s, wrapPriv, material.format, material.blob, tmpl);
      }
      if (!copied.ok()) return copied.takeError();
      key = created[0].handle = *copied;
      return okStatus();
    };
    std::string checkValue;
    if (!keyPair) {
      // The token records neither the length nor a check value of an unwrapped secret
      // (SoftHSM2: CKA_VALUE_LEN 0, CKA_CHECK_VALUE empty); both are measured in the token.
      auto m = measureSecret(s, wrapPriv, material.format, material.blob, spec.algorithm == Algorithm::kAes256);
      if (!m.ok()) return reject("the material cannot be measured in the token: " + m.error().message);
      if (spec.algorithm == Algorithm::kAes256 && m->length != 32)
        return reject("the material is " + std::to_string(m->length) + " bytes; AES-256 needs exactly 32");
      if (spec.algorithm == Algorithm::kHmacSha256 && (m->length < 32 || m->length > 64))
        return reject("the material is " + std::to_string(m->length) + " bytes; an HMAC-SHA256 key here is 32 to 64 bytes");
      checkValue = "kcv:" + hex(m->checkValue);
      RETURN_IF_ERROR(commit());
    } else if (spec.algorithm == Algorithm::kRsa3072 || spec.algorithm == Algorithm::kRsa4096) {
      auto modulus = readBytes(s.ck(), s.handle(), key, CKA_MODULUS);
      auto exponent = readBytes(s.ck(), s.handle(), key, CKA_PUBLIC_EXPONENT);
      if (!modulus.ok() || !*modulus || !exponent.ok() || !*exponent) return reject("the imported RSA key has no modulus");
      const size_t bits = (*modulus)->size() * 8;
      const size_t want = spec.algorithm == Algorithm::kRsa3072 ? 3072 : 4096;
      if (bits != want) return reject("the material is an RSA-" + std::to_string(bits) + " key; the key is " + algorithmName(spec.algorithm));
      RETURN_IF_ERROR(commit());
      AttributeList pubTmpl = importedPublicTemplate(spec);
      pubTmpl.addBytes(CKA_MODULUS, **modulus).addBytes(CKA_PUBLIC_EXPONENT, **exponent);
      CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
      if (CK_RV rv = s.ck().createObject(s.handle(), pubTmpl.span(), &pub); rv != CKR_OK)
        return reject("cannot create the public half (" + ckrName(rv) + ")");
      created.push_back(ObjectRef{pub, CKO_PUBLIC_KEY});
    } else {
      // EC: the public point is not an attribute of a PKCS#11 private key, so the tenant
      // supplies the public key; a signature made in the token by a session copy of the
      // imported private key must verify with it.
      if (material.publicKeyPem.empty())
        return reject("an EC private key is imported with its public key (keygate wrap adds it as the Secret's "
                      "annotation keygate.dev/public-key)");
      auto point = ecPublicPoint(material.publicKeyPem, spec.algorithm);
      if (!point.ok()) return reject(point.error().message);
      if (auto match = provePair(s, wrapPriv, material, spec.algorithm, material.publicKeyPem); !match.ok())
        return reject(match.error().message);
      RETURN_IF_ERROR(commit());
      AttributeList pubTmpl = importedPublicTemplate(spec);
      pubTmpl.addBytes(CKA_EC_PARAMS, ecParams(spec.algorithm)).addBytes(CKA_EC_POINT, *point);
      CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
      if (CK_RV rv = s.ck().createObject(s.handle(), pubTmpl.span(), &pub); rv != CKR_OK)
        return reject("cannot create the public half (" + ckrName(rv) + ")");
      created.push_back(ObjectRef{pub, CKO_PUBLIC_KEY});
    }
    token->cacheObjects(id, created);
    std::string fp = checkValue;
    if (fp.empty()) {
      ASSIGN_OR_RETURN(fp, fingerprint(s, created));
    }
    log_.info("imported key", {{"backendKeyId", keyId},
                               {"token", token->label()},
                               {"algorithm", algorithmName(spec.algorithm)},
                               {"format", wrappingFormatName(material.format)},
                               {"fingerprint", fp}});
    return GeneratedKey{keyId, fp, true};
  }, Token::Access::kExclusive);
}

}  // namespace keygate::backends::pkcs11

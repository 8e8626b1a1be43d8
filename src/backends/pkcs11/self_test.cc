// Known-answer round trips right after activation (runSelfTest in pkcs11_backend.h). The
// key is used only for the test vectors below, never for caller data.
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "backends/pkcs11/attributes.h"
#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/mechanisms.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/templates.h"

namespace keygate::backends::pkcs11 {
namespace {

const Bytes kPlaintext = {'k', 'e', 'y', 'g', 'a', 't', 'e', ' ', 's', 'e', 'l', 'f', '-', 't', 'e', 's', 't'};

Error mismatch(const std::string& what) {
  Error e(ErrorCode::kInternal, what);
  e.reason = "MISMATCH";
  return e;
}

CK_OBJECT_HANDLE handleOf(const ObjectSet& objs, CK_OBJECT_CLASS c) {
  for (const auto& o : objs) {
    if (o.objectClass == c) return o.handle;
  }
  return CK_INVALID_HANDLE;
}

Status encryptDecrypt(Session& s, const Mechanism& m, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE dec) {
  Cryptoki& ck = s.ck();
  Bytes ct, pt;
  RETURN_IF_ERROR(ckCheck("C_EncryptInit", ck.encryptInit(s.handle(), m.get(), enc)));
  RETURN_IF_ERROR(ckCheck("C_Encrypt", ck.encrypt(s.handle(), kPlaintext, &ct)));
  if (ct == kPlaintext) return mismatch("ciphertext equals plaintext");
  RETURN_IF_ERROR(ckCheck("C_DecryptInit", ck.decryptInit(s.handle(), m.get(), dec)));
  RETURN_IF_ERROR(ckCheck("C_Decrypt", ck.decrypt(s.handle(), ct, &pt)));
  if (pt != kPlaintext) return mismatch("decrypted text differs from the plaintext");
  return okStatus();
}

Status signVerify(Session& s, const Mechanism& m, CK_OBJECT_HANDLE signKey, CK_OBJECT_HANDLE verifyKey,
                  const Bytes& data) {
  Cryptoki& ck = s.ck();
  Bytes sig;
  RETURN_IF_ERROR(ckCheck("C_SignInit", ck.signInit(s.handle(), m.get(), signKey)));
  RETURN_IF_ERROR(ckCheck("C_Sign", ck.sign(s.handle(), data, &sig)));
  RETURN_IF_ERROR(ckCheck("C_VerifyInit", ck.verifyInit(s.handle(), m.get(), verifyKey)));
  RETURN_IF_ERROR(ckCheck("C_Verify", ck.verify(s.handle(), data, sig)));
  // And the negative half: a changed message must not verify.
  Bytes tampered = data;
  tampered[0] ^= 0x01;
  RETURN_IF_ERROR(ckCheck("C_VerifyInit", ck.verifyInit(s.handle(), m.get(), verifyKey)));
  CK_RV rv = ck.verify(s.handle(), tampered, sig);
  if (rv != CKR_SIGNATURE_INVALID) return mismatch("a tampered message verified (" + ckrName(rv) + ")");
  return okStatus();
}

// Wraps a session AES key with a known value, unwraps it as a readable session key and
// compares the value. Both ephemeral objects are destroyed.
Status wrapUnwrap(Session& s, const Mechanism& m, CK_OBJECT_HANDLE wrapKey, CK_OBJECT_HANDLE unwrapKey) {
  Cryptoki& ck = s.ck();
  Bytes known(32);
  if (RAND_bytes(known.data(), static_cast<int>(known.size())) != 1) return mismatch("RAND_bytes failed");
  AttributeList ephemeral;
  ephemeral.addUlong(CKA_CLASS, CKO_SECRET_KEY)
      .addUlong(CKA_KEY_TYPE, CKK_AES)
      .add(CKA_TOKEN, false)
      .add(CKA_SENSITIVE, false)
      .add(CKA_EXTRACTABLE, true)
      .addBytes(CKA_VALUE, known);
  CK_OBJECT_HANDLE original = CK_INVALID_HANDLE, unwrapped = CK_INVALID_HANDLE;
  RETURN_IF_ERROR(ckCheck("C_CreateObject", ck.createObject(s.handle(), ephemeral.span(), &original)));
  Status st = [&]() -> Status {
    Bytes blob;
    RETURN_IF_ERROR(ckCheck("C_WrapKey", ck.wrapKey(s.handle(), m.get(), wrapKey, original, &blob)));
    AttributeList out;
    out.addUlong(CKA_CLASS, CKO_SECRET_KEY)
        .addUlong(CKA_KEY_TYPE, CKK_AES)
        .add(CKA_TOKEN, false)
        .add(CKA_SENSITIVE, false)
        .add(CKA_EXTRACTABLE, true);
    RETURN_IF_ERROR(ckCheck("C_UnwrapKey", ck.unwrapKey(s.handle(), m.get(), unwrapKey, blob, out.span(), &unwrapped)));
    ASSIGN_OR_RETURN(std::optional<Bytes> value, readBytes(ck, s.handle(), unwrapped, CKA_VALUE));
    if (!value || *value != known) return mismatch("unwrapped key differs from the wrapped one");
    return okStatus();
  }();
  ck.destroyObject(s.handle(), original);
  if (unwrapped != CK_INVALID_HANDLE) ck.destroyObject(s.handle(), unwrapped);
  return st;
}

}  // namespace

Result<SelfTestResult> runSelfTest(Session& s, const KeySpec& spec, const ObjectSet& objs) {
  const CK_OBJECT_HANDLE secret = handleOf(objs, CKO_SECRET_KEY);
  const CK_OBJECT_HANDLE pub = handleOf(objs, CKO_PUBLIC_KEY);
  const CK_OBJECT_HANDLE priv = handleOf(objs, CKO_PRIVATE_KEY);
  const bool rsa = spec.algorithm == Algorithm::kRsa3072 || spec.algorithm == Algorithm::kRsa4096;
  Mechanism m;
  Status st = okStatus();
  switch (spec.purpose) {
    case Purpose::kEncrypt:
      if (rsa) {
        setRsaOaepSha1(m);
        st = encryptDecrypt(s, m, pub, priv);
      } else {
        std::array<uint8_t, 12> iv{};
        RAND_bytes(iv.data(), static_cast<int>(iv.size()));
        setAesGcm(m, iv);
        st = encryptDecrypt(s, m, secret, secret);
      }
      break;
    case Purpose::kSign:
      if (rsa) {
        setRsaPssSha256(m);
        st = signVerify(s, m, priv, pub, kPlaintext);
      } else {  // ECDSA over a SHA-256 digest
        setPlain(m, CKM_ECDSA);
        Bytes digest(SHA256_DIGEST_LENGTH);
        SHA256(kPlaintext.data(), kPlaintext.size(), digest.data());
        st = signVerify(s, m, priv, pub, digest);
      }
      break;
    case Purpose::kWrap:
      if (rsa) {
        setRsaOaepSha1(m);
        st = wrapUnwrap(s, m, pub, priv);
      } else {
        setPlain(m, CKM_AES_KEY_WRAP_PAD);
        st = wrapUnwrap(s, m, secret, secret);
      }
      break;
    case Purpose::kMac:
      setPlain(m, CKM_SHA256_HMAC);
      st = signVerify(s, m, secret, secret, kPlaintext);
      break;
  }
  SelfTestResult r;
  r.mechanism = mechanismName(m.mech.mechanism);
  if (st.ok()) {
    r.passed = true;
    return r;
  }
  // Session trouble is the caller's to retry, not a verdict on the key.
  if (isSessionLoss(st.error()) || isStaleHandle(st.error())) return st.takeError();
  r.passed = false;
  r.detail = st.error().message;
  return r;
}

}  // namespace keygate::backends::pkcs11

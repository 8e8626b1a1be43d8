// Self tests right after activation (runSelfTest in pkcs11_backend.h), in two parts:
//
// 1. A known-answer test of the module's mechanism where a published vector exists: the
//    vector's key is created as a session object (never on the token, destroyed at once)
//    and the module's output must equal the published one. AES-256-GCM: McGrew & Viega,
//    "The Galois/Counter Mode of Operation", test case 14; HMAC-SHA-256: RFC 4231 test case 6.
// 2. A round trip with the new key itself (its material is generated in the HSM and never
//    known, so no fixed vector can exist): encrypt then decrypt, sign then verify (and a
//    tampered message must not verify), wrap then unwrap a known key.
//
// The key is used only for the test data below, never for caller data.
#include <openssl/rand.h>

#include <functional>
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

Bytes fromHex(std::string_view hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// Runs `op` with a session object holding a published test key; destroys it afterwards.
Status withKnownKey(Session& s, CK_KEY_TYPE type, const Bytes& value, CK_ATTRIBUTE_TYPE usage,
                    const std::function<Status(CK_OBJECT_HANDLE)>& op) {
  Cryptoki& ck = s.ck();
  AttributeList t;
  t.addUlong(CKA_CLASS, CKO_SECRET_KEY).addUlong(CKA_KEY_TYPE, type).add(CKA_TOKEN, false).add(usage, true).addBytes(CKA_VALUE, value);
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  RETURN_IF_ERROR(ckCheck("C_CreateObject (known-answer test key)", ck.createObject(s.handle(), t.span(), &h)));
  Status st = op(h);
  ck.destroyObject(s.handle(), h);
  return st;
}

// GCM test case 14: K = 0^256, IV = 0^96, P = 0^128 -> C || T.
Status aesGcmKnownAnswer(Session& s) {
  const Bytes expected = fromHex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
  return withKnownKey(s, CKK_AES, Bytes(32, 0), CKA_ENCRYPT, [&](CK_OBJECT_HANDLE key) -> Status {
    Mechanism m;
    setAesGcm(m, std::array<uint8_t, 12>{});
    Bytes out;
    RETURN_IF_ERROR(ckCheck("C_EncryptInit", s.ck().encryptInit(s.handle(), m.get(), key)));
    RETURN_IF_ERROR(ckCheck("C_Encrypt", s.ck().encrypt(s.handle(), Bytes(16, 0), &out)));
    if (out != expected) return mismatch("AES-256-GCM known-answer test: the module's output differs from the published vector");
    return okStatus();
  });
}

// RFC 4231 test case 6: a 131-byte key of 0xaa (longer than a block: hashed first).
Status hmacSha256KnownAnswer(Session& s) {
  const std::string msg = "Test Using Larger Than Block-Size Key - Hash Key First";
  const Bytes expected = fromHex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  return withKnownKey(s, CKK_GENERIC_SECRET, Bytes(131, 0xaa), CKA_SIGN, [&](CK_OBJECT_HANDLE key) -> Status {
    Mechanism m;
    setPlain(m, CKM_SHA256_HMAC);
    Bytes mac;
    RETURN_IF_ERROR(ckCheck("C_SignInit", s.ck().signInit(s.handle(), m.get(), key)));
    RETURN_IF_ERROR(ckCheck("C_Sign", s.ck().sign(s.handle(), Bytes(msg.begin(), msg.end()), &mac)));
    if (mac != expected) return mismatch("HMAC-SHA-256 known-answer test: the module's output differs from RFC 4231");
    return okStatus();
  });
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
        st = aesGcmKnownAnswer(s);
        std::array<uint8_t, 12> iv{};
        RAND_bytes(iv.data(), static_cast<int>(iv.size()));
        setAesGcm(m, iv);
        if (st.ok()) st = encryptDecrypt(s, m, secret, secret);
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
      st = hmacSha256KnownAnswer(s);
      if (st.ok()) st = signVerify(s, m, secret, secret, kPlaintext);
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

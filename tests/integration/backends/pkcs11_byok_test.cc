// BYOK on a real SoftHSM2 (issue 15): the wrapping key publishes only the formats the token
// really unwraps; the tenant wraps with OpenSSL (common/key_wrapping.h, what `keygate wrap`
// does); the key is imported PreActive (every use refused), then, once activated, works like
// the tenant's own copy of the material: AES-GCM decrypts with it, HMACs match, RSA
// signatures verify with the tenant's public key; the fingerprints match. Bad blobs are
// refused with the reason and leave nothing in the token.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "backends/pkcs11/templates.h"
#include "support/softhsm_env.h"

namespace keygate::backends::testing {
namespace {

using namespace keygate::backends::pkcs11;

Bytes randomBytes(size_t n) {
  Bytes b(n);
  RAND_bytes(b.data(), static_cast<int>(n));
  return b;
}

// The tenant's RSA-3072 key as PKCS#8 DER, and its public key.
struct TenantRsa {
  Bytes pkcs8;
  EVP_PKEY* key = nullptr;
  TenantRsa() {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nullptr);
    EVP_PKEY_keygen_init(ctx);
    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 3072);
    EVP_PKEY_keygen(ctx, &key);
    EVP_PKEY_CTX_free(ctx);
    PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key);
    unsigned char* der = nullptr;
    int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    pkcs8.assign(der, der + len);
    OPENSSL_free(der);
    PKCS8_PRIV_KEY_INFO_free(p8);
  }
  ~TenantRsa() { EVP_PKEY_free(key); }
  bool verifyPss(const Bytes& digest, const Bytes& sig) const {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
    EVP_PKEY_verify_init(ctx);
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, 32);
    int ok = EVP_PKEY_verify(ctx, sig.data(), sig.size(), digest.data(), digest.size());
    EVP_PKEY_CTX_free(ctx);
    return ok == 1;
  }
};

Bytes openGcm(const Bytes& key, const GcmSealed& s) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(s.sealed.size());
  int n = 0, m = 0;
  EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(s.iv.size()), nullptr);
  EVP_DecryptInit_ex(ctx, nullptr, nullptr, key.data(), s.iv.data());
  EVP_DecryptUpdate(ctx, out.data(), &n, s.sealed.data(), static_cast<int>(s.sealed.size() - 16));
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, const_cast<uint8_t*>(s.sealed.data() + s.sealed.size() - 16));
  int ok = EVP_DecryptFinal_ex(ctx, out.data() + n, &m);
  EVP_CIPHER_CTX_free(ctx);
  if (ok != 1) return {};
  out.resize(static_cast<size_t>(n + m));
  return out;
}

class Pkcs11Byok : public ::testing::Test {
 protected:
  void SetUp() override {
    b_ = SoftHsmEnv::get().openBackend();
    ns_ = uniqueNamespace("byok");
  }
  KeySpec spec(Algorithm a, Purpose p) { return KeySpec{KeyRef{ns_, uniqueUid(), 1}, p, a}; }
  Bytes wrap(const WrappingKey& wk, WrappingFormat f, const Bytes& material) {
    auto blob = wrapKeyMaterial(wk.publicKeyPem, f, material);
    EXPECT_TRUE(blob.ok()) << blob.error().message;
    return blob.ok() ? *blob : Bytes();
  }
  // Imports `material` into a fresh key of (a, p) through wrapping key 1 in format f.
  Result<GeneratedKey> importFresh(const KeySpec& k, WrappingFormat f, const Bytes& material) {
    auto wk = b_->createWrappingKey(k.ref, 1);
    if (!wk.ok()) return wk.takeError();
    return b_->importWrapped(k, 1, {f, wrap(*wk, f, material)});
  }
  bool absent(const KeySpec& k) { return b_->describe(k)->state == BackendKeyState::kAbsent; }
  // An imported signing key refuses to sign while PreActive; once activated, its signature
  // verifies with the tenant's own public key (`verify`).
  void signsOnlyOnceActive(const KeySpec& k, SigningScheme scheme, const std::function<bool(const Bytes&, const Bytes&)>& verify) {
    const Bytes digest = randomBytes(32);
    EXPECT_FALSE(b_->signDigest(k, scheme, digest).ok()) << "PreActive: refused";
    ASSERT_TRUE(b_->activate(k).ok());
    auto sig = b_->signDigest(k, scheme, digest);
    ASSERT_TRUE(sig.ok()) << sig.error().toString();
    EXPECT_TRUE(verify(digest, *sig)) << "verified with the tenant's own public key";
  }

  std::unique_ptr<Pkcs11Backend> b_;
  std::string ns_;
};

TEST_F(Pkcs11Byok, WrappingKeyOnlyUnwrapsAndPublishesWhatTheTokenCanDo) {
  KeySpec k = spec(Algorithm::kAes256, Purpose::kEncrypt);
  auto wk = b_->createWrappingKey(k.ref, 1);
  ASSERT_TRUE(wk.ok()) << wk.error().toString();
  EXPECT_EQ(wk->backendKeyId, k.ref.backendKeyId() + "/wrap1");
  EXPECT_EQ(wk->publicKeyPem.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
  // SoftHSM 2.6.1: OAEP with SHA-1 only (facts.md); the two-step key wrap works with it.
  std::vector<std::string> formats;
  for (auto f : wk->formats) formats.push_back(wrappingFormatName(f));
  EXPECT_EQ(formats, (std::vector<std::string>{"RSA_AES_KEY_WRAP_SHA_1", "RSAES_OAEP_SHA_1"}));
  auto again = b_->createWrappingKey(k.ref, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->publicKeyPem, wk->publicKeyPem) << "idempotent";

  auto s = openTenantSession(*b_, ns_);
  auto objs = s->findByLabel(wk->backendKeyId);
  ASSERT_EQ(objs.size(), 2u);
  for (auto h : objs) {
    if (s->ulongAttr(h, CKA_CLASS) != CKO_PRIVATE_KEY) continue;
    EXPECT_EQ(s->boolAttr(h, CKA_UNWRAP), 1);
    for (auto a : {CKA_DECRYPT, CKA_SIGN, CKA_SIGN_RECOVER, CKA_DERIVE, CKA_EXTRACTABLE}) EXPECT_EQ(s->boolAttr(h, a), 0) << ckaName(a);
    EXPECT_EQ(s->boolAttr(h, CKA_SENSITIVE), 1);
  }
  // Nothing left over from the format probes.
  EXPECT_EQ(s->findAll().size(), 2u);
  ASSERT_TRUE(b_->destroyWrappingKey(k.ref, 1).ok());
  EXPECT_TRUE(s->findByLabel(wk->backendKeyId).empty());
  EXPECT_TRUE(b_->destroyWrappingKey(k.ref, 1).ok()) << "idempotent";
}

TEST_F(Pkcs11Byok, ImportedAesKeyIsPreActiveThenEncryptsForTheTenantsCopy) {
  for (WrappingFormat f : {WrappingFormat::kRsaAesKeyWrapSha1, WrappingFormat::kRsaOaepSha1}) {
    SCOPED_TRACE(wrappingFormatName(f));
    KeySpec k = spec(Algorithm::kAes256, Purpose::kEncrypt);
    const Bytes material = randomBytes(32);
    auto imported = importFresh(k, f, material);
    ASSERT_TRUE(imported.ok()) << imported.error().toString();
    EXPECT_TRUE(imported->created);
    EXPECT_EQ(imported->fingerprint, *materialFingerprint(material, false, true));
    EXPECT_EQ(b_->describe(k)->state, BackendKeyState::kNoUsage);
    {
      // Unwrapped as a session object and copied into the token (create_objects.h): one token
      // object with the version's label and protection, no session object left behind.
      auto s = openTenantSession(*b_, ns_);
      auto objs = s->findByLabel(k.ref.backendKeyId());
      ASSERT_EQ(objs.size(), 1u);
      EXPECT_EQ(s->boolAttr(objs[0], CKA_TOKEN), 1);
      EXPECT_EQ(s->boolAttr(objs[0], CKA_SENSITIVE), 1);
      EXPECT_EQ(s->boolAttr(objs[0], CKA_EXTRACTABLE), 0);
      EXPECT_EQ(s->boolAttr(objs[0], CKA_ENCRYPT), 0);
      for (CK_OBJECT_HANDLE h : s->findAll()) EXPECT_EQ(s->boolAttr(h, CKA_TOKEN), 1) << "a session object was left";
    }
    const Bytes msg = {'b', 'y', 'o', 'k'};
    EXPECT_EQ(b_->aesGcmSeal(k, msg, {}).error().code, ErrorCode::kFailedPrecondition) << "PreActive: refused";
    ASSERT_TRUE(b_->activate(k).ok());
    auto sealed = b_->aesGcmSeal(k, msg, {});
    ASSERT_TRUE(sealed.ok()) << sealed.error().toString();
    EXPECT_EQ(openGcm(material, *sealed), msg) << "the tenant's own copy decrypts what the HSM encrypted";
    // Importing again finds the key and does not read the blob.
    auto again = b_->importWrapped(k, 1, {f, {}});
    ASSERT_TRUE(again.ok()) << again.error().toString();
    EXPECT_FALSE(again->created);
  }
}

TEST_F(Pkcs11Byok, ImportedHmacKeyMacsLikeTheTenantsCopy) {
  KeySpec k = spec(Algorithm::kHmacSha256, Purpose::kMac);
  const Bytes material = randomBytes(32);
  auto imported = importFresh(k, WrappingFormat::kRsaAesKeyWrapSha1, material);
  ASSERT_TRUE(imported.ok()) << imported.error().toString();
  EXPECT_EQ(imported->fingerprint, *materialFingerprint(material, false, false));
  const Bytes msg = {'f', 'i', 'x', 'e', 'd'};
  EXPECT_FALSE(b_->hmacSha256(k, msg).ok()) << "PreActive: refused";
  ASSERT_TRUE(b_->activate(k).ok());
  auto mac = b_->hmacSha256(k, msg);
  ASSERT_TRUE(mac.ok()) << mac.error().toString();
  unsigned char ref[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), material.data(), static_cast<int>(material.size()), msg.data(), msg.size(), ref, &len);
  EXPECT_EQ(*mac, Bytes(ref, ref + len));
}

TEST_F(Pkcs11Byok, ImportedRsaKeySignsForTheTenantsPublicKey) {
  KeySpec k = spec(Algorithm::kRsa3072, Purpose::kSign);
  TenantRsa tenant;
  auto imported = importFresh(k, WrappingFormat::kRsaAesKeyWrapSha1, tenant.pkcs8);
  ASSERT_TRUE(imported.ok()) << imported.error().toString();
  EXPECT_EQ(imported->fingerprint, *materialFingerprint(tenant.pkcs8, true, false));
  EXPECT_EQ(b_->describe(k)->state, BackendKeyState::kNoUsage);
  signsOnlyOnceActive(k, SigningScheme::kRsaPssSha256,
                      [&](const Bytes& digest, const Bytes& sig) { return tenant.verifyPss(digest, sig); });
}

// The tenant's EC P-256 key: PKCS#8 DER and its public key PEM.
struct TenantEc {
  Bytes pkcs8;
  std::string publicPem;
  EVP_PKEY* key = nullptr;
  TenantEc() {
    key = EVP_EC_gen("P-256");
    PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key);
    unsigned char* der = nullptr;
    int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    pkcs8.assign(der, der + len);
    OPENSSL_free(der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    BIO* out = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(out, key);
    char* data = nullptr;
    long n = BIO_get_mem_data(out, &data);
    publicPem.assign(data, static_cast<size_t>(n));
    BIO_free(out);
  }
  ~TenantEc() { EVP_PKEY_free(key); }
  bool verify(const Bytes& digest, const Bytes& derSig) const {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
    EVP_PKEY_verify_init(ctx);
    int ok = EVP_PKEY_verify(ctx, derSig.data(), derSig.size(), digest.data(), digest.size());
    EVP_PKEY_CTX_free(ctx);
    return ok == 1;
  }
};

// EC: the tenant supplies the public key; the token proves it belongs to the private key
// (a signature by a session copy) before the public half is created.
TEST_F(Pkcs11Byok, ImportedEcKeySignsForTheTenantsPublicKeyAndAForeignPublicKeyIsRefused) {
  TenantEc tenant, stranger;
  KeySpec wrongPub = spec(Algorithm::kEcP256, Purpose::kSign);
  auto wk = b_->createWrappingKey(wrongPub.ref, 1);
  ASSERT_TRUE(wk.ok());
  WrappedKeyMaterial m{WrappingFormat::kRsaAesKeyWrapSha1, wrap(*wk, WrappingFormat::kRsaAesKeyWrapSha1, tenant.pkcs8),
                       stranger.publicPem};
  auto refused = b_->importWrapped(wrongPub, 1, m);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("does not belong to the private key"), std::string::npos) << refused.error().message;
  EXPECT_TRUE(absent(wrongPub));
  m.publicKeyPem.clear();
  EXPECT_NE(b_->importWrapped(wrongPub, 1, m).error().message.find("is imported with its public key"), std::string::npos);

  KeySpec k = spec(Algorithm::kEcP256, Purpose::kSign);
  auto wk2 = b_->createWrappingKey(k.ref, 1);
  ASSERT_TRUE(wk2.ok());
  auto imported = b_->importWrapped(
      k, 1, {WrappingFormat::kRsaAesKeyWrapSha1, wrap(*wk2, WrappingFormat::kRsaAesKeyWrapSha1, tenant.pkcs8), tenant.publicPem});
  ASSERT_TRUE(imported.ok()) << imported.error().toString();
  EXPECT_EQ(imported->fingerprint, *materialFingerprint(tenant.pkcs8, true, false));
  EXPECT_EQ(b_->describe(k)->state, BackendKeyState::kNoUsage);
  signsOnlyOnceActive(k, SigningScheme::kEcdsaSha256,
                      [&](const Bytes& digest, const Bytes& sig) { return tenant.verify(digest, sig); });
}

TEST_F(Pkcs11Byok, BadBlobsAreRefusedWithTheReasonAndLeaveNothing) {
  const Bytes aes = randomBytes(32);
  struct Case {
    const char* what;
    Algorithm alg;
    Purpose purpose;
    WrappingFormat format;
    std::function<Bytes(const WrappingKey& current, const WrappingKey& other)> blob;
    ErrorCode code;
    const char* message;
  };
  TenantRsa tenant;
  const std::vector<Case> cases = {
      {"a blob for another key's wrapping key", Algorithm::kAes256, Purpose::kEncrypt, WrappingFormat::kRsaAesKeyWrapSha1,
       [&](const WrappingKey&, const WrappingKey& other) { return wrap(other, WrappingFormat::kRsaAesKeyWrapSha1, aes); },
       ErrorCode::kInvalidArgument, "does not unwrap with this key's current wrapping key"},
      {"truncated", Algorithm::kAes256, Purpose::kEncrypt, WrappingFormat::kRsaAesKeyWrapSha1,
       [&](const WrappingKey& wk, const WrappingKey&) {
         Bytes b = wrap(wk, WrappingFormat::kRsaAesKeyWrapSha1, aes);
         b.resize(b.size() - 8);
         return b;
       },
       ErrorCode::kInvalidArgument, "unwrap"},
      {"padded", Algorithm::kAes256, Purpose::kEncrypt, WrappingFormat::kRsaAesKeyWrapSha1,
       [&](const WrappingKey& wk, const WrappingKey&) {
         Bytes b = wrap(wk, WrappingFormat::kRsaAesKeyWrapSha1, aes);
         b.insert(b.end(), 8, 0);
         return b;
       },
       ErrorCode::kInvalidArgument, "unwrap"},
      {"wrong length for AES-256", Algorithm::kAes256, Purpose::kEncrypt, WrappingFormat::kRsaOaepSha1,
       [&](const WrappingKey& wk, const WrappingKey&) { return wrap(wk, WrappingFormat::kRsaOaepSha1, randomBytes(16)); },
       ErrorCode::kInvalidArgument, "AES-256 needs exactly 32"},
      {"an RSA private key for an AES key", Algorithm::kAes256, Purpose::kEncrypt, WrappingFormat::kRsaAesKeyWrapSha1,
       [&](const WrappingKey& wk, const WrappingKey&) { return wrap(wk, WrappingFormat::kRsaAesKeyWrapSha1, tenant.pkcs8); },
       ErrorCode::kInvalidArgument, "AES-256 needs exactly 32"},
      {"AES material for an RSA key", Algorithm::kRsa3072, Purpose::kSign, WrappingFormat::kRsaAesKeyWrapSha1,
       [&](const WrappingKey& wk, const WrappingKey&) { return wrap(wk, WrappingFormat::kRsaAesKeyWrapSha1, aes); },
       ErrorCode::kInvalidArgument, "unwrap"},
      {"raw format for a private key", Algorithm::kRsa3072, Purpose::kSign, WrappingFormat::kRsaOaepSha1,
       [&](const WrappingKey& wk, const WrappingKey&) { return wrap(wk, WrappingFormat::kRsaOaepSha1, aes); },
       ErrorCode::kInvalidArgument, "is imported as PKCS#8"},
      {"a format the token cannot unwrap", Algorithm::kAes256, Purpose::kEncrypt, WrappingFormat::kRsaOaepSha256,
       [&](const WrappingKey& wk, const WrappingKey&) { return wrap(wk, WrappingFormat::kRsaOaepSha256, aes); },
       ErrorCode::kInvalidArgument, "unwrap"},
  };
  KeySpec other = spec(Algorithm::kAes256, Purpose::kEncrypt);
  auto otherWk = b_->createWrappingKey(other.ref, 1);
  ASSERT_TRUE(otherWk.ok());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    KeySpec k = spec(c.alg, c.purpose);
    auto wk = b_->createWrappingKey(k.ref, 1);
    ASSERT_TRUE(wk.ok()) << wk.error().toString();
    auto r = b_->importWrapped(k, 1, {c.format, c.blob(*wk, *otherWk)});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, c.code) << r.error().message;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
    EXPECT_TRUE(absent(k)) << "nothing imported";
  }
  // The wrapping key of the window is gone (expired and destroyed): refused, nothing made.
  KeySpec k = spec(Algorithm::kAes256, Purpose::kEncrypt);
  auto wk = b_->createWrappingKey(k.ref, 1);
  ASSERT_TRUE(wk.ok());
  Bytes blob = wrap(*wk, WrappingFormat::kRsaAesKeyWrapSha1, aes);
  ASSERT_TRUE(b_->destroyWrappingKey(k.ref, 1).ok());
  auto r = b_->importWrapped(k, 1, {WrappingFormat::kRsaAesKeyWrapSha1, blob});
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition) << r.error().message;
  EXPECT_TRUE(absent(k));
  // Only wrapping keys are left in the token (one per case, and the other key's).
  auto s = openTenantSession(*b_, ns_);
  for (auto h : s->findAll()) EXPECT_EQ(s->boolAttr(h, CKA_UNWRAP) == 1 || s->ulongAttr(h, CKA_CLASS) == CKO_PUBLIC_KEY, true);
}

// Tenant isolation: a blob made for tenant-a's wrapping key cannot be imported into a key of
// tenant-b (tenant-b's token has no such wrapping key, and its own does not unwrap it).
TEST_F(Pkcs11Byok, ATenantsWrappingKeyCannotUnwrapIntoAnotherTenantsToken) {
  KeySpec a = spec(Algorithm::kAes256, Purpose::kEncrypt);
  auto wkA = b_->createWrappingKey(a.ref, 1);
  ASSERT_TRUE(wkA.ok());
  const Bytes blob = wrap(*wkA, WrappingFormat::kRsaAesKeyWrapSha1, randomBytes(32));
  KeySpec b = a;  // the same key reference under tenant-b
  b.ref.tenantNamespace = uniqueNamespace("byok-b");
  EXPECT_EQ(b_->importWrapped(b, 1, {WrappingFormat::kRsaAesKeyWrapSha1, blob}).error().code, ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(b_->createWrappingKey(b.ref, 1).ok());
  EXPECT_EQ(b_->importWrapped(b, 1, {WrappingFormat::kRsaAesKeyWrapSha1, blob}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(absent(b));
  auto sB = openTenantSession(*b_, b.ref.tenantNamespace);
  EXPECT_TRUE(sB->findByLabel(wkA->backendKeyId).empty()) << "tenant-a's wrapping key is not in tenant-b's token";
  EXPECT_EQ(sB->findByLabel(b.ref.backendKeyId() + "/wrap1").size(), 2u) << "tenant-b's own pair, made in its token";
}

}  // namespace
}  // namespace keygate::backends::testing

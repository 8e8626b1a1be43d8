// The crypto API's contract, each case through gRPC, TokenReview and SoftHSM2 (issue 13's
// "Done when" list): what a bound ServiceAccount can do, and every refusal with its code,
// its message and its audit record.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "integration/dataplane/crypto_fixture.h"
#include "support/thread_failures.h"

namespace keygate::dataplane::testing {
namespace {

v1::EncryptRequest encryptReq(const std::string& key, const std::string& pt, const std::string& aad = "") {
  v1::EncryptRequest r;
  r.set_key(key);
  r.set_plaintext(pt);
  r.set_aad(aad);
  return r;
}

v1::DecryptRequest decryptReq(const std::string& key, const std::string& ct, const std::string& aad = "") {
  v1::DecryptRequest r;
  r.set_key(key);
  r.set_ciphertext(ct);
  r.set_aad(aad);
  return r;
}

// ---- what a bound ServiceAccount can do ------------------------------------------------

TEST_F(CryptoApiTest, BoundServiceAccountEncryptsDecryptsMakesDataKeysSignsAndMacs) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  addKey("tenant-a", "signer", "Sign", "EC-P256", {{1, "Active"}});
  addKey("tenant-a", "rsa-signer", "Sign", "RSA-3072", {{1, "Active"}});
  addKey("tenant-a", "macer", "MAC", "HMAC-SHA256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));

  auto ct = c->encrypt(encryptReq("tenant-a/weights", "model weights", "ctx-1"));
  ASSERT_TRUE(ct.ok()) << ct.error().toString();
  EXPECT_EQ(ct->key_version(), "tenant-a/weights@1");
  EXPECT_EQ(ct->ciphertext().size(), 7u + 12u + 13u + 16u);  // header, IV, data, tag
  EXPECT_EQ(ct->ciphertext().find("model weights"), std::string::npos);
  auto pt = c->decrypt(decryptReq("tenant-a/weights", ct->ciphertext(), "ctx-1"));
  ASSERT_TRUE(pt.ok()) << pt.error().toString();
  EXPECT_EQ(pt->plaintext(), "model weights");
  // The version's stable id: the same from Encrypt and Decrypt, derived from the key's uid.
  EXPECT_EQ(ct->key_version_id(), keyVersionId(uidOf("tenant-a", "weights"), 1));
  EXPECT_EQ(pt->key_version_id(), ct->key_version_id());
  // Two encryptions of the same text differ (a fresh IV from the HSM each time).
  auto ct2 = c->encrypt(encryptReq("tenant-a/weights", "model weights", "ctx-1"));
  ASSERT_TRUE(ct2.ok());
  EXPECT_NE(ct2->ciphertext(), ct->ciphertext());
  EXPECT_NE(ct2->ciphertext().substr(7, 12), ct->ciphertext().substr(7, 12));

  // Envelope encryption: the data key comes back in plaintext and wrapped; Decrypt unwraps it.
  v1::GenerateDataKeyRequest dk;
  dk.set_key("tenant-a/weights");
  dk.set_aad("bucket=models");
  auto k = c->generateDataKey(dk);
  ASSERT_TRUE(k.ok()) << k.error().toString();
  EXPECT_EQ(k->plaintext().size(), 32u);
  auto unwrapped = c->decrypt(decryptReq("tenant-a/weights", k->ciphertext(), "bucket=models"));
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.error().toString();
  EXPECT_EQ(unwrapped->plaintext(), k->plaintext());

  // ReEncrypt never returns the plaintext; the result decrypts to it.
  v1::ReEncryptRequest re;
  re.set_key("tenant-a/weights");
  re.set_ciphertext(ct->ciphertext());
  re.set_aad("ctx-1");
  re.set_destination_aad("ctx-2");
  auto rewrapped = c->reEncrypt(re);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.error().toString();
  EXPECT_EQ(c->decrypt(decryptReq("tenant-a/weights", rewrapped->ciphertext(), "ctx-2"))->plaintext(), "model weights");

  // ECDSA P-256: the signature is DER and verifies with OpenSSL against the public key.
  v1::SignRequest sr;
  sr.set_key("tenant-a/signer");
  sr.set_digest(sha256("release 1.2.3"));
  auto sig = c->sign(sr);
  ASSERT_TRUE(sig.ok()) << sig.error().toString();
  EXPECT_EQ(sig->algorithm(), v1::ECDSA_SHA_256);
  v1::GetPublicKeyRequest pkr;
  pkr.set_key("tenant-a/signer");
  auto pk = c->getPublicKey(pkr);
  ASSERT_TRUE(pk.ok()) << pk.error().toString();
  EXPECT_EQ(pk->public_key_pem().rfind("-----BEGIN PUBLIC KEY-----", 0), 0u);
  {
    BIO* bio = BIO_new_mem_buf(pk->public_key_pem().data(), static_cast<int>(pk->public_key_pem().size()));
    EVP_PKEY* pub = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    ASSERT_NE(pub, nullptr);
    EVP_PKEY_CTX* vctx = EVP_PKEY_CTX_new(pub, nullptr);
    ASSERT_EQ(EVP_PKEY_verify_init(vctx), 1);
    const std::string& s = sig->signature();
    const std::string d = sha256("release 1.2.3");
    EXPECT_EQ(EVP_PKEY_verify(vctx, reinterpret_cast<const unsigned char*>(s.data()), s.size(),
                              reinterpret_cast<const unsigned char*>(d.data()), d.size()),
              1);
    EVP_PKEY_CTX_free(vctx);
    EVP_PKEY_free(pub);
  }
  v1::VerifyRequest vr;
  vr.set_key("tenant-a/signer");
  vr.set_digest(sha256("release 1.2.3"));
  vr.set_signature(sig->signature());
  EXPECT_TRUE(c->verify(vr)->valid());
  vr.set_digest(sha256("release 1.2.4"));
  EXPECT_FALSE(c->verify(vr)->valid());
  vr.set_signature("not a signature");
  EXPECT_FALSE(c->verify(vr)->valid());

  // RSA: PSS (default) and PKCS #1 v1.5.
  for (auto alg : {v1::RSASSA_PSS_SHA_256, v1::RSASSA_PKCS1_V1_5_SHA_256}) {
    v1::SignRequest rs;
    rs.set_key("tenant-a/rsa-signer");
    rs.set_digest(sha256("x"));
    rs.set_algorithm(alg);
    auto s = c->sign(rs);
    ASSERT_TRUE(s.ok()) << s.error().toString();
    EXPECT_EQ(s->signature().size(), 384u);
    v1::VerifyRequest rv;
    rv.set_key("tenant-a/rsa-signer");
    rv.set_digest(sha256("x"));
    rv.set_signature(s->signature());
    rv.set_algorithm(alg);
    EXPECT_TRUE(c->verify(rv)->valid()) << v1::SigningAlgorithm_Name(alg);
  }

  v1::MacRequest mr;
  mr.set_key("tenant-a/macer");
  mr.set_data("payload");
  auto mac = c->mac(mr);
  ASSERT_TRUE(mac.ok()) << mac.error().toString();
  EXPECT_EQ(mac->mac().size(), 32u);
  v1::VerifyMacRequest vm;
  vm.set_key("tenant-a/macer");
  vm.set_data("payload");
  vm.set_mac(mac->mac());
  EXPECT_TRUE(c->verifyMac(vm)->valid());
  vm.set_data("payload!");
  EXPECT_FALSE(c->verifyMac(vm)->valid());

  // Allowed calls are aggregated into KeyUsed audit records with counts.
  service_->flushUsage();
  auto used = audit("KeyUsed");
  ASSERT_FALSE(used.empty());
  bool sawEncrypt = false;
  for (const auto& u : used)
    if (getString(u, "operation") == "Encrypt" && getString(u, "key") == "weights") {
      sawEncrypt = true;
      EXPECT_EQ(u["count"], 2);
      EXPECT_EQ(getString(u, "initiator"), "system:serviceaccount:tenant-a:app");
    }
  EXPECT_TRUE(sawEncrypt);
  EXPECT_TRUE(audit("KeyUseDenied").empty());
}

TEST_F(CryptoApiTest, RsaEncryptKeyUsesOaepAndRefusesAad) {
  addKey("tenant-a", "rsa-enc", "Encrypt", "RSA-3072", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));
  auto ct = c->encrypt(encryptReq("tenant-a/rsa-enc", "short secret"));
  ASSERT_TRUE(ct.ok()) << ct.error().toString();
  EXPECT_EQ(ct->ciphertext().size(), 7u + 384u);
  EXPECT_EQ(c->decrypt(decryptReq("tenant-a/rsa-enc", ct->ciphertext()))->plaintext(), "short secret");
  auto withAad = c->encrypt(encryptReq("tenant-a/rsa-enc", "x", "aad"));
  ASSERT_FALSE(withAad.ok());
  EXPECT_EQ(withAad.error().code, ErrorCode::kInvalidArgument);
  auto tooLong = c->encrypt(encryptReq("tenant-a/rsa-enc", std::string(400, 'x')));
  ASSERT_FALSE(tooLong.ok());
  EXPECT_EQ(tooLong.error().code, ErrorCode::kInvalidArgument) << tooLong.error().message;
}

// ---- who may call ------------------------------------------------------------------------

TEST_F(CryptoApiTest, RefusesMissingWrongAudienceUnboundOverdueAndOtherTenantCallers) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  addKey("tenant-a", "labelled", "Encrypt", "AES-256", {{1, "Active"}}, "", {{"tier", "dev"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  bindKeyUser("tenant-a", "old", serviceAccount("tenant-a", "stale"), "2020-01-01");
  bindKeyUser("tenant-a", "prod-only", serviceAccount("tenant-a", "prod"), "2099-12-31", {{"matchLabels", {{"tier", "prod"}}}});
  // tenant-a even names tenant-b's ServiceAccount: tenant scope still refuses it.
  bindKeyUser("tenant-a", "cross", serviceAccount("tenant-b", "intruder"));

  struct Case {
    std::string name, token, key;
    ErrorCode code;
    std::string reason, messagePart;
  };
  std::vector<Case> cases = {
      {"no token", "", "tenant-a/weights", ErrorCode::kUnauthenticated, "Unauthenticated", "no credentials"},
      {"garbage token", "not-a-token", "tenant-a/weights", ErrorCode::kUnauthenticated, "Unauthenticated",
       "rejected the token"},
      {"wrong audience", serviceAccountToken("tenant-a", "app", "other.dev"), "tenant-a/weights",
       ErrorCode::kUnauthenticated, "Unauthenticated", "audiences"},
      {"unbound ServiceAccount", serviceAccountToken("tenant-a", "nobody"), "tenant-a/weights",
       ErrorCode::kPermissionDenied, "NoBinding", "no current KeyUser KeyRoleBinding"},
      {"binding past reviewBy", serviceAccountToken("tenant-a", "stale"), "tenant-a/weights",
       ErrorCode::kPermissionDenied, "BindingOverdue", "past its reviewBy"},
      {"keySelector does not match", serviceAccountToken("tenant-a", "prod"), "tenant-a/labelled",
       ErrorCode::kPermissionDenied, "NoBinding", "keySelector"},
      {"other tenant's ServiceAccount", serviceAccountToken("tenant-b", "intruder"), "tenant-a/weights",
       ErrorCode::kPermissionDenied, "OtherTenant", "belongs to another tenant"},
      {"unbound caller cannot probe for keys", serviceAccountToken("tenant-a", "nobody"), "tenant-a/no-such-key",
       ErrorCode::kPermissionDenied, "NoBinding", "no current KeyUser"},
      {"bound caller, unknown key", serviceAccountToken("tenant-a", "app"), "tenant-a/no-such-key",
       ErrorCode::kNotFound, "NotFound", "not found"},
  };
  for (const auto& tc : cases) {
    auto r = client(tc.token)->encrypt(encryptReq(tc.key, "x"));
    ASSERT_FALSE(r.ok()) << tc.name;
    EXPECT_EQ(r.error().code, tc.code) << tc.name << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(tc.messagePart), std::string::npos) << tc.name << ": " << r.error().message;
    if (!tc.reason.empty()) {
      bool audited = false;
      for (const auto& a : audit("KeyUseDenied"))
        if (getString(a, "reason") == tc.reason && getString(a, "operation") == "Encrypt") audited = true;
      EXPECT_TRUE(audited) << tc.name << " is not audited";
    }
  }
  // Unauthenticated attempts are audited as the anonymous user.
  int anonymous = 0;
  for (const auto& a : audit("KeyUseDenied"))
    anonymous += getString(a, "initiator") == "system:anonymous" && getString(a, "key") == "weights";
  EXPECT_EQ(anonymous, 3);
  // The bound ServiceAccount works, proving the cases above fail for their own reason.
  EXPECT_TRUE(client(serviceAccountToken("tenant-a", "app"))->encrypt(encryptReq("tenant-a/weights", "x")).ok());
  // Denials are metrics too (bounded labels: the reason, not the caller).
  std::lock_guard<std::mutex> lock(callsMu_);
  int other = 0;
  for (const auto& c : calls_) other += c.reason == "OtherTenant";
  EXPECT_EQ(other, 1);
}

TEST_F(CryptoApiTest, GroupSubjectsAndTokenReviewCache) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  // Every ServiceAccount of tenant-a, by the group TokenReview reports.
  bindKeyUser("tenant-a", "all-sas", Json::array({{{"kind", "Group"}, {"name", "system:serviceaccounts:tenant-a"}}}));
  auto c = client(serviceAccountToken("tenant-a", "worker"));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c->encrypt(encryptReq("tenant-a/weights", "x")).ok());
  auto* tr = dynamic_cast<TokenReviewAuthenticator*>(authn_.get());
  ASSERT_NE(tr, nullptr);
  EXPECT_EQ(tr->stats().reviews, 1u) << "TokenReview must not be on the hot path";
  EXPECT_GE(tr->stats().cacheHits, 49u);
}

// The state gRPC handler threads share (the TokenReview cache, the key directory over the
// informer caches, the per-tenant limiter, the use-audit aggregator) driven from plain
// threads, with the informers updating the key and the binding meanwhile and the aggregator
// flushed. make test-tsan cannot judge races on gRPC's own threads (tests/tsan.supp says
// why); here every thread is Keygate's, so TSan sees every access.
TEST_F(CryptoApiTest, SharedStateHoldsUnderPlainThreads) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  const std::string token = serviceAccountToken("tenant-a", "app");
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  keygate::testing::ThreadFailures fail;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        Credentials cred;
        cred.bearerToken = token;
        auto caller = authn_->authenticate(cred);
        if (!caller.ok()) return fail("authenticate: " + caller.error().toString());
        const std::string pt = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto ct = service_->encrypt(*caller, encryptReq("tenant-a/weights", pt, "ctx"));
        if (!ct.ok()) return fail("encrypt: " + ct.error().toString());
        auto back = service_->decrypt(*caller, decryptReq("tenant-a/weights", ct->ciphertext(), "ctx"));
        if (!back.ok()) return fail("decrypt: " + back.error().toString());
        if (back->plaintext() != pt) return fail("round trip changed the plaintext");
        ++done;
      }
    });
  std::thread informer([&] {  // the same key and binding, re-delivered (new resourceVersions)
    while (!stop) {
      auto k = keys_.get("tenant-a/weights");
      if (k) {
        Json key = *k;
        key["metadata"]["resourceVersion"] = std::to_string(1000 + done.load());
        keys_.upsert(std::make_shared<const Json>(key));
      }
      bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::thread flusher([&] {
    while (!stop) {
      service_->flushUsage();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  for (auto& t : callers) t.join();
  stop = true;
  informer.join();
  flusher.join();
  service_->flushUsage();
  EXPECT_EQ(fail.count(), 0) << fail.first();
  EXPECT_EQ(done.load(), 160);
  int used = 0;
  for (const auto& r : audit("KeyUsed")) used += r.value("count", 0);
  EXPECT_EQ(used, 320) << "every encrypt and decrypt counted once in the KeyUsed records";
}

// ---- state and purpose -------------------------------------------------------------------

TEST_F(CryptoApiTest, StateAndPurposeRulesWithAuditedRefusals) {
  addKey("tenant-a", "pre", "Encrypt", "AES-256", {{1, "PreActive"}});
  addKey("tenant-a", "signer", "Sign", "EC-P256", {{1, "Active"}});
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));

  auto pre = c->encrypt(encryptReq("tenant-a/pre", "x"));
  ASSERT_FALSE(pre.ok());
  EXPECT_EQ(pre.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(pre.error().message.find("PreActive (version 1 is PreActive)"), std::string::npos) << pre.error().message;

  auto purpose = c->encrypt(encryptReq("tenant-a/signer", "x"));
  ASSERT_FALSE(purpose.ok());
  EXPECT_EQ(purpose.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(purpose.error().message.find("has purpose Sign"), std::string::npos) << purpose.error().message;
  v1::SignRequest sr;
  sr.set_key("tenant-a/weights");
  sr.set_digest(sha256("x"));
  auto wrongSign = c->sign(sr);
  ASSERT_FALSE(wrongSign.ok());
  EXPECT_NE(wrongSign.error().message.find("has purpose Encrypt; Sign needs a key with purpose Sign"), std::string::npos);

  // Deactivated: Decrypt still works, Encrypt does not.
  auto ct = c->encrypt(encryptReq("tenant-a/weights", "old data"));
  ASSERT_TRUE(ct.ok());
  setVersionState("tenant-a", "weights", 1, "Deactivated", "Deactivated");
  auto enc = c->encrypt(encryptReq("tenant-a/weights", "new data"));
  ASSERT_FALSE(enc.ok());
  EXPECT_EQ(enc.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(enc.error().message.find("Deactivated"), std::string::npos) << enc.error().message;
  auto dec = c->decrypt(decryptReq("tenant-a/weights", ct->ciphertext()));
  ASSERT_TRUE(dec.ok()) << dec.error().toString();
  EXPECT_EQ(dec->plaintext(), "old data");

  // Compromised: nothing at all, Decrypt included.
  setVersionState("tenant-a", "weights", 1, "Compromised", "Compromised");
  auto comp = c->decrypt(decryptReq("tenant-a/weights", ct->ciphertext()));
  ASSERT_FALSE(comp.ok());
  EXPECT_EQ(comp.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(comp.error().message.find("Compromised"), std::string::npos) << comp.error().message;

  std::vector<std::string> reasons;
  for (const auto& a : audit("KeyUseDenied")) reasons.push_back(getString(a, "reason") + ":" + getString(a, "key"));
  EXPECT_EQ(reasons, (std::vector<std::string>{"WrongState:pre", "WrongPurpose:signer", "WrongPurpose:weights",
                                               "WrongState:weights", "WrongState:weights"}));
}

TEST_F(CryptoApiTest, RotationIsTransparentToCallers) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));
  auto v1ct = c->encrypt(encryptReq("tenant-a/weights", "made under v1"));
  ASSERT_TRUE(v1ct.ok());
  // Rotation: v2 generated and activated, v1 deactivated (as the reconciler does).
  {
    auto obj = keys_.get("tenant-a/weights");
    Json key = *obj;
    backends::KeySpec spec;
    spec.ref = {"tenant-a", getString(key, "metadata.uid"), 2};
    spec.purpose = backends::Purpose::kEncrypt;
    spec.algorithm = backends::Algorithm::kAes256;
    ASSERT_TRUE(backend_->generate(spec).ok());
    ASSERT_TRUE(backend_->activate(spec).ok());
    key["status"]["versions"].push_back({{"version", 2}, {"state", "Active"}});
    key["status"]["currentVersion"] = 2;
    key["metadata"]["resourceVersion"] = "9999";
    keys_.upsert(std::make_shared<const Json>(key));
  }
  setVersionState("tenant-a", "weights", 1, "Deactivated", "Active");
  auto v2ct = c->encrypt(encryptReq("tenant-a/weights", "made under v2"));
  ASSERT_TRUE(v2ct.ok()) << v2ct.error().toString();
  EXPECT_EQ(v2ct->key_version(), "tenant-a/weights@2");
  auto old = c->decrypt(decryptReq("tenant-a/weights", v1ct->ciphertext()));
  ASSERT_TRUE(old.ok()) << old.error().toString();
  EXPECT_EQ(old->plaintext(), "made under v1");
  EXPECT_EQ(old->key_version(), "tenant-a/weights@1");
  // Naming a version that did not make the ciphertext is refused.
  auto mismatch = c->decrypt(decryptReq("tenant-a/weights@2", v1ct->ciphertext()));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, ErrorCode::kInvalidArgument);
  // ReEncrypt moves old ciphertexts to the current version.
  v1::ReEncryptRequest re;
  re.set_key("tenant-a/weights");
  re.set_ciphertext(v1ct->ciphertext());
  auto moved = c->reEncrypt(re);
  ASSERT_TRUE(moved.ok()) << moved.error().toString();
  EXPECT_EQ(moved->source_key_version(), "tenant-a/weights@1");
  EXPECT_EQ(moved->key_version(), "tenant-a/weights@2");
  EXPECT_EQ(moved->key_version_id(), v2ct->key_version_id());
  EXPECT_NE(v2ct->key_version_id(), v1ct->key_version_id());
  EXPECT_EQ(old->key_version_id(), v1ct->key_version_id());
}

// Crypto calls take no token lock: while a key is being created (an exclusive section on
// the tenant's token, held here on purpose), encryption with an existing key still works.
TEST_F(CryptoApiTest, EncryptionIsNotStalledByKeyCreationOnTheSameToken) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));
  ASSERT_TRUE(c->encrypt(encryptReq("tenant-a/weights", "warm")).ok());  // handles cached
  auto token = backend_->tokenFor("tenant-a");
  ASSERT_TRUE(token.ok());
  std::mutex mu;
  std::condition_variable cv;
  bool inside = false, release = false;
  std::thread creator([&] {
    (void)(*token)->withSession<bool>(
        [&](backends::pkcs11::Session&) -> Result<bool> {
          std::unique_lock<std::mutex> lock(mu);
          inside = true;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
          return true;
        },
        backends::pkcs11::Token::Access::kExclusive);
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return inside; });
  }
  // The creating section is held: encryption and decryption still complete.
  auto ct = c->encrypt(encryptReq("tenant-a/weights", "during creation"));
  bool stillHeld;
  {
    std::lock_guard<std::mutex> lock(mu);
    stillHeld = !release;
    release = true;
  }
  cv.notify_all();
  creator.join();
  ASSERT_TRUE(ct.ok()) << ct.error().toString();
  EXPECT_TRUE(stillHeld);
  EXPECT_EQ(c->decrypt(decryptReq("tenant-a/weights", ct->ciphertext()))->plaintext(), "during creation");
}

// ---- the HSM is the second check -----------------------------------------------------------

class CryptoApiHsmCheckTest : public CryptoApiTest {
 protected:
  void SetUp() override {
    CryptoServiceOptions o;
    o.checkStateInKeygate = false;  // test hook: only the HSM's attributes decide
    start(o);
  }
};

TEST_F(CryptoApiHsmCheckTest, SoftHsmStillRefusesAPreActiveKeyWhenKeygatesCheckIsOff) {
  addKey("tenant-a", "pre", "Encrypt", "AES-256", {{1, "PreActive"}});
  addKey("tenant-a", "gone", "Sign", "EC-P256", {{1, "Compromised"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));
  auto r = c->encrypt(encryptReq("tenant-a/pre", "x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("the HSM refused the operation"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("CKR_KEY_FUNCTION_NOT_PERMITTED"), std::string::npos) << r.error().message;
  v1::SignRequest sr;
  sr.set_key("tenant-a/gone");
  sr.set_digest(sha256("x"));
  auto s = c->sign(sr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("CKR_KEY_FUNCTION_NOT_PERMITTED"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace keygate::dataplane::testing

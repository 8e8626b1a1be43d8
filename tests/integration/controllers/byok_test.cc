// BYOK through the EncryptionKey controller (issue 15): test API server + real SoftHSM2. A key
// of origin External stays Pending and publishes a wrapping key; the tenant wraps with
// OpenSSL (what `keygate wrap` does) into a Secret; the operator imports it PreActive, it is
// activated through a request and then works like the tenant's own copy. Refused Secrets are
// ImportFailed conditions and import nothing; a window that ends replaces the wrapping key;
// neither the material nor the blob appears in status, Events or the audit trail.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <sstream>

#include "api/v1alpha1/codec.h"
#include "common/key_wrapping.h"
#include "common/log.h"
#include "common/time.h"
#include "controllers/encryption_key/key_import.h"
#include "controllers/kube_secret_store.h"
#include "harness/key_operator.h"
#include "kube/resource.h"
#include "support/softhsm_env.h"

namespace keygate::controllers {
namespace {

using namespace std::chrono_literals;
namespace v1 = keygate::api::v1alpha1;

const kube::Resource kKeys = kube::resources::encryptionKeys();
const kube::Resource kRequests = kube::resources::keyActivationRequests();
const kube::Resource kSecrets = kube::resources::secrets();

std::string hexOf(const std::vector<uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) (s += d[c >> 4]) += d[c & 15];
  return s;
}

const Json* condition(const Json& key, const std::string& type) {
  if (const Json* cs = findPath(key, "status.conditions"); cs && cs->is_array())
    for (const auto& c : *cs)
      if (getString(c, "type") == type) return &c;
  return nullptr;
}
std::string conditionText(const Json& key, const std::string& type) {
  const Json* c = condition(key, type);
  return c ? getString(*c, "status") + "/" + getString(*c, "reason") : "absent";
}

class ByokControllerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(*s);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    admin_ = server_->adminClient();
    backends_ = std::make_unique<BackendSet>();
    auto b = backends::testing::SoftHsmEnv::get().openBackend();
    backend_ = b.get();
    backends_->add(std::move(b));
    // Every log line of the operator, at debug level, for the no-plaintext check.
    log::configure(log::Level::kDebug, log::Format::kJson, &logs_);
    testing::KeyOperatorOptions o;
    o.policy.knownBackends = {"softhsm"};
    o.clock = &clock_;
    op_ = std::make_unique<testing::KeyOperator>(*server_, backends_.get(), o);
    op_->start();
  }
  void TearDown() override {
    op_.reset();
    log::configure(log::Level::kInfo, log::Format::kJson, nullptr);
  }

  Json createKey(const std::string& name, const std::string& algorithm, const std::string& purpose) {
    Json k = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "EncryptionKey"},
              {"metadata", {{"name", name}}},
              {"spec", {{"purpose", purpose}, {"algorithm", algorithm}, {"backend", "softhsm"}, {"origin", "External"},
                        {"import", {{"secretRef", {{"name", name + "-material"}, {"key", "wrapped"}}}}}}}};
    auto r = admin_->create(kKeys, "tenant-a", k);
    EXPECT_TRUE(r.ok()) << r.error().toString();
    return r.ok() ? *r : Json();
  }
  Json waitKey(const std::string& name, const std::function<bool(const Json&)>& pred) {
    return testing::waitForObject(*admin_, kKeys, "tenant-a", name, pred);
  }
  // The published wrapping key (waits for it).
  Json published(const std::string& name) {
    return waitKey(name, [](const Json& k) { return !getString(k, "status.wrappingKey.publicKeyPem").empty(); });
  }
  // The tenant puts the blob in the Secret the key names (created or replaced), and the
  // operator looks again.
  void putSecret(const std::string& name, const std::vector<uint8_t>& blob, Json annotations = Json::object(),
                 const std::string& dataKey = "wrapped") {
    Json s = {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", name + "-material"}, {"annotations", annotations}}},
              {"data", {{dataKey, base64Encode(std::string(blob.begin(), blob.end()))}}}};
    (void)admin_->remove(kSecrets, "tenant-a", name + "-material");
    auto c = admin_->create(kSecrets, "tenant-a", s);
    ASSERT_TRUE(c.ok()) << c.error().toString();
    op_->poke("tenant-a", name);
  }
  std::vector<uint8_t> wrap(const Json& key, const std::vector<uint8_t>& material,
                            WrappingFormat f = WrappingFormat::kRsaAesKeyWrapSha1) {
    auto b = wrapKeyMaterial(getString(key, "status.wrappingKey.publicKeyPem"), f, material);
    EXPECT_TRUE(b.ok()) << b.error().message;
    return b.ok() ? *b : std::vector<uint8_t>();
  }
  std::string wrappingKeyId(const Json& key) {
    return "keygate/tenant-a/" + getString(key, "metadata.uid") + "/v1/wrap" +
           std::to_string(getInt(key, "status.wrappingKey.serial", 0));
  }
  void approve(const std::string& request, const std::string& key) {
    Json req = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "KeyActivationRequest"},
                {"metadata", {{"name", request}}},
                {"spec", {{"keyRef", {{"name", key}}}, {"reason", "byok"}, {"requester", "alice"}}}};
    auto c = admin_->create(kRequests, "tenant-a", req);
    ASSERT_TRUE(c.ok()) << c.error().toString();
    Json body = *c;
    body["status"] = {{"phase", "Approved"}, {"approvalsRequired", 1}, {"approvalsReceived", 1}};
    ASSERT_TRUE(admin_->update(kRequests, "tenant-a", body, "status").ok());
    op_->poke("tenant-a", key);
  }
  backends::KeySpec specOf(const Json& key) {
    return {{"tenant-a", getString(key, "metadata.uid"), 1}, *backends::parsePurpose(getString(key, "spec.purpose")),
            *backends::parseAlgorithm(getString(key, "spec.algorithm"))};
  }

  inline static std::unique_ptr<testing::TestApiServer> server_;
  kube::ClientPtr admin_;
  std::unique_ptr<BackendSet> backends_;
  backends::KeyBackend* backend_ = nullptr;
  testing::FakeClock clock_{*parseRfc3339("2027-01-15T08:00:00Z")};
  std::unique_ptr<testing::KeyOperator> op_;
  std::ostringstream logs_;
};

TEST_F(ByokControllerTest, ImportedPreActiveThenActivatedWorksLikeTheTenantsCopy) {
  createKey("customer-data", "AES-256", "Encrypt");
  Json key = published("customer-data");
  EXPECT_EQ(getString(key, "status.state"), "Pending");
  EXPECT_EQ(key["status"]["versions"][0].value("state", ""), "Pending");
  EXPECT_EQ(key["status"]["wrappingKey"]["algorithms"], Json({"RSA_AES_KEY_WRAP_SHA_1", "RSAES_OAEP_SHA_1"}));
  EXPECT_EQ(getString(key, "status.wrappingKey.expiresAt"), "2027-01-16T08:00:00Z");
  EXPECT_EQ(conditionText(key, "ImportPending").rfind("True/", 0), 0u) << conditionText(key, "ImportPending");

  std::vector<uint8_t> material(32);
  RAND_bytes(material.data(), 32);
  const std::vector<uint8_t> blob = wrap(key, material);
  putSecret("customer-data", blob, {{"keygate.dev/wrapping-key", wrappingKeyId(key)}});
  key = waitKey("customer-data", [](const Json& k) {
    return getString(k, "status.state") == "PreActive" && !getString(k, "status.preActiveExpiresAt").empty();
  });
  ASSERT_EQ(getString(key, "status.state"), "PreActive") << key["status"].dump(2);
  EXPECT_EQ(key["status"]["versions"][0].value("fingerprint", ""), *materialFingerprint(material, false, true));
  EXPECT_FALSE(key["status"].contains("wrappingKey")) << "the window is closed once imported";
  EXPECT_EQ(conditionText(key, "ImportPending"), "False/Imported");
  EXPECT_EQ(conditionText(key, "ImportFailed"), "False/NoFailure");
  EXPECT_EQ(getString(key, "status.preActiveExpiresAt"), "2027-01-22T08:00:00Z") << "the TTL runs from the import";
  // The wrapping key pair is gone from the token.
  auto& pk = *static_cast<backends::pkcs11::Pkcs11Backend*>(backend_);
  auto session = backends::testing::openTenantSession(pk, "tenant-a");
  EXPECT_TRUE(session->findByLabel("keygate/tenant-a/" + getString(key, "metadata.uid") + "/v1/wrap1").empty());
  const std::vector<uint8_t> msg = {'h', 'i'};
  EXPECT_FALSE(backend_->aesGcmSeal(specOf(key), msg, {}).ok()) << "PreActive: refused";

  approve("activate-customer-data", "customer-data");
  key = waitKey("customer-data", [](const Json& k) { return getString(k, "status.state") == "Active"; });
  ASSERT_EQ(getString(key, "status.state"), "Active");
  auto sealed = backend_->aesGcmSeal(specOf(key), msg, {});
  ASSERT_TRUE(sealed.ok()) << sealed.error().toString();
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::vector<uint8_t> out(sealed->sealed.size());
  int n = 0, m = 0;
  EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, material.data(), sealed->iv.data());
  EVP_DecryptUpdate(ctx, out.data(), &n, sealed->sealed.data(), static_cast<int>(sealed->sealed.size() - 16));
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, sealed->sealed.data() + sealed->sealed.size() - 16);
  EXPECT_EQ(EVP_DecryptFinal_ex(ctx, out.data() + n, &m), 1);
  EVP_CIPHER_CTX_free(ctx);
  out.resize(static_cast<size_t>(n + m));
  EXPECT_EQ(out, msg) << "the tenant's copy decrypts what the HSM encrypted";

  // KeyImported is audited; nothing anywhere carries the material or the blob.
  bool imported = false;
  for (const auto& l : op_->auditLines()) imported |= l.find("\"event\":\"KeyImported\"") != std::string::npos;
  EXPECT_TRUE(imported);
  std::string everything = key.dump();
  for (const auto& l : op_->auditLines()) everything += l;
  op_.reset();  // no more log lines while the stream is read
  everything += logs_.str();
  EXPECT_NE(logs_.str().find("imported key"), std::string::npos) << "the logs were captured";
  if (auto evs = admin_->list(kube::resources::events(), "tenant-a"); evs.ok()) everything += evs->dump();
  for (const std::string& secret :
       {hexOf(material), base64Encode(std::string(material.begin(), material.end())), hexOf(blob),
        base64Encode(std::string(blob.begin(), blob.end())).substr(0, 40)})
    EXPECT_EQ(everything.find(secret), std::string::npos) << "leaked: " << secret;
  // The Secret was read, not copied: it is the only Secret in the namespace.
  auto secrets = admin_->list(kSecrets, "tenant-a");
  ASSERT_TRUE(secrets.ok());
  EXPECT_EQ((*secrets)["items"].size(), 1u);
}

TEST_F(ByokControllerTest, RefusedSecretsAreImportFailedAndImportNothing) {
  createKey("ledger", "AES-256", "Encrypt");
  Json key = published("ledger");
  auto refused = [&](const std::string& reason) {
    return waitKey("ledger", [&](const Json& k) { return conditionText(k, "ImportFailed") == "True/" + reason; });
  };
  std::vector<uint8_t> shortMaterial(16, 7);
  putSecret("ledger", wrap(key, shortMaterial));
  key = refused("ImportRejected");
  ASSERT_EQ(conditionText(key, "ImportFailed"), "True/ImportRejected");
  EXPECT_NE(getString(*condition(key, "ImportFailed"), "message").find("AES-256 needs exactly 32"), std::string::npos);
  EXPECT_EQ(getString(key, "status.state"), "Pending");
  EXPECT_EQ(backend_->describe(specOf(key))->state, backends::BackendKeyState::kAbsent) << "nothing imported";

  std::vector<uint8_t> material(32, 9);
  putSecret("ledger", wrap(key, material), {{"keygate.dev/wrapping-key", wrappingKeyId(key) + "0"}});
  key = refused("StaleWrappingKey");
  EXPECT_EQ(conditionText(key, "ImportFailed"), "True/StaleWrappingKey");
  putSecret("ledger", wrap(key, material), Json::object(), "other-key");
  key = refused("SecretKeyNotFound");
  EXPECT_EQ(conditionText(key, "ImportFailed"), "True/SecretKeyNotFound");
  putSecret("ledger", wrap(key, material), {{"keygate.dev/wrapping-algorithm", "RSAES_OAEP_SHA_256"}});
  key = refused("UnsupportedFormat");
  EXPECT_EQ(conditionText(key, "ImportFailed"), "True/UnsupportedFormat");
  EXPECT_EQ(backend_->describe(specOf(key))->state, backends::BackendKeyState::kAbsent);

  // Fixed within the window: imported.
  putSecret("ledger", wrap(key, material));
  key = waitKey("ledger", [](const Json& k) { return getString(k, "status.state") == "PreActive"; });
  EXPECT_EQ(getString(key, "status.state"), "PreActive");
  EXPECT_EQ(conditionText(key, "ImportFailed"), "False/NoFailure");
}

TEST_F(ByokControllerTest, AnEndedWindowReplacesTheWrappingKey) {
  createKey("reports", "HMAC-SHA256", "MAC");
  Json key = published("reports");
  const std::string firstPem = getString(key, "status.wrappingKey.publicKeyPem");
  const std::string firstId = wrappingKeyId(key);
  std::vector<uint8_t> material(32, 5);
  const std::vector<uint8_t> old = wrap(key, material);
  clock_.advance(25h);
  op_->poke("tenant-a", "reports");
  key = waitKey("reports", [](const Json& k) { return getInt(k, "status.wrappingKey.serial", 0) == 2; });
  ASSERT_EQ(getInt(key, "status.wrappingKey.serial", 0), 2);
  EXPECT_NE(getString(key, "status.wrappingKey.publicKeyPem"), firstPem);
  auto& pk = *static_cast<backends::pkcs11::Pkcs11Backend*>(backend_);
  auto session = backends::testing::openTenantSession(pk, "tenant-a");
  EXPECT_TRUE(session->findByLabel(firstId).empty()) << "the old private half is destroyed";
  // Material wrapped for the old key no longer unwraps.
  putSecret("reports", old);
  key = waitKey("reports", [](const Json& k) { return conditionText(k, "ImportFailed") == "True/ImportRejected"; });
  EXPECT_EQ(conditionText(key, "ImportFailed"), "True/ImportRejected");
  putSecret("reports", wrap(key, material));
  key = waitKey("reports", [](const Json& k) { return getString(k, "status.state") == "PreActive"; });
  EXPECT_EQ(key["status"]["versions"][0].value("fingerprint", ""), *materialFingerprint(material, false, false));
}

// EC through the Secret: the public key rides in the annotation keygate wrap writes.
TEST_F(ByokControllerTest, EcKeyImportsWithThePublicKeyAnnotation) {
  createKey("signing", "EC-P256", "Sign");
  Json key = published("signing");
  EVP_PKEY* ec = EVP_EC_gen("P-256");
  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(ec);
  unsigned char* der = nullptr;
  int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
  std::vector<uint8_t> pkcs8(der, der + len);
  OPENSSL_free(der);
  PKCS8_PRIV_KEY_INFO_free(p8);
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(out, ec);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  const std::string pem(data, static_cast<size_t>(n));
  BIO_free(out);
  EVP_PKEY_free(ec);
  putSecret("signing", wrap(key, pkcs8), {{"keygate.dev/public-key", pem}});
  key = waitKey("signing", [](const Json& k) { return getString(k, "status.state") == "PreActive"; });
  ASSERT_EQ(getString(key, "status.state"), "PreActive") << key["status"].dump(2);
  EXPECT_EQ(key["status"]["versions"][0].value("fingerprint", ""), *materialFingerprint(pkcs8, true, false));
  auto publicPem = backend_->publicKeyPem(specOf(key));
  ASSERT_TRUE(publicPem.ok()) << publicPem.error().toString();
  EXPECT_EQ(*publicPem, pem) << "the token's public half is the tenant's";
}

}  // namespace
}  // namespace keygate::controllers

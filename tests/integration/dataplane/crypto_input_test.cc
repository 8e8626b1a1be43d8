// Bad input never crashes the crypto API, never leaks, and always says what is wrong:
// empty, huge, truncated, tampered and random inputs; malformed and unknown key names;
// 10,000 garbage frames on raw connections; then the server still serves. And the other
// way in: a TLS client certificate from the configured CA.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "integration/dataplane/crypto_fixture.h"
#include "support/temp_dir.h"

namespace keygate::dataplane::testing {
namespace {

v1::EncryptRequest enc(const std::string& key, const std::string& pt, const std::string& aad = "") {
  v1::EncryptRequest r;
  r.set_key(key);
  r.set_plaintext(pt);
  r.set_aad(aad);
  return r;
}

v1::DecryptRequest dec(const std::string& key, const std::string& ct, const std::string& aad = "") {
  v1::DecryptRequest r;
  r.set_key(key);
  r.set_ciphertext(ct);
  r.set_aad(aad);
  return r;
}

TEST_F(CryptoApiTest, BadInputGetsClearErrorsAndTheServerKeepsServing) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));
  auto code = [](const auto& r) { return r.ok() ? ErrorCode::kOk : r.error().code; };

  // Empty and oversized inputs (limit 65536 bytes; documented in crypto.proto).
  EXPECT_EQ(code(c->encrypt(enc("tenant-a/weights", ""))), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(c->encrypt(enc("tenant-a/weights", std::string(65536, 'x')))), ErrorCode::kOk);
  auto huge = c->encrypt(enc("tenant-a/weights", std::string(65537, 'x')));
  EXPECT_EQ(code(huge), ErrorCode::kInvalidArgument);
  EXPECT_NE(huge.error().message.find("the limit is 65536"), std::string::npos) << huge.error().message;
  EXPECT_EQ(code(c->encrypt(enc("tenant-a/weights", "x", std::string(65537, 'a')))), ErrorCode::kInvalidArgument);
  // Beyond the gRPC message limit the transport refuses before any parsing.
  EXPECT_EQ(code(c->encrypt(enc("tenant-a/weights", std::string(2 << 20, 'x')))), ErrorCode::kResourceExhausted);

  // Malformed and unknown names.
  for (const char* name : {"", "weights", "tenant-a/", "/weights", "Tenant-A/weights", "tenant-a/weights@2",
                           "tenant-a/we ights", "tenant-a/weights/extra"})
    EXPECT_EQ(code(c->encrypt(enc(name, "x"))), ErrorCode::kInvalidArgument) << name;
  EXPECT_EQ(code(c->encrypt(enc("tenant-a/nope", "x"))), ErrorCode::kNotFound);

  // Truncated, tampered, random ciphertexts; a wrong aad.
  auto ct = c->encrypt(enc("tenant-a/weights", "secret text", "aad-1"));
  ASSERT_TRUE(ct.ok());
  const std::string good = ct->ciphertext();
  EXPECT_EQ(code(c->decrypt(dec("tenant-a/weights", good, "aad-2"))), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(c->decrypt(dec("tenant-a/weights", ""))), ErrorCode::kInvalidArgument);
  for (size_t n = 1; n < good.size(); n += 3) {
    auto r = c->decrypt(dec("tenant-a/weights", good.substr(0, n), "aad-1"));
    EXPECT_FALSE(r.ok()) << "truncated to " << n;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << n << ": " << r.error().message;
    }
  }
  for (size_t i = 0; i < good.size(); ++i) {
    std::string t = good;
    t[i] ^= 0x01;
    auto r = c->decrypt(dec("tenant-a/weights", t, "aad-1"));
    ASSERT_FALSE(r.ok()) << "flipped byte " << i;
    // A flipped version byte names another (absent) version: NOT_FOUND; anything else is
    // INVALID_ARGUMENT. Never the plaintext.
    EXPECT_TRUE(r.error().code == ErrorCode::kInvalidArgument || r.error().code == ErrorCode::kNotFound)
        << i << ": " << r.error().toString();
  }
  std::mt19937 rng(13);
  for (int i = 0; i < 200; ++i) {
    std::string r(rng() % 200, '\0');
    for (auto& ch : r) ch = static_cast<char>(rng());
    if (i % 2 && !r.empty()) r[0] = 'K';
    auto out = c->decrypt(dec("tenant-a/weights", r));
    EXPECT_FALSE(out.ok());
  }
  // No refusal leaked the plaintext into a message.
  for (const auto& l : audit_->lines()) EXPECT_EQ(l.find("secret text"), std::string::npos);

  // 10,000 garbage frames over raw TCP connections (HTTP/2 preface then junk, or only junk).
  std::mt19937 junk(99);
  int frames = 0;
  for (int conn = 0; conn < 100; ++conn) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(server_->port()));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    if (conn % 2 == 0) {
      const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
      (void)!send(s, preface, sizeof preface - 1, MSG_NOSIGNAL);
    }
    for (int f = 0; f < 100; ++f, ++frames) {
      // A frame header (length, type, flags, stream) with random fields, then random payload.
      std::string frame(9 + junk() % 64, '\0');
      for (auto& ch : frame) ch = static_cast<char>(junk());
      if (send(s, frame.data(), frame.size(), MSG_NOSIGNAL) < 0) break;  // the server hung up: fine
    }
    close(s);
  }
  EXPECT_GE(frames, 100);
  auto after = c->decrypt(dec("tenant-a/weights", good, "aad-1"));
  ASSERT_TRUE(after.ok()) << after.error().toString();
  EXPECT_EQ(after->plaintext(), "secret text");
}

// The namespace's rate limit answers RESOURCE_EXHAUSTED (and is per namespace); a key whose
// backend this server does not have answers UNAVAILABLE.
TEST_F(CryptoApiLimitTest, PerTenantRateLimitAndUnavailableBackend) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  addKey("tenant-b", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  bindKeyUser("tenant-b", "users", serviceAccount("tenant-b", "app"));
  auto a = client(serviceAccountToken("tenant-a", "app"));
  auto b = client(serviceAccountToken("tenant-b", "app"));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a->encrypt(enc("tenant-a/weights", "x")).ok()) << i;
  auto limited = a->encrypt(enc("tenant-a/weights", "x"));
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(limited.error().message.find("rate limit"), std::string::npos) << limited.error().message;
  EXPECT_TRUE(b->encrypt(enc("tenant-b/weights", "x")).ok()) << "tenant-b has its own bucket";
  // Unknown namespaces get no bucket: refused by authorization before the limiter.
  EXPECT_EQ(a->encrypt(enc("made-up-ns/k", "x")).error().code, ErrorCode::kPermissionDenied);

  // A key on a backend this server does not have.
  Json k = {{"apiVersion", "keygate.dev/v1alpha1"},
            {"kind", "EncryptionKey"},
            {"metadata", {{"name", "remote"}, {"namespace", "tenant-b"}, {"uid", "uid-remote"}, {"resourceVersion", "7"}}},
            {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "kmip-eu"}}},
            {"status", {{"state", "Active"}, {"currentVersion", 1}, {"versions", {{{"version", 1}, {"state", "Active"}}}}}}};
  keys_.upsert(std::make_shared<const Json>(k));
  auto down = b->encrypt(enc("tenant-b/remote", "x"));
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(down.error().message.find("backend kmip-eu"), std::string::npos) << down.error().message;

  // Plain text only on loopback: bearer tokens never cross a network in clear.
  for (const char* addr : {"0.0.0.0:0", "127.attacker.example:0", "10.0.0.1:0"}) {
    GrpcServerOptions o;
    o.address = addr;
    auto s = GrpcServer::start(o, *authn_, *service_);
    ASSERT_FALSE(s.ok()) << addr;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << addr;
    EXPECT_NE(s.error().message.find("without TLS"), std::string::npos) << s.error().message;
  }
}

// A caller without a ServiceAccount (a static pod): a client certificate from the configured
// CA, CN = user name, O = groups; bound as a User subject.
class CryptoApiCertificateTest : public CryptoApiTest {
 protected:
  void SetUp() override {}
};

TEST_F(CryptoApiCertificateTest, ClientCertificateFromTheConfiguredCa) {
  keygate::testing::TempDir dir("keygate-certs");
  const std::string d = dir.path();
  auto sh = [](const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); };
  // CA, server certificate for 127.0.0.1, client certificate CN=kms-plugin O=keygate:kms, and
  // a client certificate from another CA.
  ASSERT_EQ(sh("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=test-ca"), 0);
  ASSERT_EQ(sh("cd " + d + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 && "
               "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out srv.crt -extfile san.ext"), 0);
  ASSERT_EQ(sh("cd " + d + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cli.key -out cli.csr -subj '/O=keygate:kms/CN=kms-plugin' && "
               "openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out cli.crt"), 0);
  ASSERT_EQ(sh("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue.key -out rogue.crt -days 1 -subj '/O=keygate:kms/CN=kms-plugin'"), 0);

  backend_ = backends::testing::SoftHsmEnv::get().openBackend();
  TokenReviewAuthenticatorOptions ao;
  ao.acceptCertificates = true;
  authn_ = std::make_unique<TokenReviewAuthenticator>(
      [](const Json&) -> Result<Json> { return makeError(ErrorCode::kUnavailable, "no API server in this test"); }, ao);
  audit_ = std::make_shared<controllers::StreamAuditSink>(nullptr, 100);
  directory_ = std::make_unique<KeyDirectory>(keys_, bindings_);
  CryptoServiceDeps deps;
  deps.directory = directory_.get();
  deps.backend = [this](const std::string&) -> backends::KeyBackend* { return backend_.get(); };
  deps.audit = audit_;
  service_ = std::make_unique<CryptoService>(std::move(deps), CryptoServiceOptions{});
  GrpcServerOptions go;
  go.address = "127.0.0.1:0";
  go.certFile = d + "/srv.crt";
  go.keyFile = d + "/srv.key";
  go.clientCaFile = d + "/ca.crt";
  go.certRefresh = std::chrono::seconds(1);
  auto srv = GrpcServer::start(go, *authn_, *service_);
  ASSERT_TRUE(srv.ok()) << srv.error().toString();
  server_ = std::move(*srv);

  addKey("tenant-a", "kek", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "kms", Json::array({{{"kind", "Group"}, {"name", "keygate:kms"}}}));
  auto connectWith = [&](const std::string& cert, const std::string& key) {
    CryptoClientOptions o;
    o.target = "127.0.0.1:" + std::to_string(server_->port());
    o.caFile = d + "/ca.crt";
    o.certFile = cert;
    o.keyFile = key;
    auto c = CryptoClient::connect(o);
    return std::move(c.value());
  };
  auto good = connectWith(d + "/cli.crt", d + "/cli.key")->encrypt(enc("tenant-a/kek", "dek"));
  ASSERT_TRUE(good.ok()) << good.error().toString();
  service_->flushUsage();
  bool sawCaller = false;
  for (const auto& l : audit_->lines()) sawCaller |= l.find(R"("initiator":"kms-plugin")") != std::string::npos;
  EXPECT_TRUE(sawCaller);
  // No certificate: no credentials. A certificate from another CA: the handshake fails.
  auto none = connectWith("", "")->encrypt(enc("tenant-a/kek", "dek"));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kUnauthenticated);
  auto rogue = connectWith(d + "/rogue.crt", d + "/rogue.key")->encrypt(enc("tenant-a/kek", "dek"));
  ASSERT_FALSE(rogue.ok());
  EXPECT_EQ(rogue.error().code, ErrorCode::kUnavailable) << rogue.error().message;

  // The serving certificate is re-read when it changes (a cert-manager renewal): a new
  // certificate from a new CA is served without a restart.
  ASSERT_EQ(sh("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca2.key -out ca2.crt -days 1 -subj /CN=test-ca-2 && "
               "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv2.key -out srv2.csr -subj /CN=127.0.0.1 && "
               "openssl x509 -req -in srv2.csr -CA ca2.crt -CAkey ca2.key -CAcreateserial -days 1 -out srv2.crt -extfile san.ext && "
               "cp srv2.key srv.key && cp srv2.crt srv.crt"), 0);
  auto withCa = [&](const std::string& ca) {
    CryptoClientOptions o;
    o.target = "127.0.0.1:" + std::to_string(server_->port());
    o.caFile = ca;
    o.certFile = d + "/cli.crt";
    o.keyFile = d + "/cli.key";
    auto c = CryptoClient::connect(o);
    return c.value()->encrypt(enc("tenant-a/kek", "dek"));
  };
  bool rotated = false;
  for (int i = 0; i < 100 && !rotated; ++i) {
    rotated = withCa(d + "/ca2.crt").ok();
    if (!rotated) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(rotated) << "the renewed certificate was not served";
  EXPECT_FALSE(withCa(d + "/ca.crt").ok()) << "the old certificate is still served";
}

}  // namespace
}  // namespace keygate::dataplane::testing

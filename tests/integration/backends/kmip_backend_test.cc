// The KMIP backend against a real PyKMIP server over mutual TLS: the lifecycle through KMIP
// states, use refused before activation (checked with the server's own Encrypt/Sign),
// no second object after a "crash", tenant isolation by Object Group, and clear errors for
// bad TLS material and algorithms the server lacks.
#include <gtest/gtest.h>

#include "backends/kmip/kmip_backend.h"
#include "backends/registry.h"
#include "support/free_port.h"
#include "support/pykmip_server.h"

namespace keygate::backends::kmip {
namespace {

class KmipBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = keygate::testing::PyKmipServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(*s).release();
    auto cert = server_->clientCert("keygate");
    ASSERT_TRUE(cert.ok()) << cert.error().toString();
    cert_ = new keygate::testing::KmipClientCert(*cert);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete cert_;
    server_ = nullptr;
  }

  static TlsOptions tls() {
    TlsOptions o;
    o.host = "127.0.0.1";
    o.port = server_->port();
    o.caFile = server_->caFile();
    o.certFile = cert_->certFile;
    o.keyFile = cert_->keyFile;
    o.timeout = std::chrono::seconds(20);
    return o;
  }
  // A fresh backend: a new process as far as caches go.
  static std::unique_ptr<KmipBackend> backend() {
    auto c = tlsConnector(tls());
    EXPECT_TRUE(c.ok()) << c.error().toString();
    return std::make_unique<KmipBackend>(std::make_unique<KmipClient>(std::move(*c)), KmipBackendOptions{"kmip"});
  }
  static KeySpec spec(const std::string& ns, const std::string& uid, Purpose p, Algorithm a) {
    return KeySpec{KeyRef{ns, uid, 1}, p, a};
  }

  static keygate::testing::PyKmipServer* server_;
  static keygate::testing::KmipClientCert* cert_;
};
keygate::testing::PyKmipServer* KmipBackendTest::server_ = nullptr;
keygate::testing::KmipClientCert* KmipBackendTest::cert_ = nullptr;

// AES-256 Encrypt: Pre-Active refuses use; Active encrypts (self test); Deactivated and
// Compromised refuse it again; destroy removes the object and is idempotent.
TEST_F(KmipBackendTest, AesEncryptKeyThroughTheLifecycle) {
  auto b = backend();
  const KeySpec s = spec("tenant-a", "aes-1", Purpose::kEncrypt, Algorithm::kAes256);
  auto g = b->generate(s);
  ASSERT_TRUE(g.ok()) << g.error().toString() << server_->log();
  EXPECT_TRUE(g->created);
  EXPECT_EQ(g->backendKeyId, "keygate/tenant-a/aes-1/v1");
  auto d = b->describe(s);
  ASSERT_TRUE(d.ok()) << d.error().toString();
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);

  // The server itself refuses to encrypt with the Pre-Active key.
  auto early = b->selfTest(s);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, ErrorCode::kPermissionDenied) << early.error().toString();
  EXPECT_NE(early.error().message.find("Active state"), std::string::npos) << early.error().message;

  ASSERT_TRUE(b->activate(s).ok());
  ASSERT_TRUE(b->activate(s).ok()) << "activate is idempotent";
  EXPECT_EQ(b->describe(s)->state, BackendKeyState::kActive);
  auto t = b->selfTest(s);
  ASSERT_TRUE(t.ok()) << t.error().toString();
  EXPECT_TRUE(t->passed) << t->detail;
  EXPECT_EQ(t->mechanism, "KMIP Encrypt/Decrypt AES-CBC");

  ASSERT_TRUE(b->deactivate(s).ok());
  ASSERT_TRUE(b->deactivate(s).ok()) << "deactivate is idempotent";
  EXPECT_EQ(b->describe(s)->state, BackendKeyState::kDeactivated);
  EXPECT_FALSE(b->selfTest(s).ok()) << "a Deactivated key no longer encrypts";
  auto back = b->activate(s);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(back.error().message.find("only move forward"), std::string::npos);

  ASSERT_TRUE(b->markCompromised(s).ok());
  EXPECT_EQ(b->describe(s)->state, BackendKeyState::kNoUsage);

  ASSERT_TRUE(b->destroy(s.ref).ok());
  EXPECT_EQ(b->describe(s)->state, BackendKeyState::kAbsent);
  EXPECT_TRUE(b->destroy(s.ref).ok()) << "destroy is idempotent";
  auto gone = b->locate("tenant-a", "keygate/tenant-a/aes-1/v1");
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->empty());
}

// The crypto API's operations on KMIP: AES-256-GCM with additional data (KMIP 1.4 fields),
// refused by the server itself while the key is Pre-Active.
TEST_F(KmipBackendTest, CryptoApiOperationsUseTheServersCrypto) {
  auto b = backend();
  const KeySpec s = spec("tenant-c", "gcm-1", Purpose::kEncrypt, Algorithm::kAes256);
  ASSERT_TRUE(b->generate(s).ok()) << server_->log();
  const std::string text = "customer data", aadText = "hdr";
  ByteView pt(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  ByteView aad(reinterpret_cast<const uint8_t*>(aadText.data()), aadText.size());
  auto early = b->aesGcmSeal(s, pt, aad);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, ErrorCode::kFailedPrecondition) << early.error().toString();
  EXPECT_EQ(early.error().reason, "KEY_USE_REFUSED");
  ASSERT_TRUE(b->activate(s).ok());
  auto sealed = b->aesGcmSeal(s, pt, aad);
  ASSERT_TRUE(sealed.ok()) << sealed.error().toString() << server_->log();
  ASSERT_EQ(sealed->sealed.size(), text.size() + 16);
  ASSERT_EQ(sealed->iv.size(), 12u);
  auto again = b->aesGcmSeal(s, pt, aad);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->iv, sealed->iv) << "a fresh IV per call";
  auto opened = b->aesGcmOpen(s, sealed->iv, sealed->sealed, aad);
  ASSERT_TRUE(opened.ok()) << opened.error().toString();
  EXPECT_EQ(std::string(opened->begin(), opened->end()), text);
  ByteVec tampered = sealed->sealed;
  tampered[0] ^= 1;
  auto bad = b->aesGcmOpen(s, sealed->iv, tampered, aad);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().reason, "AUTHENTICATION_FAILED") << bad.error().toString();
  auto wrongAad = b->aesGcmOpen(s, sealed->iv, sealed->sealed, {});
  ASSERT_FALSE(wrongAad.ok());
  EXPECT_EQ(wrongAad.error().code, ErrorCode::kInvalidArgument);

  // What KMIP cannot do for the crypto API is a clear Unimplemented, not a wrong answer.
  const KeySpec sig = spec("tenant-c", "sig-1", Purpose::kSign, Algorithm::kEcP256);
  auto u = b->signDigest(sig, SigningScheme::kEcdsaSha256, pt);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, ErrorCode::kUnimplemented);
}

// RSA-3072 Sign: a key pair (private and public objects), sign/verify after activation,
// a tampered message does not verify; compromise makes both halves unusable.
TEST_F(KmipBackendTest, RsaSignKeyPair) {
  auto b = backend();
  const KeySpec s = spec("tenant-a", "rsa-1", Purpose::kSign, Algorithm::kRsa3072);
  auto g = b->generate(s);
  ASSERT_TRUE(g.ok()) << g.error().toString() << server_->log();
  auto priv = b->locate("tenant-a", "keygate/tenant-a/rsa-1/v1/private");
  auto pub = b->locate("tenant-a", "keygate/tenant-a/rsa-1/v1/public");
  ASSERT_TRUE(priv.ok() && pub.ok());
  EXPECT_EQ(priv->size(), 1u);
  EXPECT_EQ(pub->size(), 1u);
  EXPECT_FALSE(b->selfTest(s).ok()) << "the Pre-Active private key cannot sign";
  ASSERT_TRUE(b->activate(s).ok());
  auto t = b->selfTest(s);
  ASSERT_TRUE(t.ok()) << t.error().toString() << server_->log();
  EXPECT_TRUE(t->passed) << t->detail;
  ASSERT_TRUE(b->markCompromised(s).ok());
  auto d = b->describe(s);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, BackendKeyState::kNoUsage);
  EXPECT_EQ(d->objects.size(), 2u);
  EXPECT_FALSE(b->selfTest(s).ok()) << "a Compromised key cannot sign";
  ASSERT_TRUE(b->destroy(s.ref).ok());
  EXPECT_EQ(b->describe(s)->state, BackendKeyState::kAbsent);
}

// A crash between "created" and "status written": a new backend (empty cache) finds the
// existing object instead of making a second one.
TEST_F(KmipBackendTest, GenerateAfterRestartFindsTheExistingKey) {
  const KeySpec s = spec("tenant-a", "crash-1", Purpose::kEncrypt, Algorithm::kAes256);
  auto first = backend()->generate(s);
  ASSERT_TRUE(first.ok()) << first.error().toString();
  EXPECT_TRUE(first->created);
  auto again = backend()->generate(s);
  ASSERT_TRUE(again.ok()) << again.error().toString();
  EXPECT_FALSE(again->created);
  auto uids = backend()->locate("tenant-a", s.ref.backendKeyId());
  ASSERT_TRUE(uids.ok());
  EXPECT_EQ(uids->size(), 1u);
  EXPECT_TRUE(backend()->destroy(s.ref).ok());
}

// Tenant isolation: the same name in tenant-b's Object Group finds nothing, and tenant-b's
// key version with the same uid is absent; destroying it leaves tenant-a's key alone.
TEST_F(KmipBackendTest, TenantsDoNotSeeEachOthersObjects) {
  auto b = backend();
  const KeySpec a = spec("tenant-a", "shared-uid", Purpose::kEncrypt, Algorithm::kAes256);
  const KeySpec other = spec("tenant-b", "shared-uid", Purpose::kEncrypt, Algorithm::kAes256);
  ASSERT_TRUE(b->generate(a).ok());
  auto fromB = b->locate("tenant-b", a.ref.backendKeyId());
  ASSERT_TRUE(fromB.ok());
  EXPECT_TRUE(fromB->empty());
  EXPECT_EQ(b->describe(other)->state, BackendKeyState::kAbsent);
  auto use = b->activate(other);
  ASSERT_FALSE(use.ok());
  EXPECT_EQ(use.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(b->destroy(other.ref).ok());
  EXPECT_EQ(b->describe(a)->state, BackendKeyState::kNoUsage) << "tenant-a's key survives tenant-b's destroy";
  ASSERT_TRUE(b->destroy(a.ref).ok());
}

// Algorithms PyKMIP cannot create (EC, HMAC): a clear error from the server, no object left.
TEST_F(KmipBackendTest, AlgorithmTheServerLacksIsAClearError) {
  auto b = backend();
  for (const KeySpec& s : {spec("tenant-a", "ec-1", Purpose::kSign, Algorithm::kEcP256),
                           spec("tenant-a", "hmac-1", Purpose::kMac, Algorithm::kHmacSha256)}) {
    auto g = b->generate(s);
    ASSERT_FALSE(g.ok()) << algorithmName(s.algorithm);
    EXPECT_EQ(g.error().code, ErrorCode::kInvalidArgument) << g.error().toString();
    EXPECT_NE(g.error().message.find("KMIP Create"), std::string::npos) << g.error().message;
    EXPECT_EQ(b->describe(s)->state, BackendKeyState::kAbsent);
  }
  auto misfit = b->generate(spec("tenant-a", "x", Purpose::kMac, Algorithm::kRsa3072));
  ASSERT_FALSE(misfit.ok());
  EXPECT_EQ(misfit.error().code, ErrorCode::kInvalidArgument);
}

// Bad TLS material and endpoints: errors that say what is wrong, at load or at first use.
TEST_F(KmipBackendTest, TlsProblemsAreClearErrors) {
  TlsOptions o = tls();
  o.caFile = "/nonexistent/ca.pem";
  auto noCa = tlsConnector(o);
  ASSERT_FALSE(noCa.ok());
  EXPECT_NE(noCa.error().message.find("tls.caFile: cannot load /nonexistent/ca.pem"), std::string::npos);

  o = tls();
  o.keyFile = "";
  auto half = tlsConnector(o);
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.error().message.find("give both or neither"), std::string::npos);

  // A client certificate from a CA the server does not trust: the handshake fails.
  auto stranger = server_->strangerCert();
  ASSERT_TRUE(stranger.ok());
  o = tls();
  o.certFile = stranger->certFile;
  o.keyFile = stranger->keyFile;
  auto c = tlsConnector(o);
  ASSERT_TRUE(c.ok());
  KmipClient untrusted(std::move(*c));
  auto r = untrusted.call(Operation::kLocate, Item::structure(tag::kRequestPayload));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable) << r.error().toString();

  // The server's certificate checked against another CA: refused, and the reason says so.
  o = tls();
  o.caFile = stranger->certFile;  // a certificate, but not the server's CA
  auto wrongCa = tlsConnector(o);
  ASSERT_TRUE(wrongCa.ok()) << wrongCa.error().toString();
  KmipClient distrustful(std::move(*wrongCa));
  r = distrustful.call(Operation::kLocate, Item::structure(tag::kRequestPayload));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("server certificate"), std::string::npos) << r.error().message;

  // Nobody listening.
  o = tls();
  o.port = keygate::testing::freePort();
  auto nobody = tlsConnector(o);
  ASSERT_TRUE(nobody.ok());
  KmipClient lonely(std::move(*nobody));
  r = lonely.call(Operation::kLocate, Item::structure(tag::kRequestPayload));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("cannot connect"), std::string::npos) << r.error().message;
}

// The server goes away under a pooled connection: the next calls are errors (Unavailable),
// never a crash (no SIGPIPE), and nothing is retried into a second server-side object.
TEST_F(KmipBackendTest, ServerGoneIsAnErrorNotACrash) {
  auto own = keygate::testing::PyKmipServer::start();
  ASSERT_TRUE(own.ok()) << own.error().toString();
  auto cert = (*own)->clientCert("keygate");
  ASSERT_TRUE(cert.ok());
  TlsOptions o{"127.0.0.1", (*own)->port(), (*own)->caFile(), cert->certFile, cert->keyFile};
  auto c = tlsConnector(o);
  ASSERT_TRUE(c.ok());
  KmipBackend b(std::make_unique<KmipClient>(std::move(*c)), KmipBackendOptions{"gone"});
  const KeySpec s = spec("tenant-a", "gone-1", Purpose::kEncrypt, Algorithm::kAes256);
  ASSERT_TRUE(b.generate(s).ok());
  own->reset();  // SIGINT: the server closes its sockets and exits
  for (int i = 0; i < 3; ++i) {
    auto d = b.describe(s);
    ASSERT_FALSE(d.ok());
    EXPECT_TRUE(d.error().code == ErrorCode::kUnavailable || d.error().code == ErrorCode::kDeadlineExceeded)
        << d.error().toString();
    auto g = b.generate(spec("tenant-a", "gone-2", Purpose::kEncrypt, Algorithm::kAes256));
    ASSERT_FALSE(g.ok());
  }
}

// The registry builds "kmip" backends from the operator config and names bad fields.
TEST_F(KmipBackendTest, RegistryBuildsFromTheConfig) {
  auto reg = BackendRegistry::withBuiltins();
  BackendConfig c{"kms", "kmip",
                  Json{{"endpoint", "127.0.0.1:" + std::to_string(server_->port())},
                       {"tls", {{"caFile", server_->caFile()}, {"certFile", cert_->certFile}, {"keyFile", cert_->keyFile}}}}};
  auto b = reg.build(c, BackendDeps{});
  ASSERT_TRUE(b.ok()) << b.error().toString();
  EXPECT_EQ((*b)->type(), "kmip");
  const KeySpec s = spec("tenant-c", "reg-1", Purpose::kEncrypt, Algorithm::kAes256);
  ASSERT_TRUE((*b)->generate(s).ok());
  EXPECT_TRUE((*b)->destroy(s.ref).ok());

  c.settings["tls"]["caFile"] = "/nope.pem";
  auto bad = reg.build(c, BackendDeps{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("backends[kms].tls: tls.caFile: cannot load /nope.pem"), std::string::npos)
      << bad.error().message;
  c.settings["endpoint"] = "127.0.0.1:99999";
  bad = reg.build(c, BackendDeps{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("backends[kms].endpoint"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace keygate::backends::kmip

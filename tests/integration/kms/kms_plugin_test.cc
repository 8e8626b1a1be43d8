// KMS v2 conformance of the plugin: a client that behaves as kube-apiserver (Status polling,
// Encrypt of a 32-byte DEK seed with a uid, Decrypt with the returned key_id and annotations)
// against kms::Plugin + KmsServer on a unix socket, through the real crypto API (gRPC,
// TokenReview on the test API server, SoftHSM2).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include <fstream>
#include <thread>

#include "../dataplane/crypto_fixture.h"
#include "harness/key_operator.h"
#include "kms/grpc_server.h"
#include "kms/plugin.h"
#include "support/kms_apiserver_client.h"
#include "support/temp_dir.h"
#include "support/thread_failures.h"

namespace keygate::dataplane::testing {
namespace {

using keygate::testing::KmsApiServerClient;
using keygate::testing::KmsSealed;

class KmsPluginTest : public CryptoApiTest {
 protected:
  void SetUp() override {
    CryptoApiTest::SetUp();
    kube::Resource namespaces{"", "v1", "namespaces", "Namespace", false};
    ASSERT_TRUE(admin_->create(namespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "kms-system"}}}}).ok());
    addKey("kms-system", "etcd-kek", "Encrypt", "AES-256", {{1, "Active"}});
    token_ = serviceAccountToken("kms-system", "kms-plugin");
    bindKeyUser("kms-system", "apiserver", serviceAccount("kms-system", "kms-plugin"));
    socket_ = dir_.path() + "/kms.sock";
    startPlugin();
  }

  void TearDown() override {
    stopPlugin();
    CryptoApiTest::TearDown();
  }

  void startPlugin(const std::string& key = "kms-system/etcd-kek") {
    upstream_ = client(token_);
    kms::PluginOptions po;
    po.key = key;
    po.probeInterval = std::chrono::seconds(3600);  // tests probe explicitly
    po.healthTtl = std::chrono::seconds(3600);
    kms::Upstream up;
    auto* c = upstream_.get();
    up.encrypt = [c](const v1::EncryptRequest& r) { return c->encrypt(r); };
    up.decrypt = [c](const v1::DecryptRequest& r) { return c->decrypt(r); };
    plugin_ = std::make_unique<kms::Plugin>(po, up);
    kms::KmsServerOptions so;
    so.listen = "unix://" + socket_;
    auto s = kms::KmsServer::start(so, *plugin_);
    ASSERT_TRUE(s.ok()) << s.error().toString();
    kmsServer_ = std::move(*s);
    apiserver_ = std::make_unique<KmsApiServerClient>(socket_);
  }

  void stopPlugin() {
    if (kmsServer_) kmsServer_->stop(std::chrono::milliseconds(0));
    kmsServer_.reset();
    plugin_.reset();
  }

  keygate::testing::TempDir dir_{"keygate-kms"};
  std::string socket_;
  std::string token_;
  std::unique_ptr<CryptoClient> upstream_;
  std::unique_ptr<kms::Plugin> plugin_;
  std::unique_ptr<kms::KmsServer> kmsServer_;
  std::unique_ptr<KmsApiServerClient> apiserver_;
};

bool isHex32(const std::string& s) {
  if (s.size() != 32) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

TEST_F(KmsPluginTest, RoundTripsAsKubeApiserverDoes) {
  // Before any round trip: version v2, not healthy, and it says why.
  auto raw = apiserver_->statusRaw();
  ASSERT_TRUE(raw.ok()) << raw.error().toString();
  EXPECT_EQ(raw->version(), "v2");
  EXPECT_NE(raw->healthz(), "ok");

  ASSERT_TRUE(plugin_->probe().ok());
  auto keyId = apiserver_->status();
  ASSERT_TRUE(keyId.ok()) << keyId.error().toString();
  EXPECT_TRUE(isHex32(*keyId)) << *keyId;

  // The socket is the API server's alone.
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  for (int i = 0; i < 20; ++i) {
    std::string seed = KmsApiServerClient::seed();
    auto sealed = apiserver_->encrypt(seed);
    ASSERT_TRUE(sealed.ok()) << sealed.error().toString();
    EXPECT_EQ(sealed->keyId, *keyId) << "Encrypt and Status disagree on key_id";
    EXPECT_EQ(sealed->annotations.at(kms::kVersionAnnotation), "kms-system/etcd-kek@1");
    EXPECT_EQ(sealed->ciphertext.find(seed), std::string::npos) << "the seed is in the ciphertext";
    auto back = apiserver_->decrypt(*sealed);
    ASSERT_TRUE(back.ok()) << back.error().toString();
    EXPECT_EQ(*back, seed);
  }
}

// The plugin's state (health, key_id, the versions it knows) driven from plain threads:
// callers encrypting and decrypting, a prober, and kube-apiserver's Status polls at once.
// make test-tsan cannot judge races on gRPC's own threads (tests/tsan.supp says why); here the
// plugin's code runs on threads of the test's own, so TSan sees every access to its state.
TEST_F(KmsPluginTest, StateHoldsUnderPlainThreads) {
  ASSERT_TRUE(plugin_->probe().ok());
  const std::string keyId = plugin_->keyId();
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  keygate::testing::ThreadFailures fail;
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        v2::EncryptRequest er;
        er.set_plaintext(KmsApiServerClient::seed());
        er.set_uid("uid-" + std::to_string(i));
        auto sealed = plugin_->encrypt(er);
        if (!sealed.ok()) return fail("encrypt: " + sealed.error().toString());
        v2::DecryptRequest dr;
        dr.set_ciphertext(sealed->ciphertext());
        dr.set_uid(er.uid());
        dr.set_key_id(sealed->key_id());
        for (const auto& [k, v] : sealed->annotations()) (*dr.mutable_annotations())[k] = v;
        auto back = plugin_->decrypt(dr);
        if (!back.ok()) return fail("decrypt: " + back.error().toString());
        if (back->plaintext() != er.plaintext()) return fail("round trip changed the seed");
        ++done;
      }
    });
  std::thread prober([&] {
    while (!stop)
      if (Status st = plugin_->probe(); !st.ok()) fail("probe: " + st.error().toString());
  });
  std::thread poller([&] {
    while (!stop) {
      auto st = plugin_->status();
      if (st.healthz() != "ok" || st.key_id() != keyId) fail("status: " + st.healthz() + " " + st.key_id());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (auto& t : callers) t.join();
  stop = true;
  prober.join();
  poller.join();
  EXPECT_EQ(fail.count(), 0) << fail.first();
  EXPECT_EQ(done.load(), 60);
  EXPECT_TRUE(plugin_->healthy());
  EXPECT_EQ(plugin_->keyId(), keyId);
}

TEST_F(KmsPluginTest, KeyIdIsStableAcrossRestartsAndOldCiphertextsStillDecrypt) {
  ASSERT_TRUE(plugin_->probe().ok());
  auto before = apiserver_->status();
  ASSERT_TRUE(before.ok());
  auto sealed = apiserver_->encrypt("0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(sealed.ok());
  stopPlugin();
  startPlugin();
  // A fresh plugin has never seen the key_id: it decrypts and checks the answer's version id.
  auto back = apiserver_->decrypt(*sealed);
  ASSERT_TRUE(back.ok()) << back.error().toString();
  EXPECT_EQ(*back, "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(plugin_->probe().ok());
  auto after = apiserver_->status();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*before, *after);
}

TEST_F(KmsPluginTest, RotationSwitchesKeyIdOnlyWhenTheNewVersionIsActive) {
  ASSERT_TRUE(plugin_->probe().ok());
  auto v1Id = *apiserver_->status();
  auto old = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(old.ok());

  // Version 2 exists but waits for its approvals: nothing changes.
  ASSERT_NO_FATAL_FAILURE(addKey("kms-system", "etcd-kek", "Encrypt", "AES-256", {{1, "Active"}, {2, "PreActive"}}, "Active"));
  ASSERT_TRUE(plugin_->probe().ok());
  EXPECT_EQ(*apiserver_->status(), v1Id);
  auto still = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->keyId, v1Id);

  // Approved: version 2 Active, version 1 Deactivated (process only).
  setVersionState("kms-system", "etcd-kek", 2, "Active");
  setVersionState("kms-system", "etcd-kek", 1, "Deactivated", "Active");
  ASSERT_TRUE(plugin_->probe().ok());
  auto v2Id = apiserver_->status();
  ASSERT_TRUE(v2Id.ok()) << v2Id.error().toString();
  EXPECT_NE(*v2Id, v1Id);
  auto fresh = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->keyId, *v2Id);
  EXPECT_EQ(fresh->annotations.at(kms::kVersionAnnotation), "kms-system/etcd-kek@2");
  // Data under version 1 is not stranded.
  EXPECT_TRUE(apiserver_->decrypt(*old).ok());
  EXPECT_TRUE(apiserver_->decrypt(*fresh).ok());
  // A version-1 ciphertext presented with version 2's key_id is refused.
  KmsSealed swapped = *old;
  swapped.keyId = *v2Id;
  auto refused = apiserver_->decrypt(swapped);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument) << refused.error().message;
}

// An Encrypt that sees a version Status does not name yet (a rotation since the last probe)
// wakes the prober at once: Status follows within about a second, not a probe interval; and
// only probes move Status's key_id, so it never goes back.
TEST_F(KmsPluginTest, EncryptThatSeesARotationWakesTheProber) {
  plugin_->start();  // interval 3600 s: only a wake-up can probe again
  ASSERT_TRUE(keygate::testing::waitUntil([&] { return plugin_->healthy(); }));
  const std::string v1Id = plugin_->keyId();
  ASSERT_NO_FATAL_FAILURE(addKey("kms-system", "etcd-kek", "Encrypt", "AES-256", {{1, "Active"}, {2, "PreActive"}}, "Active"));
  setVersionState("kms-system", "etcd-kek", 2, "Active");
  setVersionState("kms-system", "etcd-kek", 1, "Deactivated", "Active");
  v2::EncryptRequest req;
  req.set_plaintext(KmsApiServerClient::seed());
  req.set_uid("u-1");
  auto r = plugin_->encrypt(req);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  EXPECT_NE(r->key_id(), v1Id);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(keygate::testing::waitUntil([&] { return plugin_->keyId() == r->key_id(); }, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  auto st = apiserver_->status();
  ASSERT_TRUE(st.ok()) << st.error().toString();
  EXPECT_EQ(*st, r->key_id());
  plugin_->stop();
}

TEST_F(KmsPluginTest, ForeignKeyIdGarbageAndOversizedRequestsGetCleanErrors) {
  ASSERT_TRUE(plugin_->probe().ok());
  auto sealed = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(sealed.ok());

  // A key_id that is not a version of this key (fresh plugin: nothing cached to lean on).
  stopPlugin();
  startPlugin();
  KmsSealed foreign = *sealed;
  foreign.keyId = "0123456789abcdef0123456789abcdef";
  auto r = apiserver_->decrypt(foreign);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("is not a version of kms-system/etcd-kek"), std::string::npos) << r.error().message;

  // Another key's ciphertext (same tenant, same version number).
  addKey("kms-system", "other", "Encrypt", "AES-256", {{1, "Active"}});
  v1::EncryptRequest er;
  er.set_key("kms-system/other");
  er.set_plaintext(KmsApiServerClient::seed());
  er.set_aad(kms::kAad);
  auto otherCt = upstream_->encrypt(er);
  ASSERT_TRUE(otherCt.ok()) << otherCt.error().toString();
  KmsSealed other{otherCt->ciphertext(), sealed->keyId, {}};
  r = apiserver_->decrypt(other);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().message;

  // Garbage, empty, truncated and tampered ciphertexts; an empty key_id.
  std::string tampered = sealed->ciphertext;
  tampered[30] = static_cast<char>(tampered[30] ^ 0x01);
  for (const std::string& ct : {std::string("garbage"), std::string(), sealed->ciphertext.substr(0, 20), tampered}) {
    r = apiserver_->decrypt(KmsSealed{ct, sealed->keyId, {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().message;
  }
  r = apiserver_->decrypt(KmsSealed{sealed->ciphertext, "", {}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  // Plaintext beyond what a 1 kB ciphertext holds; a request beyond the server's message limit.
  auto big = apiserver_->encrypt(std::string(2000, 'x'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidArgument);
  // kube-apiserver's 3 s deadline is not what this checks: under TSan the 1 MiB buffer costs
  // seconds of (suppressed) race checks inside gRPC, so this one call waits longer.
  KmsApiServerClient patient(socket_, std::chrono::seconds(60));
  auto huge = patient.encrypt(std::string(1 << 20, 'x'));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, ErrorCode::kResourceExhausted) << huge.error().message;
  auto empty = apiserver_->encrypt("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);

  // The plugin still serves.
  ASSERT_TRUE(plugin_->probe().ok());
  auto ok = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(apiserver_->decrypt(*ok).ok());
}

TEST_F(KmsPluginTest, HealthGoesOffWhenTheBindingIsRevokedOrTheKeyCompromisedAndBackWhenFixed) {
  ASSERT_TRUE(plugin_->probe().ok());
  ASSERT_TRUE(apiserver_->status().ok());

  // Binding revoked.
  bindings_.remove("kms-system/apiserver");
  EXPECT_FALSE(plugin_->probe().ok());
  auto st = apiserver_->statusRaw();
  ASSERT_TRUE(st.ok()) << st.error().toString();
  EXPECT_NE(st->healthz().find("PERMISSION_DENIED"), std::string::npos) << st->healthz();
  EXPECT_FALSE(apiserver_->status().ok());
  auto enc = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_FALSE(enc.ok());
  EXPECT_EQ(enc.error().code, ErrorCode::kPermissionDenied);
  // Restored.
  bindKeyUser("kms-system", "apiserver", serviceAccount("kms-system", "kms-plugin"));
  ASSERT_TRUE(plugin_->probe().ok());
  auto v1Id = apiserver_->status();
  ASSERT_TRUE(v1Id.ok());

  // Key compromised: health off and Encrypt refused, naming the state.
  setVersionState("kms-system", "etcd-kek", 1, "Compromised", "Compromised");
  EXPECT_FALSE(plugin_->probe().ok());
  st = apiserver_->statusRaw();
  ASSERT_TRUE(st.ok()) << st.error().toString();
  EXPECT_NE(st->healthz().find("Compromised"), std::string::npos) << st->healthz();
  enc = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_FALSE(enc.ok());
  EXPECT_EQ(enc.error().code, ErrorCode::kFailedPrecondition);
  // Fixed the only way a compromised key is: a new version, approved and Active.
  ASSERT_NO_FATAL_FAILURE(
      addKey("kms-system", "etcd-kek", "Encrypt", "AES-256", {{1, "Compromised"}, {2, "Active"}}, "Active"));
  ASSERT_TRUE(plugin_->probe().ok());
  auto v2Id = apiserver_->status();
  ASSERT_TRUE(v2Id.ok()) << v2Id.error().toString();
  EXPECT_NE(*v2Id, *v1Id);
}

TEST_F(KmsPluginTest, DroppedCryptoApiGivesUnavailableAndRecovers) {
  ASSERT_TRUE(plugin_->probe().ok());
  const int port = server_->port();
  server_->stop(std::chrono::milliseconds(0));
  auto t0 = std::chrono::steady_clock::now();
  auto enc = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_FALSE(enc.ok());
  EXPECT_EQ(enc.error().code, ErrorCode::kUnavailable) << enc.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3)) << "slower than kube-apiserver's kms timeout";
  EXPECT_FALSE(plugin_->probe().ok());
  EXPECT_FALSE(apiserver_->status().ok());

  GrpcServerOptions go;
  go.address = "127.0.0.1:" + std::to_string(port);
  auto srv = GrpcServer::start(go, *authn_, *service_);
  ASSERT_TRUE(srv.ok()) << srv.error().toString();
  server_ = std::move(*srv);
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {
    back = plugin_->probe().ok();
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(back);
  EXPECT_TRUE(apiserver_->status().ok());
}

TEST_F(KmsPluginTest, BackgroundProberNoticesARevokedBindingWithoutTraffic) {
  stopPlugin();
  upstream_ = client(token_);
  kms::PluginOptions po;
  po.key = "kms-system/etcd-kek";
  po.probeInterval = std::chrono::seconds(1);
  po.retryInterval = std::chrono::seconds(1);
  po.healthTtl = std::chrono::seconds(5);
  kms::Upstream up;
  auto* c = upstream_.get();
  up.encrypt = [c](const v1::EncryptRequest& r) { return c->encrypt(r); };
  up.decrypt = [c](const v1::DecryptRequest& r) { return c->decrypt(r); };
  auto offs = std::make_shared<std::atomic<int>>(0);  // outlives this frame if an ASSERT returns early
  kms::PluginObserver obs;
  obs.health = [offs](bool healthy, const std::string&, const std::string&) {
    if (!healthy) ++*offs;
  };
  plugin_ = std::make_unique<kms::Plugin>(po, up, obs);
  plugin_->start();
  auto waitFor = [&](bool want) {
    for (int i = 0; i < 100; ++i) {
      if (plugin_->healthy() == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  ASSERT_TRUE(waitFor(true));
  bindings_.remove("kms-system/apiserver");
  ASSERT_TRUE(waitFor(false)) << "the prober did not notice the revoked binding";
  EXPECT_GE(offs->load(), 1);
  bindKeyUser("kms-system", "apiserver", serviceAccount("kms-system", "kms-plugin"));
  ASSERT_TRUE(waitFor(true));
  plugin_->stop();
}

// Bytes that are not HTTP/2 or not gRPC on the socket (a confused client, a fuzzer) close that
// connection only; the plugin keeps serving kube-apiserver.
TEST_F(KmsPluginTest, GarbageOnTheSocketDoesNotStopThePlugin) {
  ASSERT_TRUE(plugin_->probe().ok());
  const std::vector<std::string> junk = {
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(64, '\xff'),
      std::string(4096, '\0'),
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello start
  };
  for (int round = 0; round < 50; ++round) {
    for (const auto& bytes : junk) {
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      ASSERT_GE(fd, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
      ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
      (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ::close(fd);
    }
  }
  auto sealed = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(sealed.ok()) << sealed.error().toString();
  EXPECT_TRUE(apiserver_->decrypt(*sealed).ok());
  EXPECT_TRUE(apiserver_->status().ok());
}

// A client certificate whose key belongs to another certificate (a renewal caught half
// written, a wrong file) is a clear error at connect, not a failed handshake later.
TEST(KmsClientCredentialsTest, MismatchedCertificateAndKeyAreRefused) {
  keygate::testing::TempDir dir("keygate-kms-certs");
  const std::string d = dir.path();
  ASSERT_EQ(std::system(("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key "
                         "-out a.crt -days 1 -subj /CN=a >/dev/null 2>&1 && openssl req -x509 -newkey ec -pkeyopt "
                         "ec_paramgen_curve:P-256 -nodes -keyout b.key -out b.crt -days 1 -subj /CN=b >/dev/null 2>&1 && "
                         "echo 'not a pem' > junk.pem")
                            .c_str()),
            0);
  auto connect = [&](const std::string& cert, const std::string& key) {
    CryptoClientOptions o;
    o.target = "127.0.0.1:1";
    o.caFile = d + "/a.crt";
    o.certFile = cert;
    o.keyFile = key;
    return CryptoClient::connect(o);
  };
  EXPECT_TRUE(connect(d + "/a.crt", d + "/a.key").ok());
  for (auto [cert, key] : {std::pair{d + "/a.crt", d + "/b.key"}, std::pair{d + "/junk.pem", d + "/a.key"},
                           std::pair{d + "/a.crt", d + "/junk.pem"}}) {
    auto c = connect(cert, key);
    ASSERT_FALSE(c.ok()) << cert << " " << key;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(c.error().message.find("are not a PEM certificate and its private key"), std::string::npos)
        << c.error().message;
  }
}

TEST(KmsPluginOptionsTest, RefusesBadKeysAndAddresses) {
  kms::PluginOptions po;
  for (const char* bad : {"", "etcd-kek", "ns/", "/name", "ns/name@2", "a/b/c"}) {
    po.key = bad;
    EXPECT_FALSE(kms::Plugin::validate(po).ok()) << bad;
  }
  po.key = "kms-system/etcd-kek";
  EXPECT_TRUE(kms::Plugin::validate(po).ok());
  po.probeInterval = std::chrono::seconds(120);
  EXPECT_FALSE(kms::Plugin::validate(po).ok());
  for (const char* bad : {"127.0.0.1:9000", "unix://relative.sock", "tcp:///x.sock", "unix://"})
    EXPECT_FALSE(kms::unixSocketPath(bad).ok()) << bad;
  EXPECT_EQ(*kms::unixSocketPath("unix:///run/kms.sock"), "/run/kms.sock");
  EXPECT_EQ(*kms::unixSocketPath("unix:/run/kms.sock"), "/run/kms.sock");
}

TEST(KmsServerTest, RefusesToReplaceAFileThatIsNotASocket) {
  keygate::testing::TempDir dir("keygate-kms");
  std::string path = dir.path() + "/kms.sock";
  { std::ofstream(path) << "precious"; }
  kms::Plugin plugin(kms::PluginOptions{"a/b"}, kms::Upstream{});
  kms::KmsServerOptions so;
  so.listen = "unix://" + path;
  auto s = kms::KmsServer::start(so, plugin);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("not a socket"), std::string::npos);
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  so.listen = "unix://" + dir.path() + "/missing/kms.sock";
  EXPECT_FALSE(kms::KmsServer::start(so, plugin).ok());
}

}  // namespace
}  // namespace keygate::dataplane::testing

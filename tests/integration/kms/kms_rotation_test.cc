// Rotation the Keygate way, through the real reconcilers: the KMS plugin's key_id follows the
// EncryptionKey only when a rotated version has collected its (webhook-signed) approval and
// is Active; until then kube-apiserver keeps encrypting with version 1, and afterwards every
// DEK seed sealed under version 1 still decrypts (version 1 is Deactivated: process only).
#include <gtest/gtest.h>

#include "dataplane/crypto_client.h"
#include "dataplane/crypto_service.h"
#include "dataplane/grpc_server.h"
#include "dataplane/identity.h"
#include "dataplane/key_directory.h"
#include "integration/controllers/approval_fixture.h"
#include "kms/grpc_server.h"
#include "kms/plugin.h"
#include "support/kms_apiserver_client.h"

namespace keygate::controllers::testing {
namespace {

using namespace std::chrono_literals;
using keygate::testing::KmsApiServerClient;

class KmsRotationTest : public ApprovalFixture {
 protected:
  void TearDown() override {
    if (kmsServer_) kmsServer_->stop(std::chrono::milliseconds(0));
    plugin_.reset();
    if (crypto_) crypto_->stop(std::chrono::milliseconds(0));
    ApprovalFixture::TearDown();
  }

  // The crypto API over the operator's own caches, the plugin as its client.
  void startCryptoApiAndPlugin() {
    auto a = dataplane::StaticTokenAuthenticator::parse("kms-token,kms-plugin,kms-plugin-uid\n", "tokens.csv");
    ASSERT_TRUE(a.ok()) << a.error().toString();
    authn_ = std::move(*a);
    directory_ = std::make_unique<dataplane::KeyDirectory>(op_->keyCache(), op_->bindingCache());
    dataplane::CryptoServiceDeps deps;
    deps.directory = directory_.get();
    deps.backend = [this](const std::string&) { return backend_; };
    deps.audit = std::make_shared<StreamAuditSink>(nullptr, 1000);
    service_ = std::make_unique<dataplane::CryptoService>(std::move(deps), dataplane::CryptoServiceOptions{});
    dataplane::GrpcServerOptions go;
    go.address = "127.0.0.1:0";
    auto srv = dataplane::GrpcServer::start(go, *authn_, *service_);
    ASSERT_TRUE(srv.ok()) << srv.error().toString();
    crypto_ = std::move(*srv);
    dataplane::CryptoClientOptions co;
    co.target = "127.0.0.1:" + std::to_string(crypto_->port());
    co.insecure = true;
    co.token = "kms-token";
    auto c = dataplane::CryptoClient::connect(co);
    ASSERT_TRUE(c.ok());
    client_ = std::move(*c);
    kms::Upstream up;
    up.encrypt = [this](const keygate::v1::EncryptRequest& r) { return client_->encrypt(r); };
    up.decrypt = [this](const keygate::v1::DecryptRequest& r) { return client_->decrypt(r); };
    kms::PluginOptions po;
    po.key = "tenant-a/etcd-kek";
    po.probeInterval = 3600s;
    po.healthTtl = 3600s;
    plugin_ = std::make_unique<kms::Plugin>(po, up);
    kms::KmsServerOptions so;
    so.listen = "unix://" + dir_.path() + "/kms.sock";
    auto ks = kms::KmsServer::start(so, *plugin_);
    ASSERT_TRUE(ks.ok()) << ks.error().toString();
    kmsServer_ = std::move(*ks);
    apiserver_ = std::make_unique<KmsApiServerClient>(dir_.path() + "/kms.sock");
  }

  // The informers see the operator's writes shortly after the API server does.
  bool probeUntil(const std::function<bool()>& f) {
    return keygate::testing::waitUntil([&] {
      (void)plugin_->probe();
      return f();
    });
  }

  std::unique_ptr<dataplane::Authenticator> authn_;
  std::unique_ptr<dataplane::KeyDirectory> directory_;
  std::unique_ptr<dataplane::CryptoService> service_;
  std::unique_ptr<dataplane::GrpcServer> crypto_;
  std::unique_ptr<dataplane::CryptoClient> client_;
  std::unique_ptr<kms::Plugin> plugin_;
  std::unique_ptr<kms::KmsServer> kmsServer_;
  std::unique_ptr<KmsApiServerClient> apiserver_;
};

TEST_F(KmsRotationTest, KeyIdSwitchesOnlyWhenTheApprovedRotatedVersionIsActive) {
  startOperator();
  binding("approvers", "KeyApprover", {"bob", "carol"});
  binding("apiserver", "KeyUser", {"kms-plugin"});
  Json key = createKey("etcd-kek", {{"requiredApprovals", 1}},
                       {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"rotation", {{"period", "24h"}, {"requireApproval", true}}}});
  ASSERT_EQ(getString(key, "status.state"), "PreActive") << key.dump();
  startCryptoApiAndPlugin();

  // PreActive: no health, and kube-apiserver's Encrypt is refused naming the state.
  EXPECT_FALSE(plugin_->probe().ok());
  auto refused = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("PreActive"), std::string::npos) << refused.error().message;

  ASSERT_TRUE(createRequest("activate-v1", "etcd-kek").ok());
  ASSERT_TRUE(decide("activate-v1", "bob").ok());
  ASSERT_TRUE(probeUntil([&] { return apiserver_->status().ok(); })) << apiserver_->statusRaw()->healthz();
  const std::string v1Id = *apiserver_->status();
  auto underV1 = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(underV1.ok()) << underV1.error().toString();
  EXPECT_EQ(underV1->keyId, v1Id);

  // The period passes: version 2 is born PreActive. Nothing changes for kube-apiserver.
  clock_.advance(24h + 1s);
  op_->poke("tenant-a", "etcd-kek");
  key = waitFor(res::encryptionKeys(), "etcd-kek", [](const Json& k) {
    const Json* v = findPath(k, "status.versions");
    return v && v->is_array() && v->size() == 2;
  });
  ASSERT_EQ(getString(key["status"]["versions"][1], "state"), "PreActive") << key.dump();
  // The crypto API reads the operator's informer cache: wait until it holds version 2 too.
  ASSERT_TRUE(keygate::testing::waitUntil([&] {
    auto k = op_->keyCache().get("tenant-a/etcd-kek");
    const Json* v = k ? findPath(*k, "status.versions") : nullptr;
    return v && v->is_array() && v->size() == 2;
  }));
  ASSERT_TRUE(plugin_->probe().ok());
  EXPECT_EQ(*apiserver_->status(), v1Id);
  auto stillV1 = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(stillV1.ok());
  EXPECT_EQ(stillV1->keyId, v1Id);
  EXPECT_EQ(stillV1->annotations.at(kms::kVersionAnnotation), "tenant-a/etcd-kek@1");

  // Approved (by carol; alice requested): version 2 Active, key_id switches.
  ASSERT_TRUE(createRequest("activate-v2", "etcd-kek").ok());
  ASSERT_TRUE(decide("activate-v2", "carol").ok());
  std::string v2Id;
  ASSERT_TRUE(probeUntil([&] {
    auto s = apiserver_->status();
    if (s.ok() && *s != v1Id) v2Id = *s;
    return !v2Id.empty();
  }));
  auto underV2 = apiserver_->encrypt(KmsApiServerClient::seed());
  ASSERT_TRUE(underV2.ok());
  EXPECT_EQ(underV2->keyId, v2Id);
  EXPECT_EQ(underV2->annotations.at(kms::kVersionAnnotation), "tenant-a/etcd-kek@2");
  // Version 1 is Deactivated: its DEK seeds still decrypt (nothing is stranded).
  key = waitFor(res::encryptionKeys(), "etcd-kek", [](const Json& k) {
    return getString(k["status"]["versions"][0], "state") == "Deactivated";
  });
  for (const auto* sealed : {&*underV1, &*stillV1, &*underV2}) {
    auto back = apiserver_->decrypt(*sealed);
    EXPECT_TRUE(back.ok()) << back.error().toString();
  }
}

}  // namespace
}  // namespace keygate::controllers::testing

// Through the test API server: webhook configurations registered as admissionregistration.k8s.io/v1
// objects, real bearer-token identities, the real webhook over TLS. Drives issue 4's first
// Done-when flow as far as the webhook goes (activation itself is the reconciler's).

#include <gmock/gmock.h>

#include "api/v1alpha1/codec.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "support/test_api_server.h"
#include "support/approval_setup.h"
#include "support/webhook_registration.h"
#include "tls_client.h"
#include "webhook/server.h"

namespace keygate::webhook::testing {
namespace {

using ::testing::HasSubstr;
using namespace keygate::api::v1alpha1;
namespace res = kube::resources;

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class WebhookE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = keygate::testing::TestApiServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    api_ = std::move(*s);
    admin_ = api_->adminClient();

    ASSERT_TRUE(makeCa(dir_.path(), "ca", &certs_).ok());
    ASSERT_TRUE(issueServerCert(dir_.path(), certs_, "webhook", "keygate-webhook", &certs_).ok());
    auto key = generateSigningKey();
    ASSERT_TRUE(key.ok());
    signer_ = std::make_unique<ApprovalSigner>(*key);
    view_ = std::make_unique<CacheRoleView>(bindings_, keys_);
    handler_ = std::make_unique<AdmissionHandler>(*view_, *signer_, Policy{});
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.certFile = certs_.cert;
    o.keyFile = certs_.key;
    auto srv = Server::start(o, *handler_);
    ASSERT_TRUE(srv.ok()) << srv.error().toString();
    server_ = std::move(*srv);

    registerWebhooks();
    grantRbac();
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (api_) api_->stop();
  }

  void registerWebhooks() {
    auto st = keygate::testing::registerKeygateWebhooks(*admin_, server_->url(), base64Encode(readAll(certs_.caCert)));
    ASSERT_TRUE(st.ok()) << st.error().toString();
  }

  // Everyone in the flow may create/update requests as far as RBAC goes: the webhook decides.
  void grantRbac() {
    auto st = keygate::testing::grantRequestAccess(*admin_, "tenant-a", "kar-editor", {"alice", "bob", "carol", "dave"},
                                                   {"get", "list", "watch", "create", "update", "patch"});
    ASSERT_TRUE(st.ok()) << st.error().toString();
  }

  // Stands in for the operator's informers: copies the API server's objects into the caches.
  void syncCaches() {
    for (auto [cache, r] : {std::pair{&bindings_, res::keyRoleBindings()}, std::pair{&keys_, res::encryptionKeys()}}) {
      auto st = keygate::testing::copyIntoCache(*admin_, r, *cache);
      ASSERT_TRUE(st.ok()) << st.error().toString();
    }
  }

  Result<Json> decide(const std::string& user, const std::string& decision = "Approve") {
    syncCaches();
    auto c = api_->clientFor(user);
    auto cur = c->get(res::keyActivationRequests(), "tenant-a", "activate-model-weights");
    if (!cur.ok()) return cur.takeError();
    Json obj = *cur;
    // Client-side stamps are ignored and overwritten by the webhook.
    obj["spec"]["approvals"].push_back(
        {{"approver", user}, {"decision", decision}, {"comment", user + " ok"}, {"signature", "forged"}});
    return c->update(res::keyActivationRequests(), "tenant-a", obj);
  }

  keygate::testing::TempDir dir_{"keygate-webhook-e2e"};
  std::unique_ptr<keygate::testing::TestApiServer> api_;
  kube::ClientPtr admin_;
  CertFiles certs_;
  kube::Cache bindings_, keys_;
  std::unique_ptr<ApprovalSigner> signer_;
  std::unique_ptr<CacheRoleView> view_;
  std::unique_ptr<AdmissionHandler> handler_;
  std::unique_ptr<Server> server_;
};

// alice requests a 2-approval Sign key; alice's own approval and dave's are denied; bob
// approves; bob again is denied; carol (by group) approves; the stored approvals are stamped
// with the real identities and their signatures verify.
TEST_F(WebhookE2eTest, ApprovalFlow) {
  // Bindings go through the validating webhook too (segregation of duties).
  Json approvers = {{"apiVersion", "keygate.dev/v1alpha1"},
                    {"kind", "KeyRoleBinding"},
                    {"metadata", {{"name", "approvers"}, {"namespace", "tenant-a"}}},
                    {"spec",
                     {{"role", "KeyApprover"},
                      {"subjects", {{{"kind", "User"}, {"name", "bob"}}, {{"kind", "User"}, {"name", "carol"}}}},
                      {"reviewBy", "2099-12-31"}}}};
  auto b = admin_->create(res::keyRoleBindings(), "tenant-a", approvers);
  ASSERT_TRUE(b.ok()) << b.error().toString();
  syncCaches();
  Json admins = approvers;
  admins["metadata"]["name"] = "admins";
  admins["spec"]["role"] = "KeyAdministrator";
  admins["spec"]["subjects"] = {{{"kind", "User"}, {"name", "bob"}}};
  auto conflict = admin_->create(res::keyRoleBindings(), "tenant-a", admins);
  ASSERT_FALSE(conflict.ok());
  EXPECT_THAT(conflict.error().message,
              HasSubstr("admission webhook \"validate.keygate.dev\" denied the request: KeyRoleBinding tenant-a/admins "
                        "would break segregation of duties"));

  // The key: created-by stamped from the creating identity, whatever the client sent.
  Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "EncryptionKey"},
              {"metadata",
               {{"name", "model-weights"},
                {"namespace", "tenant-a"},
                {"annotations", {{"keygate.dev/created-by", "carol"}}}}},
              {"spec",
               {{"purpose", "Sign"},
                {"algorithm", "EC-P256"},
                {"backend", "softhsm"},
                {"activation", {{"requiredApprovals", 2}}}}}};
  auto k = admin_->create(res::encryptionKeys(), "tenant-a", key);
  ASSERT_TRUE(k.ok()) << k.error().toString();
  EXPECT_EQ((*k)["metadata"]["annotations"]["keygate.dev/created-by"], "admin");

  // alice's request: requester stamped from her token.
  syncCaches();
  Json kar = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyActivationRequest"},
              {"metadata", {{"name", "activate-model-weights"}, {"namespace", "tenant-a"}}},
              {"spec",
               {{"keyRef", {{"name", "model-weights"}}},
                {"reason", "Production rollout"},
                {"changeReference", "CHG-1234"},
                {"affectedSystems", {"inference-gateway"}},
                {"requester", "bob"}}}};
  auto created = api_->clientFor("alice")->create(res::keyActivationRequests(), "tenant-a", kar);
  ASSERT_TRUE(created.ok()) << created.error().toString();
  EXPECT_EQ((*created)["spec"]["requester"], "alice");

  auto alice = decide("alice");
  ASSERT_FALSE(alice.ok());
  EXPECT_EQ(alice.error().httpStatus, 403);
  EXPECT_THAT(alice.error().message,
              HasSubstr("admission webhook \"validate.keygate.dev\" denied the request: alice cannot approve: alice is "
                        "the requester of this activation request; segregation of duties requires a different approver"));

  auto dave = decide("dave");
  ASSERT_FALSE(dave.ok());
  EXPECT_THAT(dave.error().message, HasSubstr("dave holds no current KeyApprover KeyRoleBinding in namespace tenant-a"));

  auto bob = decide("bob");
  ASSERT_TRUE(bob.ok()) << bob.error().toString();

  auto bobAgain = decide("bob");
  ASSERT_FALSE(bobAgain.ok());
  // The CRD's CEL rule answers before the validating webhook (schema validation runs first on
  // a real API server); the webhook's own "already recorded a decision" check is unit-tested.
  EXPECT_THAT(bobAgain.error().message, HasSubstr("spec.approvals: one entry per approver"));

  auto carol = decide("carol");
  ASSERT_TRUE(carol.ok()) << carol.error().toString();

  // What is stored: stamped approvals that the reconciler will count.
  syncCaches();
  auto stored = admin_->get(res::keyActivationRequests(), "tenant-a", "activate-model-weights");
  ASSERT_TRUE(stored.ok());
  auto request = decodeKeyActivationRequest(*stored);
  ASSERT_TRUE(request.ok()) << request.error().message;
  auto storedKey = decodeEncryptionKey(*admin_->get(res::encryptionKeys(), "tenant-a", "model-weights"));
  ASSERT_TRUE(storedKey.ok());
  ASSERT_EQ(request->spec.approvals.size(), 2u);
  EXPECT_EQ(request->spec.approvals[0].approver, "bob");
  EXPECT_EQ(request->spec.approvals[1].approver, "carol");
  for (const auto& a : request->spec.approvals) {
    EXPECT_EQ(a.decision, Decision::kApprove);
    EXPECT_EQ(a.comment, a.approver + " ok");
    EXPECT_EQ(checkApproval(*signer_, *request, *storedKey, a), ApprovalCheck::kValid) << a.approver;
  }
  // An attempt to rewrite history (edit bob's comment) is refused.
  Json edit = *stored;
  edit["spec"]["approvals"][0]["comment"] = "rewritten";
  auto rewritten = api_->clientFor("carol")->update(res::keyActivationRequests(), "tenant-a", edit);
  ASSERT_FALSE(rewritten.ok());
  EXPECT_THAT(rewritten.error().message, HasSubstr("append-only"));
}

}  // namespace
}  // namespace keygate::webhook::testing

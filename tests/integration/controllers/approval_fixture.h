#pragma once
// Shared by the activation and role-binding integration tests: the test API server with the
// real admission webhook over TLS registered against it (so approvals are stamped and signed
// by the webhook from real bearer-token identities), the in-process operator with the
// KeyActivationRequest, KeyRoleBinding and EncryptionKey controllers sharing the webhook's
// signing key, a SoftHSM2 backend and one injectable clock for operator and webhook.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "api/v1alpha1/codec.h"
#include "common/time.h"
#include "harness/key_operator.h"
#include "integration/webhook/tls_client.h"
#include "kube/resource.h"
#include "support/softhsm_env.h"
#include "webhook/admission.h"
#include "webhook/role_view.h"
#include "support/approval_setup.h"
#include "support/webhook_registration.h"
#include "webhook/server.h"

namespace keygate::controllers::testing {

namespace res = kube::resources;
namespace v1 = keygate::api::v1alpha1;

class ApprovalFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = keygate::testing::TestApiServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    api_ = std::move(*s);
    admin_ = api_->adminClient();
    backends_ = std::make_unique<BackendSet>();
    auto b = backends::testing::SoftHsmEnv::get().openBackend();
    ASSERT_TRUE(b);
    backend_ = b.get();
    backends_->add(std::move(b));
    policy_.knownBackends = {"softhsm"};

    auto key = v1::generateSigningKey();
    ASSERT_TRUE(key.ok());
    signingKey_ = *key;
    signer_ = std::make_unique<v1::ApprovalSigner>(signingKey_);
    using namespace keygate::webhook::testing;
    ASSERT_TRUE(makeCa(dir_.path(), "ca", &certs_).ok());
    ASSERT_TRUE(issueServerCert(dir_.path(), certs_, "webhook", "keygate-webhook", &certs_).ok());
    view_ = std::make_unique<webhook::CacheRoleView>(bindingsCache_, keysCache_);
    handler_ = std::make_unique<webhook::AdmissionHandler>(*view_, *signer_, policy_, clock_);
    webhook::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.certFile = certs_.cert;
    o.keyFile = certs_.key;
    auto srv = webhook::Server::start(o, *handler_);
    ASSERT_TRUE(srv.ok()) << srv.error().toString();
    server_ = std::move(*srv);
    registerWebhooks();
    grantRequesters();
  }
  void TearDown() override {
    op_.reset();
    if (server_) server_->stop();
    if (api_) api_->stop();
  }

  void startOperator() {
    keygate::testing::KeyOperatorOptions o;
    o.policy = policy_;
    o.clock = &clock_;
    o.approvalWorkflow = true;
    o.signingKey = signingKey_;
    op_ = std::make_unique<keygate::testing::KeyOperator>(*api_, backends_.get(), o);
    op_->start();
  }

  static std::string readAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void registerWebhooks() {
    auto st = keygate::testing::registerKeygateWebhooks(*admin_, server_->url(), v1::base64Encode(readAll(certs_.caCert)));
    ASSERT_TRUE(st.ok()) << st.error().toString();
  }

  // Requesters (and dave, who holds no keygate role) may create and update requests as far
  // as RBAC goes; approvers get their RBAC only from the KeyRoleBinding controller.
  void grantRequesters() {
    auto st = keygate::testing::grantRequestAccess(*admin_, "tenant-a", "kar-requester", {"alice", "dave"},
                                                   {"get", "list", "watch", "create", "update"});
    ASSERT_TRUE(st.ok()) << st.error().toString();
  }

  // The webhook's view of bindings and keys (the operator's informers stand-in, as in the
  // webhook e2e test).
  void syncWebhookCaches() {
    for (auto [cache, r] : {std::pair{&bindingsCache_, res::keyRoleBindings()}, std::pair{&keysCache_, res::encryptionKeys()}}) {
      auto st = keygate::testing::copyIntoCache(*admin_, r, *cache);
      ASSERT_TRUE(st.ok()) << st.error().toString();
    }
  }

  Json binding(const std::string& name, const std::string& role, std::vector<std::string> users,
               const std::string& reviewBy = "2099-12-31") {
    Json subjects = Json::array();
    for (const auto& u : users) subjects.push_back({{"kind", "User"}, {"name", u}});
    Json b = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyRoleBinding"},
              {"metadata", {{"name", name}, {"namespace", "tenant-a"}}},
              {"spec", {{"role", role}, {"subjects", subjects}, {"reviewBy", reviewBy}}}};
    auto r = admin_->create(res::keyRoleBindings(), "tenant-a", b);
    EXPECT_TRUE(r.ok()) << r.error().toString();
    return r.ok() ? *r : Json();
  }

  Json createKey(const std::string& name, Json activation, Json extraSpec = Json::object()) {
    Json spec = {{"purpose", "Sign"}, {"algorithm", "EC-P256"}, {"backend", "softhsm"},
                 {"activation", activation}, {"affectedSystems", {"inference-gateway"}}};
    spec.update(extraSpec);
    Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "EncryptionKey"},
                {"metadata", {{"name", name}, {"namespace", "tenant-a"}}},
                {"spec", spec}};
    auto r = admin_->create(res::encryptionKeys(), "tenant-a", key);
    EXPECT_TRUE(r.ok()) << r.error().toString();
    return waitFor(res::encryptionKeys(), name, [](const Json& k) { return getString(k, "status.state") == "PreActive"; });
  }

  Result<Json> createRequest(const std::string& name, const std::string& keyName, const std::string& as = "alice") {
    syncWebhookCaches();
    Json kar = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "KeyActivationRequest"},
                {"metadata", {{"name", name}, {"namespace", "tenant-a"}}},
                {"spec",
                 {{"keyRef", {{"name", keyName}}},
                  {"reason", "Production rollout"},
                  {"changeReference", "CHG-1234"},
                  {"affectedSystems", {"inference-gateway", "model-store"}}}}};
    return api_->clientFor(as)->create(res::keyActivationRequests(), "tenant-a", kar);
  }

  // Appends a decision as `user` through the API server (and so through the webhook).
  Result<Json> decide(const std::string& request, const std::string& user, const std::string& decision = "Approve",
                      const std::string& comment = "ok") {
    syncWebhookCaches();
    auto c = api_->clientFor(user);
    auto cur = c->get(res::keyActivationRequests(), "tenant-a", request);
    if (!cur.ok()) return cur.takeError();
    Json obj = *cur;
    obj["spec"]["approvals"].push_back({{"approver", user}, {"decision", decision}, {"comment", comment}});
    return c->update(res::keyActivationRequests(), "tenant-a", obj);
  }

  // Writes straight into the API server's storage: no admission, no webhook stamps.
  Status bypassWrite(const kube::Resource& r, const Json& obj) {
    std::string path = "/__test/storage/apis/" + r.group + "/" + r.version + "/namespaces/" +
                       getString(obj, "metadata.namespace") + "/" + r.plural + "/" + getString(obj, "metadata.name");
    auto w = api_->control("PUT", path, obj);
    if (!w.ok()) return w.takeError();
    return Status();
  }

  Json waitFor(const kube::Resource& r, const std::string& name, const std::function<bool(const Json&)>& pred) {
    return keygate::testing::waitForObject(*admin_, r, "tenant-a", name, pred);
  }
  Json waitPhase(const std::string& request, const std::string& phase) {
    return waitFor(res::keyActivationRequests(), request,
                   [&](const Json& r) { return getString(r, "status.phase") == phase; });
  }
  static std::string condMessage(const Json& obj, const std::string& type) {
    if (const Json* cs = findPath(obj, "status.conditions"); cs && cs->is_array())
      for (const auto& c : *cs)
        if (c.value("type", "") == type) return c.value("status", "") + ": " + c.value("message", "");
    return "";
  }
  std::vector<std::string> eventMessages(const std::string& reason) {
    std::vector<std::string> out;
    auto l = admin_->list(res::events(), "tenant-a");
    if (!l.ok()) return out;
    for (const auto& e : (*l)["items"])
      if (e.value("reason", "") == reason)
        out.push_back(getString(e, "involvedObject.kind") + "/" + getString(e, "involvedObject.name") + ": " +
                      e.value("message", ""));
    return out;
  }

  keygate::testing::TempDir dir_{"keygate-activation"};
  std::unique_ptr<keygate::testing::TestApiServer> api_;
  kube::ClientPtr admin_;
  std::unique_ptr<BackendSet> backends_;
  backends::KeyBackend* backend_ = nullptr;
  v1::Policy policy_;
  // Operator and webhook share it; starts at the real time (request creationTimestamps are
  // the API server's wall clock).
  keygate::testing::FakeClock clock_{realClock().now()};
  std::string signingKey_;
  std::unique_ptr<v1::ApprovalSigner> signer_;
  keygate::webhook::testing::CertFiles certs_;
  kube::Cache bindingsCache_, keysCache_;
  std::unique_ptr<webhook::CacheRoleView> view_;
  std::unique_ptr<webhook::AdmissionHandler> handler_;
  std::unique_ptr<webhook::Server> server_;
  std::unique_ptr<keygate::testing::KeyOperator> op_;
};

}  // namespace keygate::controllers::testing

// Security finding 1 (issue 16): the admission webhook as a signing oracle.
//
// The attack: a pod that can reach the webhook port POSTs a made-up AdmissionReview whose
// userInfo names an approver, and receives a JSONPatch carrying a valid approval signature.
// With webhook.clientCAFile the handshake demands a client certificate from that CA (the one
// kube-apiserver presents through its AdmissionConfiguration), so the forged review never
// reaches the handler. The last test drives the real setup: the test API server given an
// AdmissionConfiguration whose kubeconfig holds kube-apiserver's client certificate.

#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>

#include "../integration/webhook/tls_client.h"
#include "kube/client.h"
#include "support/temp_dir.h"
#include "support/test_api_server.h"
#include "support/webhook_registration.h"
#include "unit/webhook/fixture.h"
#include "webhook/server.h"

namespace keygate::webhook::testing {
namespace {

using ::testing::HasSubstr;

class WebhookOracleTest : public WebhookFixture {
 protected:
  void SetUp() override {
    ASSERT_TRUE(makeCa(dir_.path(), "serving-ca", &serving_).ok());
    ASSERT_TRUE(issueServerCert(dir_.path(), serving_, "webhook", "keygate-webhook", &serving_).ok());
    ASSERT_TRUE(makeCa(dir_.path(), "apiserver-client-ca", &clientCa_).ok());
    ASSERT_TRUE(issueClientCert(dir_.path(), clientCa_, "apiserver", "kube-apiserver", &apiserver_).ok());
    ASSERT_TRUE(issueClientCert(dir_.path(), clientCa_, "other", "some-pod", &otherName_).ok());
    ASSERT_TRUE(makeCa(dir_.path(), "attacker-ca", &attackerCa_).ok());
    ASSERT_TRUE(issueClientCert(dir_.path(), attackerCa_, "attacker", "kube-apiserver", &attacker_).ok());
  }

  void startServer(bool requireClientCert, std::vector<std::string> allowedNames = {}) {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.certFile = serving_.cert;
    o.keyFile = serving_.key;
    if (requireClientCert) o.clientCAFile = clientCa_.caCert;
    o.allowedClientNames = std::move(allowedNames);
    auto s = Server::start(o, handler_);
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(*s);
  }

  // bob is an approver of model-weights; the attacker is not bob. The review says it is.
  std::string forgedApproval() {
    KeyActivationRequest old = storedRequest();
    old.spec.requester = "alice";
    KeyActivationRequest next = old;
    next.spec.approvals.push_back(Approval{"bob", Decision::kApprove, "lgtm", "", "", ""});
    Json req = {{"uid", "forged-1"},
                {"kind", {{"group", "keygate.dev"}, {"version", "v1alpha1"}, {"kind", "KeyActivationRequest"}}},
                {"resource", {{"group", "keygate.dev"}, {"version", "v1alpha1"}, {"resource", "keyactivationrequests"}}},
                {"name", old.metadata.name},
                {"namespace", "tenant-a"},
                {"operation", "UPDATE"},
                {"userInfo", {{"username", "bob"}, {"groups", {"system:authenticated"}}}},
                {"object", encode(next)},
                {"oldObject", encode(old)},
                {"dryRun", false}};
    return dumpJson(Json{{"kind", "AdmissionReview"}, {"apiVersion", "admission.k8s.io/v1"}, {"request", req}});
  }

  // The attacker's attempt with an optional client certificate: the signature it obtained, or
  // "" when the webhook did not hand one out (handshake refused, connection dropped, denied).
  std::string attack(const CertFiles* clientCert) {
    auto c = TlsConnection::connect(server_->port(), {serving_.caCert, 0, 0, 10}, clientCert ? clientCert->cert : "",
                                    clientCert ? clientCert->key : "");
    if (!c.ok()) return "";
    auto r = (*c)->request("POST", "/mutate?timeout=10s", forgedApproval());
    if (!r.ok() || r->status != 200) return "";
    Json out = Json::parse(r->body, nullptr, false);
    if (out.is_discarded() || !out["response"].value("allowed", false) || !out["response"].contains("patch")) return "";
    auto ops = base64Decode(out["response"]["patch"].get<std::string>());
    if (!ops.ok()) return "";
    for (const Json& op : Json::parse(*ops))
      if (op.value("path", "").find("/spec/approvals/") == 0 && op["value"].is_object() &&
          op["value"].contains("signature"))
        return op["value"]["signature"].get<std::string>();
      else if (op.value("path", "").find("/signature") != std::string::npos && op["value"].is_string())
        return op["value"].get<std::string>();
    return "";
  }

  keygate::testing::TempDir dir_{"keygate-webhook-oracle"};
  CertFiles serving_, clientCa_, apiserver_, otherName_, attackerCa_, attacker_;
  std::unique_ptr<Server> server_;
};

// What the finding describes, in the documented unauthenticated mode: the forged review is
// signed. This is the reason docs/security.md says to set webhook.clientCAFile, and the
// reason keygate_webhook_client_auth exists; it also shows attack() can see a signature.
TEST_F(WebhookOracleTest, WithoutClientAuthAnyCallerObtainsASignature) {
  startServer(false);
  EXPECT_FALSE(attack(nullptr).empty());
}

TEST_F(WebhookOracleTest, WithClientCaACallerWithoutCertificateObtainsNothing) {
  startServer(true);
  EXPECT_EQ(attack(nullptr), "");
  EXPECT_EQ(attack(&attacker_), "") << "a certificate from another CA (same CN) must be refused";
  // kube-apiserver's certificate still works: the legitimate path is intact.
  EXPECT_FALSE(attack(&apiserver_).empty());
}

TEST_F(WebhookOracleTest, AllowedClientNamesRefuseOtherCertificatesFromTheSameCa) {
  startServer(true, {"kube-apiserver"});
  EXPECT_EQ(attack(&otherName_), "") << "CN some-pod is not an allowed client name";
  EXPECT_FALSE(attack(&apiserver_).empty());
}

TEST(WebhookClientAuthStartTest, BadClientCaFileRefusesToStart) {
  keygate::testing::TempDir dir("keygate-webhook-ca");
  CertFiles serving;
  ASSERT_TRUE(makeCa(dir.path(), "ca", &serving).ok());
  ASSERT_TRUE(issueServerCert(dir.path(), serving, "webhook", "keygate-webhook", &serving).ok());
  std::ofstream(dir.path() + "/garbage.pem") << "not a certificate\n";
  FakeRoleView roles;
  ApprovalSigner signer(kSigningKey);
  AdmissionHandler handler(roles, signer, Policy{});
  for (const std::string& ca : {dir.path() + "/missing.pem", dir.path() + "/garbage.pem"}) {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.certFile = serving.cert;
    o.keyFile = serving.key;
    o.clientCAFile = ca;
    auto s = Server::start(o, handler);
    ASSERT_FALSE(s.ok()) << ca;
    EXPECT_THAT(s.error().message, HasSubstr("client CA")) << s.error().message;
    EXPECT_THAT(s.error().message, HasSubstr(ca));
  }
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.certFile = serving.cert;
  o.keyFile = serving.key;
  o.allowedClientNames = {"kube-apiserver"};
  auto s = Server::start(o, handler);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("allowedClientNames needs clientCAFile"));
}

// The real set-up (docs/security.md): kube-apiserver started with
// --admission-control-config-file, whose kubeconfig gives the client certificate for the
// webhook's address. Without that file the API server's calls fail (failurePolicy Fail).
TEST_F(WebhookOracleTest, ApiServerWithAdmissionConfigurationIsAdmitted) {
  startServer(true, {"kube-apiserver"});
  // examples/webhook-auth as an administrator would install them: the files' directory and the
  // webhook's address are the only changes (here the webhook is a URL, not a Service).
  auto example = [&](const std::string& name) {
    std::ifstream in(keygate::testing::sourceDir() + "/examples/webhook-auth/" + name);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_FALSE(text.empty()) << name;
    auto replaceAll = [&text](const std::string& from, const std::string& to) {
      for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    };
    replaceAll("/etc/kubernetes/keygate/", dir_.path() + "/");
    replaceAll("keygate-webhook.keygate-system.svc", "127.0.0.1:" + std::to_string(server_->port()));
    std::ofstream(dir_.path() + "/" + name) << text;
    return dir_.path() + "/" + name;
  };
  std::filesystem::copy_file(apiserver_.cert, dir_.path() + "/apiserver-webhook-client.crt");
  std::filesystem::copy_file(apiserver_.key, dir_.path() + "/apiserver-webhook-client.key");
  example("webhook-kubeconfig.yaml");
  const std::string admissionConfig = example("admission-configuration.yaml");

  auto binding = [](const std::string& name) {
    return Json{{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "KeyRoleBinding"},
                {"metadata", {{"name", name}, {"namespace", "tenant-a"}}},
                {"spec",
                 {{"role", "KeyApprover"}, {"subjects", {{{"kind", "User"}, {"name", "bob"}}}}, {"reviewBy", "2099-12-31"}}}};
  };
  std::ifstream caIn(serving_.caCert);
  const std::string caPem((std::istreambuf_iterator<char>(caIn)), std::istreambuf_iterator<char>());

  for (bool configured : {true, false}) {
    SCOPED_TRACE(configured ? "with AdmissionConfiguration" : "without");
    keygate::testing::TestApiServerOptions ao;
    if (configured) ao.admissionControlConfigFile = admissionConfig;
    auto api = keygate::testing::TestApiServer::start(ao);
    ASSERT_TRUE(api.ok()) << api.error().toString();
    auto admin = (*api)->adminClient();
    ASSERT_TRUE(keygate::testing::registerKeygateWebhooks(*admin, server_->url(), base64Encode(caPem)).ok());
    auto created = admin->create(kube::resources::keyRoleBindings(), "tenant-a", binding("approvers"));
    if (configured) {
      EXPECT_TRUE(created.ok()) << created.error().toString();
    } else {
      ASSERT_FALSE(created.ok());
      EXPECT_THAT(created.error().message, HasSubstr("failed calling webhook"));
    }
  }
}

}  // namespace
}  // namespace keygate::webhook::testing

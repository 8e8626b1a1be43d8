#pragma once
// The crypto API end to end in one process: the real gRPC server and client, the real
// SoftHSM2 token through the PKCS#11 backend, TokenReview on the project's test API server
// (ServiceAccounts and their tokens made with TokenRequest, as in a cluster), and keys and
// KeyRoleBindings in an informer-style cache (as the operator's informers would hold them;
// the HSM objects behind them are set to the same states through the backend).
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <memory>
#include <string>
#include <vector>

#include "controllers/audit.h"
#include "dataplane/crypto_client.h"
#include "dataplane/crypto_service.h"
#include "dataplane/grpc_server.h"
#include "dataplane/identity.h"
#include "dataplane/key_directory.h"
#include "kube/cache.h"
#include "support/softhsm_env.h"
#include "support/test_api_server.h"

namespace keygate::dataplane::testing {

struct KeyVersionState {
  int64_t version;
  std::string state;  // PreActive | Active | Deactivated | Compromised
};

class CryptoApiTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }
  void TearDown() override {
    if (server_) server_->stop(std::chrono::milliseconds(0));
  }

  void start(CryptoServiceOptions options, bool withApiServer = true) {
    backend_ = backends::testing::SoftHsmEnv::get().openBackend();
    if (withApiServer) {
      auto s = keygate::testing::TestApiServer::start();
      ASSERT_TRUE(s.ok()) << s.error().toString();
      api_ = std::move(*s);
      admin_ = api_->adminClient();
      TokenReviewAuthenticatorOptions ao;
      authn_ = std::make_unique<TokenReviewAuthenticator>(
          [this](const Json& body) { return api_->clientFor("system:serviceaccount:keygate-system:keygate")->create(
                                         kube::resources::tokenReviews(), "", body); },
          ao);
      grantTokenReview();
    }
    audit_ = std::make_shared<controllers::StreamAuditSink>(nullptr, 10000);
    directory_ = std::make_unique<KeyDirectory>(keys_, bindings_);
    CryptoServiceDeps deps;
    deps.directory = directory_.get();
    deps.backend = [this](const std::string& name) -> backends::KeyBackend* {
      return name == "softhsm" ? backend_.get() : nullptr;
    };
    deps.audit = audit_;
    deps.observe = [this](const CallRecord& r) {
      std::lock_guard<std::mutex> lock(callsMu_);
      calls_.push_back(r);
    };
    service_ = std::make_unique<CryptoService>(std::move(deps), options);
    GrpcServerOptions go;
    go.address = "127.0.0.1:0";
    auto srv = GrpcServer::start(go, *authn_, *service_);
    ASSERT_TRUE(srv.ok()) << srv.error().toString();
    server_ = std::move(*srv);
  }

  // The operator's identity may create TokenReviews (deploy/rbac.yaml grants it; here the
  // same rule is applied directly).
  void grantTokenReview() {
    Json cr = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "ClusterRole"},
               {"metadata", {{"name", "test-tokenreview"}}},
               {"rules", {{{"apiGroups", {"authentication.k8s.io"}}, {"resources", {"tokenreviews"}}, {"verbs", {"create"}}}}}};
    kube::Resource crs{"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false};
    kube::Resource crbs{"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false};
    ASSERT_TRUE(admin_->create(crs, "", cr).ok());
    Json crb = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                {"kind", "ClusterRoleBinding"},
                {"metadata", {{"name", "test-tokenreview"}}},
                {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "test-tokenreview"}}},
                {"subjects", {{{"kind", "ServiceAccount"}, {"name", "keygate"}, {"namespace", "keygate-system"}}}}};
    auto r = admin_->create(crbs, "", crb);
    ASSERT_TRUE(r.ok()) << r.error().toString();
  }

  // A ServiceAccount and a token for it from TokenRequest (audience keygate.dev by default).
  std::string serviceAccountToken(const std::string& ns, const std::string& name,
                                  const std::string& audience = "keygate.dev") {
    Json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", name}}}};
    kube::Resource sas{"", "v1", "serviceaccounts", "ServiceAccount", true};
    (void)admin_->create(sas, ns, sa);  // AlreadyExists is fine
    kube::Resource tr{"", "v1", "serviceaccounts/" + name + "/token", "TokenRequest", true};
    Json req = {{"apiVersion", "authentication.k8s.io/v1"},
                {"kind", "TokenRequest"},
                {"spec", {{"audiences", {audience}}, {"expirationSeconds", 3600}}}};
    auto t = admin_->create(tr, ns, req);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().toString());
    return t.ok() ? getString(*t, "status.token") : "";
  }

  // An EncryptionKey in the cache whose versions exist in the HSM in the given states.
  void addKey(const std::string& ns, const std::string& name, const std::string& purpose, const std::string& algorithm,
              const std::vector<KeyVersionState>& versions, const std::string& keyState = "",
              const std::map<std::string, std::string>& labels = {}) {
    std::string uid = uidOf(ns, name);
    Json vs = Json::array();
    int64_t current = 0;
    for (const auto& v : versions) {
      backends::KeySpec spec;
      spec.ref = {ns, uid, static_cast<int>(v.version)};
      spec.purpose = *backends::parsePurpose(purpose);
      spec.algorithm = *backends::parseAlgorithm(algorithm);
      auto g = backend_->generate(spec);
      ASSERT_TRUE(g.ok()) << g.error().toString();
      backends::UsageState u = v.state == "Active"        ? backends::UsageState::kFull
                               : v.state == "Deactivated" ? backends::UsageState::kProcessOnly
                                                          : backends::UsageState::kNone;
      ASSERT_TRUE(backend_->applyUsage(spec, u).ok());
      vs.push_back({{"version", v.version}, {"state", v.state}, {"backendKeyId", spec.ref.backendKeyId()}});
      current = std::max(current, v.version);
    }
    std::string state = keyState;
    if (state.empty()) state = versions.empty() ? "Pending" : versions.back().state;
    Json meta = {{"name", name}, {"namespace", ns}, {"uid", uid}, {"resourceVersion", std::to_string(++rv_)}};
    if (!labels.empty()) meta["labels"] = labels;
    Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "EncryptionKey"},
                {"metadata", meta},
                {"spec", {{"purpose", purpose}, {"algorithm", algorithm}, {"backend", "softhsm"}}},
                {"status", {{"state", state}, {"currentVersion", current}, {"versions", vs}}}};
    keys_.upsert(std::make_shared<const Json>(key));
  }

  // Moves one version to another state in both the HSM and the cache (what the reconciler does).
  void setVersionState(const std::string& ns, const std::string& name, int64_t version, const std::string& state,
                       const std::string& keyState = "") {
    auto obj = keys_.get(ns + "/" + name);
    ASSERT_TRUE(obj);
    Json key = *obj;
    backends::KeySpec spec;
    spec.ref = {ns, getString(key, "metadata.uid"), static_cast<int>(version)};
    spec.purpose = *backends::parsePurpose(getString(key, "spec.purpose"));
    spec.algorithm = *backends::parseAlgorithm(getString(key, "spec.algorithm"));
    backends::UsageState u = state == "Active"        ? backends::UsageState::kFull
                             : state == "Deactivated" ? backends::UsageState::kProcessOnly
                                                      : backends::UsageState::kNone;
    ASSERT_TRUE(backend_->applyUsage(spec, u).ok());
    for (auto& v : key["status"]["versions"])
      if (v["version"] == version) v["state"] = state;
    if (!keyState.empty()) key["status"]["state"] = keyState;
    key["metadata"]["resourceVersion"] = std::to_string(++rv_);
    keys_.upsert(std::make_shared<const Json>(key));
  }

  void bindKeyUser(const std::string& ns, const std::string& bindingName, const Json& subjects,
                   const std::string& reviewBy = "2099-12-31", const Json& selector = Json()) {
    Json spec = {{"role", "KeyUser"}, {"subjects", subjects}, {"reviewBy", reviewBy}};
    if (!selector.is_null()) spec["keySelector"] = selector;
    Json b = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyRoleBinding"},
              {"metadata", {{"name", bindingName}, {"namespace", ns}, {"uid", uidOf(ns, "krb-" + bindingName)},
                            {"resourceVersion", std::to_string(++rv_)}}},
              {"spec", spec}};
    bindings_.upsert(std::make_shared<const Json>(b));
  }

  static Json serviceAccount(const std::string& ns, const std::string& name) {
    return Json::array({{{"kind", "ServiceAccount"}, {"name", name}, {"namespace", ns}}});
  }

  std::unique_ptr<CryptoClient> client(const std::string& token) {
    CryptoClientOptions o;
    o.target = "127.0.0.1:" + std::to_string(server_->port());
    o.insecure = true;
    o.token = token;
    auto c = CryptoClient::connect(o);
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }

  // The audit lines with this event.
  std::vector<Json> audit(const std::string& event) {
    std::vector<Json> out;
    for (const auto& l : audit_->lines()) {
      auto j = parseJson(l);
      if (j.ok() && getString(*j, "event") == event) out.push_back(*j);
    }
    return out;
  }

  static std::string uidOf(const std::string& ns, const std::string& name) {
    std::string u = "uid-" + ns + "-" + name;
    for (char& c : u)
      if (c == '.') c = '-';
    return u.substr(0, 64);
  }

  std::unique_ptr<backends::pkcs11::Pkcs11Backend> backend_;
  std::unique_ptr<keygate::testing::TestApiServer> api_;
  kube::ClientPtr admin_;
  std::unique_ptr<Authenticator> authn_;
  std::shared_ptr<controllers::StreamAuditSink> audit_;
  kube::Cache keys_, bindings_;
  std::unique_ptr<KeyDirectory> directory_;
  std::unique_ptr<CryptoService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::mutex callsMu_;
  std::vector<CallRecord> calls_;
  int64_t rv_ = 100;
};

// The same with a small per-namespace rate limit (1/s, burst 3).
class CryptoApiLimitTest : public CryptoApiTest {
 protected:
  void SetUp() override {
    CryptoServiceOptions o;
    o.tenantQps = 1;
    o.tenantBurst = 3;
    start(o);
  }
};

inline std::string sha256(const std::string& s) {
  std::string d(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

}  // namespace keygate::dataplane::testing

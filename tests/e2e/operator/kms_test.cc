// Encrypting the cluster's Secrets with a Keygate key, as deployed: `keygate kms-plugin` (a
// process on a unix socket, authenticated to the crypto API by a TLS client certificate, as a
// static pod would be) + `keygate operator` (deploy/'s RBAC, webhook, dataPlane with a client
// CA, secretStore: file) + SoftHSM2 + the test API server, and a client that calls the plugin
// the way kube-apiserver does. The API server answers every Secret request with 500 (what a
// real one does while it cannot decrypt Secrets because its KMS plugin is not healthy yet): the
// cold start must not need a Secret.
#include <sys/stat.h>

#include "e2e/operator/operator_process.h"
#include "support/kms_apiserver_client.h"

namespace keygate {
namespace {

using namespace e2e;
using keygate::testing::KmsApiServerClient;
using metrics::testing::httpGet;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

class KmsE2E : public OperatorE2E {
 protected:
  // A CA for client certificates and one for the plugin (CN=kms-plugin), and an intruder's
  // certificate from the same CA that no binding names.
  void makeClientCerts() {
    const std::string d = dir_.path();
    ASSERT_EQ(sh("cd " + d + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client-ca.key "
                 "-out client-ca.crt -days 1 -subj /CN=kms-client-ca"), 0);
    for (const char* cn : {"kms-plugin", "intruder"}) {
      std::string n = cn;
      ASSERT_EQ(sh("cd " + d + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + n + ".key -out " +
                   n + ".csr -subj /CN=" + n + " && openssl x509 -req -in " + n + ".csr -CA client-ca.crt -CAkey client-ca.key "
                   "-CAcreateserial -days 1 -out " + n + ".crt"), 0);
    }
    ASSERT_EQ(sh("cd " + d + " && cp kms-plugin.crt plugin.crt && cp kms-plugin.key plugin.key"), 0);
  }

  Proc startPlugin(int cryptoPort, const std::string& logName) {
    metricsPort_ = freePort();
    healthPort_ = freePort();
    const std::string d = dir_.path();
    return spawn({KEYGATE_BINARY, "kms-plugin", "--listen", "unix://" + socket(), "--key", "cluster-kms/etcd-kek", "--server",
                  "127.0.0.1:" + std::to_string(cryptoPort), "--ca-file", d + "/state-tls/tls.crt", "--cert-file",
                  d + "/plugin.crt", "--key-file", d + "/plugin.key", "--cert-reload-interval", "1", "--probe-interval", "1",
                  "--health-ttl", "5", "--metrics-bind-address", "127.0.0.1:" + std::to_string(metricsPort_),
                  "--health-probe-bind-address", "127.0.0.1:" + std::to_string(healthPort_)},
                 d + "/" + logName);
  }

  std::string socket() const { return dir_.path() + "/kms.sock"; }

  std::string operatorConfig(int cryptoPort) const {
    const std::string tls = dir_.path() + "/state-tls";
    return "dataPlane: {bindAddress: \"127.0.0.1:" + std::to_string(cryptoPort) + "\", certFile: " + tls +
           "/tls.crt, keyFile: " + tls + "/tls.key, clientCAFile: " + dir_.path() + "/client-ca.crt}\n"
           "secretStore: {type: file}\n";
  }

  // Every Secret request fails as while kube-apiserver cannot decrypt Secrets.
  void secretsUnreadable() {
    auto f = server_->control("POST", "/__test/faults", {{"status", 500}, {"count", 1000000}, {"path", "/secrets"}});
    ASSERT_TRUE(f.ok()) << f.error().toString();
  }

  bool healthy(KmsApiServerClient& c, std::chrono::milliseconds timeout = 20s) {
    return waitUntil([&] { return c.status().ok(); }, timeout);
  }

  int metricsPort_ = 0, healthPort_ = 0;
};

TEST_F(KmsE2E, ColdStartRoundTripsRestartsAndCertificateRotation) {
  makeClientCerts();
  kube::Resource namespaces{"", "v1", "namespaces", "Namespace", false};
  ASSERT_TRUE(admin_->create(namespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "cluster-kms"}}}}).ok());
  const int cryptoPort = freePort();

  // Control: with its credentials in a Secret, the operator cannot start while Secrets are
  // unreadable — the deadlock secretStore: file designs out.
  secretsUnreadable();
  {
    applyDeployRbac(*admin_, dir_.path());
    std::string cfg = dir_.write("config-secret.yaml", config(dir_.path() + "/state", freePort(), freePort(), freePort()));
    unsetenv("SOFTHSM2_CONF");
    Proc p = spawn({KEYGATE_BINARY, "operator", "--config", cfg, "--kubeconfig", server_->writeKubeconfig(kOperatorUser)},
                   dir_.path() + "/operator-secret.log");
    int rc = waitExit(p.pid, 30s);
    EXPECT_NE(rc, 0) << readAll(p.log);
    if (rc < 0) kill(p.pid, SIGKILL), waitExit(p.pid, 5s);
    EXPECT_NE(readAll(p.log).find("credentials: secret keygate-system/"), std::string::npos) << readAll(p.log);
  }

  // Cold start, plugin first (as the static pod comes up before anything else): unhealthy,
  // saying why, until the crypto API answers.
  Proc plugin = startPlugin(cryptoPort, "plugin.log");
  ASSERT_TRUE(waitUntil([&] { return ::access(socket().c_str(), F_OK) == 0; })) << readAll(plugin.log);
  struct stat st {};
  ASSERT_EQ(::stat(socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  KmsApiServerClient apiserver(socket());
  auto raw = apiserver.statusRaw();
  ASSERT_TRUE(raw.ok()) << raw.error().toString() << readAll(plugin.log);
  EXPECT_EQ(raw->version(), "v2");
  EXPECT_NE(raw->healthz(), "ok");
  EXPECT_EQ(httpGet(healthPort_, "/readyz").status, 503);

  // The operator, its credentials in files on the state volume: ready with Secrets unreadable.
  // (The control run above asked for Secrets; count from here.)
  ASSERT_TRUE(server_->control("DELETE", "/__test/requests").ok());
  std::string extra = operatorConfig(cryptoPort);
  bool webhooksRegistered = false;
  auto op = [&] {
    StartedOperator o;
    o.metricsPort = freePort(), o.healthPort = freePort(), o.webhookPort = freePort();
    std::string cfg = dir_.write("config.yaml", config(dir_.path() + "/state", o.metricsPort, o.healthPort, o.webhookPort) + extra);
    std::string crt = dir_.path() + "/state-tls/tls.crt";
    EXPECT_EQ(std::system(("base64 -w0 < " + crt + " > " + crt + ".b64").c_str()), 0);
    o.proc = spawn({KEYGATE_BINARY, "operator", "--config", cfg, "--kubeconfig", server_->writeKubeconfig(kOperatorUser),
                    "--pod-name", "keygate-0"},
                   dir_.path() + "/operator.log");
    const int health = o.healthPort;
    o.ready = waitUntil([&] { return httpGet(health, "/readyz").status == 200; });
    // Objects are created through the webhook only while the first operator runs.
    if (o.ready && !webhooksRegistered) registerWebhooks(*admin_, o.webhookPort, readAll(crt + ".b64"));
    webhooksRegistered = true;
    return o;
  };
  StartedOperator first = op();
  ASSERT_TRUE(first.ready) << readAll(first.proc.log);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/state/secrets/approval-signing-keys"))
      << readAll(first.proc.log);

  // The platform team's key for the cluster: two approvers, the plugin as its KeyUser.
  grant(*admin_, "cluster-kms", "alice", {"get", "create"});
  ASSERT_NO_FATAL_FAILURE(bindThroughWebhook(*admin_, "cluster-kms", "approvers", "KeyApprover", users({"bob", "carol"})));
  ASSERT_NO_FATAL_FAILURE(bindThroughWebhook(*admin_, "cluster-kms", "kube-apiserver", "KeyUser", users({"kms-plugin"})));
  auto key = admin_->create(kube::resources::encryptionKeys(), "cluster-kms",
                            keygateObject("EncryptionKey", "etcd-kek",
                                          {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"},
                                           {"activation", {{"requiredApprovals", 2}}},
                                           {"affectedSystems", {"kube-apiserver"}}}));
  ASSERT_TRUE(key.ok()) << key.error().toString();
  ASSERT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "cluster-kms", "etcd-kek");
    return k.ok() && getString(*k, "status.state") == "PreActive";
  })) << readAll(first.proc.log);
  // PreActive: still not healthy, and the reason names the state.
  EXPECT_TRUE(waitUntil([&] {
    auto r = apiserver.statusRaw();
    return r.ok() && r->healthz().find("PreActive") != std::string::npos;
  })) << apiserver.statusRaw()->healthz();

  ASSERT_NO_FATAL_FAILURE(requestAndApprove(*server_, "cluster-kms", "activate-etcd-kek", "etcd-kek", "alice", {"bob", "carol"}));
  ASSERT_TRUE(healthy(apiserver)) << apiserver.statusRaw()->healthz() << readAll(plugin.log);
  const std::string keyId = *apiserver.status();
  EXPECT_EQ(httpGet(healthPort_, "/readyz").status, 200);

  std::vector<std::pair<std::string, testing::KmsSealed>> sealed;
  for (int i = 0; i < 5; ++i) {
    std::string seed = KmsApiServerClient::seed();
    auto s = apiserver.encrypt(seed);
    ASSERT_TRUE(s.ok()) << s.error().toString();
    EXPECT_EQ(s->keyId, keyId);
    auto back = apiserver.decrypt(*s);
    ASSERT_TRUE(back.ok()) << back.error().toString();
    EXPECT_EQ(*back, seed);
    sealed.emplace_back(seed, *s);
  }
  auto m = httpGet(metricsPort_, "/metrics");
  EXPECT_NE(m.body.find("keygate_kms_healthy 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find(R"(keygate_kms_operations_latency_seconds_count{grpc_status_code="OK",method_name="Encrypt"} 5)"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("keygate_kms_key_id_info{key_id=\"" + keyId + "\",key_version=\"cluster-kms/etcd-kek@1\"} 1"),
            std::string::npos)
      << m.body;

  // The operator never asked for a Secret.
  auto log = server_->control("GET", "/__test/requests");
  ASSERT_TRUE(log.ok());
  for (const auto& r : *log) {
    if (r.value("user", "") == kOperatorUser) {
      EXPECT_EQ(r.value("path", "").find("/secrets"), std::string::npos) << r.dump();
    }
  }

  // The client certificate is re-read when it changes: a certificate nobody bound turns
  // health off (PERMISSION_DENIED), the renewed right one turns it back on — no restart.
  ASSERT_EQ(sh("cd " + dir_.path() + " && cp intruder.key plugin.key.new && cp intruder.crt plugin.crt.new && "
               "mv plugin.key.new plugin.key && mv plugin.crt.new plugin.crt"), 0);
  EXPECT_TRUE(waitUntil([&] {
    auto r = apiserver.statusRaw();
    return r.ok() && r->healthz().find("PERMISSION_DENIED") != std::string::npos;
  })) << apiserver.statusRaw()->healthz();
  ASSERT_EQ(sh("cd " + dir_.path() + " && cp kms-plugin.key plugin.key.new && cp kms-plugin.crt plugin.crt.new && "
               "mv plugin.key.new plugin.key && mv plugin.crt.new plugin.crt"), 0);
  EXPECT_TRUE(healthy(apiserver)) << apiserver.statusRaw()->healthz();

  // A full cold restart of both, plugin first, Secrets still unreadable: same key_id, and
  // every DEK seed sealed before decrypts.
  kill(plugin.pid, SIGTERM);
  EXPECT_EQ(waitExit(plugin.pid, 10s), 0) << readAll(plugin.log);
  EXPECT_NE(::access(socket().c_str(), F_OK), 0) << "the socket outlived the plugin";
  stopOperator(first);
  plugin = startPlugin(cryptoPort, "plugin-2.log");
  ASSERT_TRUE(waitUntil([&] { return ::access(socket().c_str(), F_OK) == 0; })) << readAll(plugin.log);
  StartedOperator second = op();
  ASSERT_TRUE(second.ready) << readAll(second.proc.log);
  KmsApiServerClient again(socket());
  ASSERT_TRUE(healthy(again)) << again.statusRaw()->healthz() << readAll(plugin.log);
  EXPECT_EQ(*again.status(), keyId);
  for (const auto& [seed, s] : sealed) {
    auto back = again.decrypt(s);
    ASSERT_TRUE(back.ok()) << back.error().toString();
    EXPECT_EQ(*back, seed);
  }
  kill(plugin.pid, SIGTERM);
  EXPECT_EQ(waitExit(plugin.pid, 10s), 0) << readAll(plugin.log);
  stopOperator(second);
}

}  // namespace
}  // namespace keygate

#include "cmd/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace keygate::cmd {
namespace {

using namespace std::chrono_literals;
using api::v1alpha1::Purpose;

const char* kGood = R"(# operator config as in api.md
backends:
- name: softhsm
  type: pkcs11
  module: /usr/lib/softhsm/libsofthsm2.so
  isolation: tokenPerNamespace
  maxIdleSessionsPerToken: 8
- name: kmip
  type: kmip
  endpoint: kmip.example.net:5696
  tls: {caFile: /etc/keygate/kmip/ca.pem, certFile: /etc/keygate/kmip/tls.crt, keyFile: /etc/keygate/kmip/tls.key}
policy:
  minApprovals: {default: 1, Sign: 2}
  preActiveTTL: {default: 168h, max: 720h}
  jurisdictions:
    EU: {backends: [softhsm]}
  segregationOfDuties: {requesterMayApprove: false, creatorMayApprove: false}
metrics: {bindAddress: ":9090"}
health: {bindAddress: "127.0.0.1:8081"}
webhook: {bindAddress: ":9443", certFile: /certs/tls.crt, keyFile: /certs/tls.key}
leaderElection: {enabled: true, namespace: keygate-system, leaseName: keygate-leader, leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 4s}
operatorNamespace: keygate-system
stateDir: /var/lib/keygate
workers: 4
)";

// The error lines for `yaml` (one string per line), or {} when it parses.
std::vector<std::string> errorsOf(const std::string& yaml) {
  auto r = parseOperatorConfig(yaml, "config.yaml");
  if (r.ok()) return {};
  std::vector<std::string> out;
  std::string msg = r.error().message;
  size_t pos = 0;
  while (pos <= msg.size()) {
    size_t nl = msg.find('\n', pos);
    out.push_back(msg.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

const std::string kBackend = "backends: [{name: softhsm, type: pkcs11, module: /m.so}]\n";

// The example from api.md parses into every field.
TEST(ConfigTest, GoodConfig) {
  auto r = parseOperatorConfig(kGood, "config.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const OperatorConfig& c = *r;
  ASSERT_EQ(c.backends.size(), 2u);
  EXPECT_EQ(c.backends[0].name, "softhsm");
  EXPECT_EQ(c.backends[0].type, "pkcs11");
  EXPECT_EQ(c.backends[0].settings["module"], "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(c.backends[0].settings["maxIdleSessionsPerToken"], 8);
  EXPECT_EQ(c.backends[0].settings["name"], "softhsm");
  EXPECT_EQ(c.backends[1].type, "kmip");
  EXPECT_EQ(c.backends[1].settings["endpoint"], "kmip.example.net:5696");
  EXPECT_EQ(c.backends[1].settings["tls"]["caFile"], "/etc/keygate/kmip/ca.pem");
  EXPECT_EQ(c.policy.minApprovalsFor(Purpose::kSign), 2);
  EXPECT_EQ(c.policy.minApprovalsFor(Purpose::kEncrypt), 1);
  EXPECT_EQ(c.policy.knownBackends, (std::vector<std::string>{"softhsm", "kmip"}));
  EXPECT_EQ(c.policy.jurisdictions.at("EU").backends, std::vector<std::string>{"softhsm"});
  EXPECT_EQ(c.metricsBindAddress, ":9090");
  EXPECT_EQ(c.healthBindAddress, "127.0.0.1:8081");
  EXPECT_EQ(c.webhook.bindAddress, ":9443");
  EXPECT_EQ(c.webhook.certFile, "/certs/tls.crt");
  EXPECT_EQ(c.webhook.keyFile, "/certs/tls.key");
  EXPECT_TRUE(c.leaderElection.enabled);
  EXPECT_EQ(c.leaderElection.namespace_, "keygate-system");
  EXPECT_EQ(c.leaderElection.leaseName, "keygate-leader");
  EXPECT_EQ(c.leaderElection.leaseDuration, 30s);
  EXPECT_EQ(c.leaderElection.renewDeadline, 20s);
  EXPECT_EQ(c.leaderElection.retryPeriod, 4s);
  EXPECT_EQ(c.operatorNamespace, "keygate-system");
  EXPECT_EQ(c.stateDir, "/var/lib/keygate");
  EXPECT_EQ(c.workers, 4);
}

TEST(ConfigTest, KubeApiRateLimit) {
  auto off = parseOperatorConfig(kBackend + "kubeAPI: {qps: -1}\n", "config.yaml");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(off->kubeApiQps, -1);
  auto fixed = parseOperatorConfig(kBackend + "kubeAPI:\n  qps: 200\n  burst: 400\n", "config.yaml");
  ASSERT_TRUE(fixed.ok()) << fixed.error().message;
  EXPECT_EQ(fixed->kubeApiQps, 200);
  EXPECT_EQ(fixed->kubeApiBurst, 400);
}

// A minimal config gets the documented defaults.
TEST(ConfigTest, Defaults) {
  auto r = parseOperatorConfig(kBackend + "operatorNamespace: keygate\n", "config.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->metricsBindAddress, ":9090");
  EXPECT_EQ(r->healthBindAddress, ":8081");
  EXPECT_EQ(r->webhook.bindAddress, ":9443");
  EXPECT_EQ(r->webhook.certFile, "/etc/keygate/webhook/tls.crt");
  EXPECT_EQ(r->webhook.keyFile, "/etc/keygate/webhook/tls.key");
  EXPECT_TRUE(r->leaderElection.enabled);
  EXPECT_EQ(r->leaderElection.namespace_, "keygate");  // follows operatorNamespace
  EXPECT_EQ(r->leaderElection.leaseName, "keygate-leader");
  EXPECT_EQ(r->leaderElection.leaseDuration, 15s);
  EXPECT_EQ(r->leaderElection.renewDeadline, 10s);
  EXPECT_EQ(r->leaderElection.retryPeriod, 2s);
  EXPECT_EQ(r->stateDir, "/var/lib/keygate");
  EXPECT_EQ(r->workers, 4);
  EXPECT_EQ(r->kubeApiQps, 0);  // auto
  EXPECT_EQ(r->kubeApiBurst, 0);
  EXPECT_EQ(r->policy.minApprovals.defaultValue, 1);
  EXPECT_EQ(r->policy.preActiveTTL.defaultValue, std::chrono::hours(168));
}

// secretStore: the Secret by default; files on the state volume for a cluster whose Secrets
// kube-apiserver encrypts through Keygate's KMS plugin.
TEST(ConfigTest, SecretStore) {
  auto d = parseOperatorConfig(kBackend, "config.yaml");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->secretStoreType, "kubernetes");
  EXPECT_EQ(d->secretStoreDir, "");
  auto f = parseOperatorConfig(kBackend + "stateDir: /data\nsecretStore: {type: file}\n", "config.yaml");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->secretStoreType, "file");
  EXPECT_EQ(f->secretStoreDir, "/data/secrets");
  auto g = parseOperatorConfig(kBackend + "secretStore: {type: file, dir: /var/lib/keygate/creds}\n", "config.yaml");
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->secretStoreDir, "/var/lib/keygate/creds");
  EXPECT_EQ(errorsOf(kBackend + "secretStore: {type: vault}\n"),
            std::vector<std::string>{"config.yaml:2: secretStore.type: unsupported value \"vault\": supported values: "
                                     "\"kubernetes\", \"file\""});
  EXPECT_EQ(errorsOf(kBackend + "secretStore: {dir: /x}\n"),
            std::vector<std::string>{"config.yaml:2: secretStore.dir: only for type: file"});
  EXPECT_EQ(errorsOf(kBackend + "secretStore: {type: file, dir: rel}\n").size(), 1u);
}

// Webhook caller authentication (security finding 1): off by default, a CA file and optional
// client certificate names; names without a CA are an error (they could never be checked).
TEST(ConfigTest, WebhookClientAuth) {
  auto d = parseOperatorConfig(kBackend, "config.yaml");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->webhook.clientCAFile, "");
  EXPECT_TRUE(d->webhook.allowedClientNames.empty());
  auto c = parseOperatorConfig(
      kBackend + "webhook: {clientCAFile: /etc/ca.crt, allowedClientNames: [kube-apiserver, apiserver-2]}\n",
      "config.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->webhook.clientCAFile, "/etc/ca.crt");
  EXPECT_EQ(c->webhook.allowedClientNames, (std::vector<std::string>{"kube-apiserver", "apiserver-2"}));
  EXPECT_EQ(errorsOf(kBackend + "webhook: {allowedClientNames: [kube-apiserver]}\n"),
            std::vector<std::string>{"config.yaml:2: webhook.allowedClientNames: needs webhook.clientCAFile (names "
                                     "are checked on client certificates)"});
  EXPECT_EQ(errorsOf(kBackend + "webhook: {clientCAFile: /ca, allowedClientNames: kube-apiserver}\n"),
            std::vector<std::string>{"config.yaml:2: webhook.allowedClientNames: expected a list of strings, got a scalar"});
  EXPECT_EQ(errorsOf(kBackend + "webhook: {clientCAFile: /ca, allowedClientNames: ['', 7]}\n"),
            (std::vector<std::string>{"config.yaml:2: webhook.allowedClientNames[0]: must not be empty",
                                      "config.yaml:2: webhook.allowedClientNames[1]: expected a string, got integer 7 "
                                      "(quote it: \"7\")"}));
}

// The durable audit file: defaults under stateDir, and each bad value named.
TEST(ConfigTest, AuditFile) {
  auto d = parseOperatorConfig(kBackend + "stateDir: /data\n", "config.yaml");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->auditFile, "/data/audit/audit.log");
  auto c = parseOperatorConfig(kBackend + "audit: {file: /var/log/k.log, maxFileBytes: 8192, maxFiles: 3}\n", "config.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->auditFile, "/var/log/k.log");
  EXPECT_EQ(c->auditMaxFileBytes, 8192);
  EXPECT_EQ(c->auditMaxFiles, 3);
  EXPECT_EQ(errorsOf(kBackend + "audit: {file: relative.log}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "audit: {maxFileBytes: 10}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "audit: {maxFiles: 0}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "audit: {maxFiles: lots}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "audit: {fiel: /x}\n"),
            std::vector<std::string>{"config.yaml:2: audit.fiel: unknown field (known: file, maxFileBytes, maxFiles)"});
  EXPECT_EQ(errorsOf(kBackend + "audit: /x\n").size(), 1u);
}

TEST(ConfigTest, BackendProbeInterval) {
  auto d = parseOperatorConfig(kBackend, "config.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->backendProbeInterval, std::chrono::seconds(30));
  auto c = parseOperatorConfig(kBackend + "health: {backendProbeInterval: 5s}\n", "config.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->backendProbeInterval, std::chrono::seconds(5));
  EXPECT_EQ(errorsOf(kBackend + "health: {backendProbeInterval: 100ms}\n"),
            std::vector<std::string>{"config.yaml:2: health.backendProbeInterval: must be between 1s and 10m"});
}

TEST(ConfigTest, StraySweep) {
  auto d = parseOperatorConfig(kBackend, "config.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->straySweepInterval, std::chrono::hours(1));
  EXPECT_EQ(d->strayGracePeriod, std::chrono::hours(24));
  auto c = parseOperatorConfig(kBackend + "health: {straySweepInterval: 0, strayGracePeriod: 2h}\n", "config.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->straySweepInterval, Duration::zero());
  EXPECT_EQ(c->strayGracePeriod, std::chrono::hours(2));
  EXPECT_EQ(errorsOf(kBackend + "health: {straySweepInterval: 10s}\n"),
            std::vector<std::string>{"config.yaml:2: health.straySweepInterval: must be 0 (only at start) or between 1m and 168h"});
  EXPECT_EQ(errorsOf(kBackend + "health: {strayGracePeriod: 0}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "health: {strayGracePeriod: 800h}\n"),
            std::vector<std::string>{"config.yaml:2: health.strayGracePeriod: must be between 1s and 720h"});
}

TEST(ConfigTest, FirstDescribeRateLimit) {
  auto d = parseOperatorConfig(kBackend, "config.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->firstDescribeQps, 50);
  EXPECT_EQ(d->firstDescribeBurst, 100);
  auto c = parseOperatorConfig(kBackend + "health: {firstDescribeRateLimit: {qps: 0, burst: 7}}\n", "config.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->firstDescribeQps, 0);
  EXPECT_EQ(c->firstDescribeBurst, 7);
  EXPECT_EQ(errorsOf(kBackend + "health: {firstDescribeRateLimit: 5}\n"),
            std::vector<std::string>{"config.yaml:2: health.firstDescribeRateLimit: must be a map with qps and burst"});
  EXPECT_EQ(errorsOf(kBackend + "health: {firstDescribeRateLimit: {qps: -1}}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "health: {firstDescribeRateLimit: {burst: 0}}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "health: {firstDescribeRateLimit: {rate: 5}}\n").size(), 1u);
}

TEST(ConfigTest, DriftScanInterval) {
  auto d = parseOperatorConfig(kBackend, "config.yaml");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->driftScanInterval, std::chrono::hours(1));
  for (const std::string off : {"0", "\"0\"", "0s"}) {
    auto c = parseOperatorConfig(kBackend + "health: {driftScanInterval: " + off + "}\n", "config.yaml");
    ASSERT_TRUE(c.ok()) << off << ": " << c.error().message;
    EXPECT_EQ(c->driftScanInterval, Duration::zero()) << off;
  }
  auto c = parseOperatorConfig(kBackend + "health: {driftScanInterval: 15m}\n", "config.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->driftScanInterval, std::chrono::minutes(15));
  EXPECT_EQ(errorsOf(kBackend + "health: {driftScanInterval: 5s}\n"),
            std::vector<std::string>{"config.yaml:2: health.driftScanInterval: must be 0 (off) or between 10s and 168h"});
  EXPECT_EQ(errorsOf(kBackend + "health: {driftScanInterval: 200h}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "health: {driftScanInterval: [1h]}\n").size(), 1u);
  EXPECT_EQ(errorsOf(kBackend + "health: {driftScanInterval: -1h}\n").size(), 1u);
}

// Every bad field gives exactly one `file:line: field: reason` line.
TEST(ConfigTest, BadFields) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "config.yaml:1: backends: Required value: at least one key backend (the file is empty)"},
      {"- a\n", "config.yaml:1: config: expected a mapping, got a list"},
      {"workers: 2\n", "config.yaml:1: backends: Required value: at least one key backend"},
      {"backends: []\n", "config.yaml:1: backends: Required value: at least one key backend"},
      {"backends: {name: x}\n", "config.yaml:1: backends: expected a list, got a mapping"},
      {"backends:\n- name: Soft_HSM\n  type: pkcs11\n  module: /m.so\n",
       "config.yaml:2: backends[0].name: invalid name \"Soft_HSM\": must be a lowercase RFC 1123 label (a-z, 0-9, '-')"},
      {"backends:\n- type: pkcs11\n  module: /m.so\n", "config.yaml:2: backends[0].name: Required value"},
      {"backends:\n- name: a\n  module: /m.so\n", "config.yaml:2: backends[0].type: Required value: pkcs11 or kmip"},
      {"backends:\n- {name: a, type: aws, module: /m.so}\n",
       "config.yaml:2: backends[0].type: unsupported value \"aws\": supported values: \"pkcs11\", \"kmip\""},
      {"backends:\n- {name: a, type: pkcs11}\n",
       "config.yaml:2: backends[0].module: Required value: the path of the PKCS#11 module (e.g. "
       "/usr/lib/softhsm/libsofthsm2.so)"},
      {"backends:\n- {name: a, type: pkcs11, module: ''}\n", "config.yaml:2: backends[0].module: must not be empty"},
      {"backends:\n- {name: a, type: pkcs11, module: /m.so, isolation: shared}\n",
       "config.yaml:2: backends[0].isolation: unsupported value \"shared\": supported values: \"tokenPerNamespace\""},
      {"backends:\n- {name: a, type: pkcs11, module: /m.so, maxIdleSessionsPerToken: 0}\n",
       "config.yaml:2: backends[0].maxIdleSessionsPerToken: must be between 1 and 256, got 0"},
      {"backends:\n- {name: a, type: pkcs11, module: /m.so, modul: /x.so}\n",
       "config.yaml:2: backends[0].modul: unknown field (known: name, type, module, isolation, maxIdleSessionsPerToken)"},
      {"backends:\n- {name: a, type: pkcs11, module: /m.so}\n- {name: a, type: pkcs11, module: /n.so}\n",
       "config.yaml:3: backends[1].name: duplicate backend name \"a\" (first defined on line 2)"},
      {"backends:\n- {name: k, type: kmip, tls: {caFile: /ca.pem}}\n",
       "config.yaml:2: backends[0].endpoint: Required value: host:port of the KMIP server"},
      {"backends:\n- {name: k, type: kmip, endpoint: kmip.example.net, tls: {caFile: /ca.pem}}\n",
       "config.yaml:2: backends[0].endpoint: expected host:port (e.g. kmip.example.net:5696), got \"kmip.example.net\""},
      {"backends:\n- {name: k, type: kmip, endpoint: 'h:5696'}\n",
       "config.yaml:2: backends[0].tls: Required value: caFile (and certFile/keyFile for client certificates)"},
      {"backends:\n- {name: k, type: kmip, endpoint: 'h:5696', tls: {certFile: /c.pem, keyFile: /k.pem}}\n",
       "config.yaml:2: backends[0].tls.caFile: Required value: the CA bundle that signed the KMIP server's certificate"},
      {kBackend + "metrics: {bindAddress: '9090'}\n",
       "config.yaml:2: metrics.bindAddress: invalid bind address \"9090\": missing port (want [host]:port, e.g. "
       "\":9090\" or \"127.0.0.1:9090\")"},
      {kBackend + "metrics: {bindAdress: ':9090'}\n",
       "config.yaml:2: metrics.bindAdress: unknown field (known: bindAddress)"},
      {kBackend + "metrics: ':9090'\n", "config.yaml:2: metrics: expected a mapping, got a scalar"},
      {kBackend + "health: {bindAddress: ':9090'}\n",
       "config.yaml:2: health.bindAddress: port 9090 is also used by metrics.bindAddress (default)"},
      {kBackend + "metrics: {bindAddress: '127.0.0.1:7000'}\nwebhook: {bindAddress: ':7000'}\n",
       "config.yaml:3: webhook.bindAddress: port 7000 is also used by metrics.bindAddress"},
      {kBackend + "webhook: {bindAddress: ':70000'}\n",
       "config.yaml:2: webhook.bindAddress: invalid bind address \":70000\": port must be a number from 0 to 65535 "
       "(want [host]:port, e.g. \":9090\" or \"127.0.0.1:9090\")"},
      {kBackend + "webhook: {certFile: ~}\n", "config.yaml:2: webhook.certFile: expected a string, got null"},
      {kBackend + "webhook: {keyFile: [a]}\n", "config.yaml:2: webhook.keyFile: expected a string, got a list"},
      {"backends:\n- {name: k, type: kmip, endpoint: 'h:5696', tls: {caFile: /ca.pem, certFile: /c.pem}}\n",
       "config.yaml:2: backends[0].tls.keyFile: Required value: certFile and keyFile go together"},
      {kBackend + "leaderElection: {enabled: 'true'}\n",
       "config.yaml:2: leaderElection.enabled: expected a boolean, got string \"true\" (remove the quotes)"},
      {kBackend + "leaderElection: {enabled: maybe}\n",
       "config.yaml:2: leaderElection.enabled: expected a boolean (true or false), got maybe"},
      {kBackend + "leaderElection: {namespace: Keygate}\n",
       "config.yaml:2: leaderElection.namespace: invalid namespace \"Keygate\": must be a lowercase RFC 1123 label"},
      {kBackend + "leaderElection: {leaseName: 'lease_1'}\n",
       "config.yaml:2: leaderElection.leaseName: invalid name \"lease_1\": must be a lowercase RFC 1123 subdomain"},
      {kBackend + "leaderElection: {leaseDuration: 15}\n",
       "config.yaml:2: leaderElection.leaseDuration: invalid duration \"15\" (use Go syntax such as 15s, 2m, 1h30m)"},
      {kBackend + "leaderElection: {retryPeriod: 0s}\n", "config.yaml:2: leaderElection.retryPeriod: must be positive"},
      {kBackend + "leaderElection: {leaseDuration: 10s}\n",
       "config.yaml:2: leaderElection.renewDeadline: must be less than leaseDuration (10s), got 10s"},
      {kBackend + "leaderElection: {retryPeriod: 9s}\n",
       "config.yaml:2: leaderElection.retryPeriod: must be less than renewDeadline / 1.2 (10s / 1.2), got 9s"},
      {kBackend + "leaderElection: {lease: x}\n",
       "config.yaml:2: leaderElection.lease: unknown field (known: enabled, namespace, leaseName, leaseDuration, "
       "renewDeadline, retryPeriod)"},
      {kBackend + "operatorNamespace: kube_system\n",
       "config.yaml:2: operatorNamespace: invalid namespace \"kube_system\": must be a lowercase RFC 1123 label"},
      {kBackend + "stateDir: .keygate\n", "config.yaml:2: stateDir: must be an absolute path, got \".keygate\""},
      {kBackend + "workers: 0\n", "config.yaml:2: workers: must be between 1 and 64, got 0"},
      {kBackend + "workers: 100\n", "config.yaml:2: workers: must be between 1 and 64, got 100"},
      {kBackend + "workers: two\n", "config.yaml:2: workers: expected an integer, got two"},
      {kBackend + "workers: 2.5\n", "config.yaml:2: workers: expected an integer, got 2.5"},
      {kBackend + "worker: 2\n",
       "config.yaml:2: worker: unknown field (known: backends, policy, metrics, health, byok, webhook, dataPlane, leaderElection, "
       "operatorNamespace, stateDir, secretStore, workers, audit, kubeAPI)"},
      {kBackend + "kubeAPI: {qps: -2}\n", "config.yaml:2: kubeAPI.qps: must be between -1 and 100000, got -2"},
      {kBackend + "kubeAPI: {qps: \"20\"}\n", "config.yaml:2: kubeAPI.qps: expected an integer, got string \"20\" (remove the quotes)"},
      {kBackend + "kubeAPI: {burst: 0}\n", "config.yaml:2: kubeAPI.burst: must be between 1 and 100000, got 0"},
      {kBackend + "kubeAPI: {QPS: 5}\n", "config.yaml:2: kubeAPI.QPS: unknown field (known: qps, burst)"},
      {kBackend + "workers: 2\nworkers: 3\n", "config.yaml:3: workers: duplicate field"},
      // policy: reported by the api policy parser, same format.
      {kBackend + "policy:\n  minApprovals: {default: 0}\n",
       "config.yaml:3: policy.minApprovals.default: must be between 1 and 10, got 0"},
      {kBackend + "policy:\n  jurisdictions:\n    EU: {backends: [hsm2]}\n",
       "config.yaml:4: policy.jurisdictions.EU.backends[0]: unknown backend \"hsm2\" (not in backends:)"},
      {"backends: [\n", "config.yaml:2: syntax error: end of sequence flow not found"},
  };
  for (const auto& c : cases) {
    auto errors = errorsOf(c.yaml);
    EXPECT_EQ(errors, std::vector<std::string>{c.error}) << c.yaml;
  }
}

// YAML 1.1 typing: unquoted yes/on/0123 are not strings; quoted numbers/booleans are not numbers/booleans.
TEST(ConfigTest, ScalarTyping) {
  EXPECT_EQ(errorsOf(kBackend + "operatorNamespace: on\n"),
            std::vector<std::string>{
                "config.yaml:2: operatorNamespace: expected a string, got boolean on (quote it: \"on\")"});
  EXPECT_EQ(errorsOf(kBackend + "leaderElection: {leaseName: yes}\n"),
            std::vector<std::string>{
                "config.yaml:2: leaderElection.leaseName: expected a string, got boolean yes (quote it: \"yes\")"});
  EXPECT_EQ(errorsOf(kBackend + "operatorNamespace: 0123\n"),
            std::vector<std::string>{
                "config.yaml:2: operatorNamespace: expected a string, got octal integer 0123 (quote it: \"0123\")"});
  EXPECT_EQ(errorsOf(kBackend + "workers: 0123\n"),
            std::vector<std::string>{
                "config.yaml:2: workers: expected a decimal integer, got 0123 (a leading zero reads as octal in YAML)"});
  EXPECT_EQ(errorsOf(kBackend + "workers: \"4\"\n"),
            std::vector<std::string>{"config.yaml:2: workers: expected an integer, got string \"4\" (remove the quotes)"});
  // Quoted, the same values are fine strings; unquoted yes/on are fine booleans.
  auto ok = parseOperatorConfig(kBackend + "operatorNamespace: \"0123\"\nleaderElection: {enabled: on, leaseName: 'yes'}\n",
                                "config.yaml");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->operatorNamespace, "0123");
  EXPECT_TRUE(ok->leaderElection.enabled);
  EXPECT_EQ(ok->leaderElection.leaseName, "yes");
  auto off = parseOperatorConfig(kBackend + "leaderElection: {enabled: off}\n", "config.yaml");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->leaderElection.enabled);
}

// All problems are reported at once, one per line, in file order.
TEST(ConfigTest, AllProblemsInFileOrder) {
  const std::string yaml =
      "workers: 0\n"
      "backends:\n"
      "- {name: a, type: pkcs11}\n"
      "policy:\n"
      "  minApprovals: {default: 11}\n"
      "stateDir: relative\n"
      "metrics: {bindAddress: nope}\n";
  EXPECT_EQ(errorsOf(yaml),
            (std::vector<std::string>{
                "config.yaml:1: workers: must be between 1 and 64, got 0",
                "config.yaml:3: backends[0].module: Required value: the path of the PKCS#11 module (e.g. "
                "/usr/lib/softhsm/libsofthsm2.so)",
                "config.yaml:5: policy.minApprovals.default: must be between 1 and 10, got 11",
                "config.yaml:6: stateDir: must be an absolute path, got \"relative\"",
                "config.yaml:7: metrics.bindAddress: invalid bind address \"nope\": missing port (want [host]:port, "
                "e.g. \":9090\" or \"127.0.0.1:9090\")",
            }));
}

// loadOperatorConfig names the file in its errors, also when it cannot be read.
TEST(ConfigTest, LoadFromFile) {
  auto missing = loadOperatorConfig("/nonexistent/keygate.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "/nonexistent/keygate.yaml: cannot read: No such file or directory");

  auto path = std::filesystem::temp_directory_path() / ("keygate-config-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << kBackend << "workers: -1\n";
  auto bad = loadOperatorConfig(path.string());
  std::filesystem::remove(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, path.string() + ":2: workers: must be between 1 and 64, got -1");
}

// The documentation example (docs/configuration.md) is a valid config.
TEST(ConfigTest, DocumentedExampleParses) {
  std::ifstream in(std::string(KEYGATE_TEST_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md";
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto begin = text.find("```yaml\n");
  ASSERT_NE(begin, std::string::npos);
  auto end = text.find("```", begin + 8);
  auto r = parseOperatorConfig(text.substr(begin + 8, end - begin - 8), "configuration.md");
  EXPECT_TRUE(r.ok()) << r.error().message;
}

}  // namespace
}  // namespace keygate::cmd

namespace keygate::cmd {
namespace {

// dataPlane: the crypto API (off by default), its limits and its clashes.
TEST(ConfigTest, DataPlane) {
  const std::string backend = "backends: [{name: softhsm, type: pkcs11, module: /m.so}]\n";
  auto off = parseOperatorConfig(backend, "config.yaml");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_EQ(off->dataPlane.bindAddress, "");
  EXPECT_EQ(off->dataPlane.audience, "keygate.dev");
  auto on = parseOperatorConfig(backend +
                                    "dataPlane:\n"
                                    "  bindAddress: \":8443\"\n"
                                    "  certFile: /c/tls.crt\n"
                                    "  keyFile: /c/tls.key\n"
                                    "  clientCAFile: /c/ca.crt\n"
                                    "  tokenCacheTTL: 10s\n"
                                    "  maxRequestBytes: 131072\n"
                                    "  tenantRateLimit: {qps: 500, burst: 1000}\n"
                                    "  serveOn: all\n"
                                    "  usageAuditInterval: 5m\n",
                                "config.yaml");
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_EQ(on->dataPlane.bindAddress, ":8443");
  EXPECT_EQ(on->dataPlane.clientCAFile, "/c/ca.crt");
  EXPECT_EQ(on->dataPlane.tokenCacheTTL, std::chrono::seconds(10));
  EXPECT_EQ(on->dataPlane.maxRequestBytes, 131072);
  EXPECT_EQ(on->dataPlane.tenantQps, 500);
  EXPECT_EQ(on->dataPlane.tenantBurst, 1000);
  EXPECT_EQ(on->dataPlane.serveOn, "all");
  EXPECT_EQ(on->dataPlane.usageAuditInterval, std::chrono::minutes(5));
  struct Case {
    std::string yaml, error;
  };
  for (const auto& c : std::vector<Case>{
           {"dataPlane: {bindAddress: \":9443\"}\n", "dataPlane.bindAddress: port 9443 is also used by webhook.bindAddress (default)"},
           {"dataPlane: {serveOn: one}\n", "dataPlane.serveOn: unsupported value \"one\": supported values: \"leader\", \"all\""},
           {"dataPlane: {tokenCacheTTL: 1h}\n", "dataPlane.tokenCacheTTL: must be between 1s and 10m"},
           {"dataPlane: {maxRequestBytes: 10}\n", "dataPlane.maxRequestBytes: must be between 1024 and 1048576, got 10"},
           {"dataPlane: {tenantRateLimit: {rate: 5}}\n", "dataPlane.tenantRateLimit.rate: unknown field"},
           {"dataPlane: {port: 5}\n", "dataPlane.port: unknown field"}}) {
    auto r = parseOperatorConfig(backend + c.yaml, "config.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos) << c.yaml << "\n" << r.error().message;
  }
}

}  // namespace
}  // namespace keygate::cmd

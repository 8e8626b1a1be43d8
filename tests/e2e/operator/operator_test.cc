// `keygate operator` as a process against the test API server and SoftHSM2: reconciles,
// serves /metrics (promtool-clean) and /readyz, holds the Lease, and on SIGTERM drains,
// releases the Lease and exits 0. Bad config, unreachable API server and a taken port are
// clean errors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "api/v1alpha1/manifest.h"
#include "common/cpu_affinity.h"
#include "common/json.h"
#include "common/time.h"
#include "kube/kubeconfig.h"
#include "kube/resource.h"
#include "support/http_get.h"
#include "support/free_port.h"
#include "support/temp_dir.h"
#include "support/test_api_server.h"
#include "support/approval_setup.h"
#include "support/webhook_registration.h"
#include "e2e/operator/operator_process.h"

namespace keygate {
namespace {

using namespace std::chrono_literals;
using metrics::testing::httpGet;

using testing::freePort;
using namespace e2e;


// The whole life of the process: ready after sync, reconciles, metrics, lease, clean stop.
TEST_F(OperatorE2E, RunsReconcilesServesMetricsAndStopsCleanly) {
  int mport = freePort(), hport = freePort(), wport = freePort();
  std::string cfg = dir_.write("config.yaml", config(dir_.path() + "/state", mport, hport, wport));
  applyDeployRbac(*admin_, dir_.path());
  ASSERT_TRUE(server_->control("DELETE", "/__test/requests").ok());
  std::string kubeconfig = server_->writeKubeconfig(kOperatorUser);
  unsetenv("SOFTHSM2_CONF");
  // With two CPUs or more, one is set aside for key creation (--hsm-cpus).
  auto cpus = allowedCpus();
  ASSERT_TRUE(cpus.ok());
  const std::string hsmCpu = cpus->size() >= 2 ? std::to_string(cpus->back()) : "";
  std::vector<std::string> args{KEYGATE_BINARY, "operator",  "--config",   cfg,   "--kubeconfig",
                                kubeconfig,     "--pod-name", "keygate-0", "--log-format", "json"};
  if (!hsmCpu.empty()) args.insert(args.end(), {"--hsm-cpus", hsmCpu});
  Proc op = spawn(args, dir_.path() + "/operator.log");
  ASSERT_TRUE(waitUntil([&] { return httpGet(hport, "/readyz").status == 200; })) << readAll(op.log);
  EXPECT_EQ(httpGet(hport, "/healthz").status, 200);

  Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "EncryptionKey"},
              {"metadata", {{"name", "k1"}}},
              {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}};
  ASSERT_TRUE(admin_->create(kube::resources::encryptionKeys(), "tenant-a", key).ok());
  key["metadata"]["name"] = "k2";
  ASSERT_TRUE(admin_->create(kube::resources::encryptionKeys(), "tenant-a", key).ok());
  EXPECT_TRUE(waitUntil([&] {
    int n = 0;
    for (const char* name : {"k1", "k2"}) {
      auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", name);
      n += k.ok() && getString(*k, "status.state") == "PreActive";
    }
    return n == 2;
  })) << readAll(op.log);

  // The token's creator thread is alive (it made both keys just now) and runs on the reserved CPU only.
  if (!hsmCpu.empty()) {
    std::string creatorCpus;
    for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(op.pid) + "/task")) {
      if (readAll((t.path() / "comm").string()) != "kg-hsm-create\n") continue;
      std::ifstream status(t.path() / "status");
      for (std::string line; std::getline(status, line);)
        if (line.rfind("Cpus_allowed_list:", 0) == 0) creatorCpus = line.substr(line.find_last_of(" \t") + 1);
    }
    EXPECT_EQ(creatorCpus, hsmCpu) << readAll(op.log);
    EXPECT_NE(readAll(op.log).find("CPUs reserved for HSM object creation"), std::string::npos);
  }

  // /metrics: the cache-driven gauge and promtool's verdict on the whole exposition.
  metrics::testing::HttpResponse m;
  EXPECT_TRUE(waitUntil([&] {
    m = httpGet(mport, "/metrics");
    return m.body.find(R"(keygate_keys{backend="softhsm",namespace="tenant-a",purpose="Encrypt",state="PreActive"} 2)") !=
           std::string::npos;
  })) << m.body;
  EXPECT_NE(m.body.find("keygate_leader 1"), std::string::npos);
  EXPECT_NE(m.body.find("keygate_reconcile_total{controller=\"encryptionkey\""), std::string::npos);
  std::string metricsFile = dir_.write("metrics.txt", m.body);
  EXPECT_EQ(std::system(("promtool check metrics < " + metricsFile + " > " + dir_.path() + "/promtool.out 2>&1").c_str()), 0)
      << readAll(dir_.path() + "/promtool.out");

  auto lease = admin_->get(kube::resources::leases(), "keygate-system", "keygate-leader");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(getString(*lease, "spec.holderIdentity"), "keygate-0");
  // JSON audit lines on stdout, never PINs.
  std::string log = readAll(op.log);
  EXPECT_NE(log.find(R"("event":"KeyGenerated")"), std::string::npos);
  EXPECT_EQ(log.find("pin\":"), std::string::npos);

  auto start = std::chrono::steady_clock::now();
  kill(op.pid, SIGTERM);
  EXPECT_EQ(waitExit(op.pid, 15s), 0) << readAll(op.log);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  lease = admin_->get(kube::resources::leases(), "keygate-system", "keygate-leader");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(getString(*lease, "spec.holderIdentity"), "") << lease->dump();

  // Every API call the operator made was allowed by deploy/'s RBAC (none answered 403).
  auto calls = server_->control("GET", "/__test/requests");
  ASSERT_TRUE(calls.ok());
  int byOperator = 0, succeeded = 0;
  for (const auto& c : *calls) {
    if (getString(c, "user") != kOperatorUser) continue;
    ++byOperator;
    succeeded += getInt(c, "code") >= 200 && getInt(c, "code") < 300;
    EXPECT_NE(getInt(c, "code"), 403) << getString(c, "verb") << " " << getString(c, "path");
  }
  EXPECT_GT(byOperator, 5);
  EXPECT_GT(succeeded, 5);
}

// Bad config, an unreachable API server and a taken port: clear messages, non-zero exits.
TEST_F(OperatorE2E, StartupErrorsAreClean) {
  int mport = freePort(), hport = freePort(), wport = freePort();
  std::string kubeconfig = server_->writeKubeconfig("admin");
  auto runOnce = [&](const std::vector<std::string>& args, const std::string& name) {
    Proc p = spawn(args, dir_.path() + "/" + name + ".log");
    int rc = waitExit(p.pid, 20s);
    if (rc == -1) kill(p.pid, SIGKILL);
    return std::make_pair(rc, readAll(p.log));
  };
  std::string bad = dir_.write("bad.yaml", "backends:\n- name: softhsm\n  type: pkcs11\nworkers: yes\n");
  auto [rc1, out1] = runOnce({KEYGATE_BINARY, "operator", "--config", bad, "--kubeconfig", kubeconfig}, "bad");
  EXPECT_NE(rc1, 0);
  EXPECT_NE(out1.find("bad.yaml:"), std::string::npos) << out1;

  std::string good = dir_.write("good.yaml", config(dir_.path() + "/state", mport, hport, wport));
  std::string deadKube = dir_.write("dead-kubeconfig",
                                    "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster: {server: "
                                    "\"https://127.0.0.1:" + std::to_string(freePort()) +
                                        "\", insecure-skip-tls-verify: true}\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                                        "users:\n- name: u\n  user: {token: t}\n");
  auto [rc2, out2] = runOnce({KEYGATE_BINARY, "operator", "--config", good, "--kubeconfig", deadKube}, "dead");
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("cannot use the API server"), std::string::npos) << out2;

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(mport));
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  listen(listener, 1);
  auto [rc3, out3] = runOnce({KEYGATE_BINARY, "operator", "--config", good, "--kubeconfig", kubeconfig}, "port");
  close(listener);
  EXPECT_NE(rc3, 0);
  EXPECT_NE(out3.find("address already in use"), std::string::npos) << out3;

  std::string badModule = dir_.write("module.yaml", config(dir_.path() + "/state2", freePort(), freePort(), freePort()));
  {
    std::string t = readAll(badModule);
    t.replace(t.find(KEYGATE_SOFTHSM2_MODULE), std::string(KEYGATE_SOFTHSM2_MODULE).size(), "/nonexistent/libpkcs11.so");
    dir_.write("module.yaml", t);
  }
  auto [rc4, out4] = runOnce({KEYGATE_BINARY, "operator", "--config", badModule, "--kubeconfig", kubeconfig}, "module");
  EXPECT_NE(rc4, 0);
  EXPECT_NE(out4.find("/nonexistent/libpkcs11.so"), std::string::npos) << out4;

  // --hsm-cpus: a list that does not parse, and one that leaves no CPU for the other threads.
  auto [rc5, out5] = runOnce({KEYGATE_BINARY, "operator", "--config", good, "--kubeconfig", kubeconfig, "--hsm-cpus", "1-x"},
                             "hsm-cpus-parse");
  EXPECT_EQ(rc5, 2);
  EXPECT_NE(out5.find("--hsm-cpus: CPU list \"1-x\": \"x\" is not a CPU number"), std::string::npos) << out5;
  auto cpus = allowedCpus();
  ASSERT_TRUE(cpus.ok());
  auto [rc6, out6] = runOnce({KEYGATE_BINARY, "operator", "--config", good, "--kubeconfig", kubeconfig, "--hsm-cpus",
                              formatCpuList(*cpus)},
                             "hsm-cpus-all");
  EXPECT_EQ(rc6, 2);
  EXPECT_NE(out6.find("leaves none for the other threads"), std::string::npos) << out6;
}

}  // namespace
}  // namespace keygate

namespace keygate {
namespace {


// The product path of issue 4 through the real binary: the operator serves the admission
// webhook (registered in the test API server with its CA), materialises the approvers'
// RBAC from a KeyRoleBinding, counts only signed approvals, and activates the key in SoftHSM2.
TEST_F(OperatorE2E, ApprovalFlowThroughTheOperatorBinary) {
  applyDeployRbac(*admin_, dir_.path());
  int mport = freePort(), hport = freePort(), wport = freePort();
  std::string cfg = dir_.write("config.yaml", config(dir_.path() + "/state", mport, hport, wport));
  std::string crt = readAll(dir_.path() + "/state-tls/tls.crt");
  std::string kubeconfig = server_->writeKubeconfig(kOperatorUser);
  unsetenv("SOFTHSM2_CONF");
  Proc op = spawn({KEYGATE_BINARY, "operator", "--config", cfg, "--kubeconfig", kubeconfig, "--pod-name", "keygate-0"},
                  dir_.path() + "/operator.log");
  ASSERT_TRUE(waitUntil([&] { return httpGet(hport, "/readyz").status == 200; })) << readAll(op.log);

  // Register the operator's webhook the way deploy/webhooks.yaml does, with a URL.
  std::string tmp = dir_.write("crt.pem", crt);
  ASSERT_EQ(std::system(("base64 -w0 < " + tmp + " > " + tmp + ".b64").c_str()), 0);
  registerWebhooks(*admin_, wport, readAll(tmp + ".b64"));
  // alice may create requests; bob and carol get their rights only from the KeyRoleBinding.
  grant(*admin_, "tenant-a", "alice", {"get", "create"});
  Json krb = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyRoleBinding"},
              {"metadata", {{"name", "approvers"}}},
              {"spec",
               {{"role", "KeyApprover"},
                {"subjects", {{{"kind", "User"}, {"name", "bob"}}, {{"kind", "User"}, {"name", "carol"}}}},
                {"reviewBy", "2099-12-31"}}}};
  auto krbCreated = createThroughWebhook(*admin_, kube::resources::keyRoleBindings(), "tenant-a", krb);
  ASSERT_TRUE(krbCreated.ok()) << krbCreated.error().toString() << readAll(op.log);
  EXPECT_TRUE(waitUntil([&] { return admin_->get(kube::resources::roleBindings(), "tenant-a", "keygate-approvers").ok(); }))
      << readAll(op.log);

  Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "EncryptionKey"},
              {"metadata", {{"name", "signer"}}},
              {"spec", {{"purpose", "Sign"}, {"algorithm", "EC-P256"}, {"backend", "softhsm"},
                        {"activation", {{"requiredApprovals", 2}}}, {"affectedSystems", {"audit-log"}}}}};
  ASSERT_TRUE(server_->control("DELETE", "/__test/requests").ok());
  auto born = admin_->create(kube::resources::encryptionKeys(), "tenant-a", key);
  ASSERT_TRUE(born.ok()) << born.error().toString();
  // Born with the operator's finalizer (the mutating webhook), so the operator writes the new
  // key once: its first status. No finalizer patch, no second round of admission reviews.
  EXPECT_EQ((*born)["metadata"]["finalizers"], Json({"keygate.dev/backend-cleanup"})) << born->dump();
  ASSERT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "signer");
    return k.ok() && getString(*k, "status.state") == "PreActive";
  })) << readAll(op.log);
  {
    auto calls = server_->control("GET", "/__test/requests");
    ASSERT_TRUE(calls.ok());
    // Successful writes (a reconcile on a cache that has not seen the first status yet may
    // also try one and get 409 Conflict: not a write).
    std::vector<std::string> writes;
    for (const auto& c : *calls)
      if (getString(c, "user") == kOperatorUser && getString(c, "path").find("/encryptionkeys/signer") != std::string::npos &&
          getString(c, "verb") != "get" && getString(c, "verb") != "watch" && getString(c, "verb") != "list" &&
          getInt(c, "code") < 300)
        writes.push_back(getString(c, "verb") + " " + getString(c, "path"));
    EXPECT_EQ(writes, std::vector<std::string>({"update /apis/keygate.dev/v1alpha1/namespaces/tenant-a/encryptionkeys/signer/status"}))
        << calls->dump();
  }

  Json kar = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyActivationRequest"},
              {"metadata", {{"name", "activate-signer"}}},
              {"spec", {{"keyRef", {{"name", "signer"}}}, {"reason", "rollout"}, {"changeReference", "CHG-77"}, {"requester", "mallory"}}}};
  auto created = server_->clientFor("alice")->create(kube::resources::keyActivationRequests(), "tenant-a", kar);
  ASSERT_TRUE(created.ok()) << created.error().toString();
  EXPECT_EQ(getString(*created, "spec.requester"), "alice");  // stamped by the operator's mutating webhook

  auto approve = [&](const std::string& user) {
    return appendApprovalByUpdate(*server_->clientFor(user), "tenant-a", "activate-signer", user);
  };
  auto bob = approve("bob");
  ASSERT_TRUE(bob.ok()) << bob.error().toString();
  EXPECT_FALSE(getString(bob->at("spec").at("approvals").at(0), "signature").empty());
  EXPECT_FALSE(approve("bob").ok());  // one decision per approver
  EXPECT_FALSE(approve("alice").ok());  // the requester cannot approve
  ASSERT_TRUE(approve("carol").ok());
  Json active;
  EXPECT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "signer");
    if (k.ok()) active = *k;
    return k.ok() && getString(*k, "status.state") == "Active";
  })) << active.dump() << readAll(op.log);
  EXPECT_EQ(active["status"]["activatedBy"]["approvers"], Json({"bob", "carol"}));
  // The audit line is written ahead of the status write (at least once), so Active in the
  // status means it is there.
  std::string log;
  EXPECT_TRUE(waitUntil([&] {
    log = readAll(op.log);
    auto at = log.find(R"("event":"KeyActivated")");
    return at != std::string::npos &&
           log.find(R"("initiator":"alice","approvers":["bob","carol"],"changeReference":"CHG-77")", at) != std::string::npos;
  })) << log;
  // The activation's metric follows the status write; the audit line may be seen before it.
  decltype(httpGet(mport, "/metrics")) m;
  EXPECT_TRUE(waitUntil([&] {
    m = httpGet(mport, "/metrics");
    return m.body.find("keygate_key_time_to_activation_seconds_count 1") != std::string::npos;
  })) << m.body;
  EXPECT_NE(m.body.find("keygate_webhook_requests_total{"), std::string::npos);
  kill(op.pid, SIGTERM);
  EXPECT_EQ(waitExit(op.pid, 15s), 0) << readAll(op.log);
}

}  // namespace
}  // namespace keygate

namespace keygate {
namespace {

// Tenant isolation: users bound only in tenant-a can neither request, approve nor reference
// anything in tenant-b — refused by RBAC where Kubernetes decides, and by Keygate's webhook
// where RBAC alone would let it through — and tenant-b's key stays PreActive throughout.
TEST_F(OperatorE2E, TenantIsolationMatrix) {
  applyDeployRbac(*admin_, dir_.path());
  int mport = freePort(), hport = freePort(), wport = freePort();
  std::string cfg = dir_.write("config.yaml", config(dir_.path() + "/state", mport, hport, wport));
  std::string tmp = dir_.path() + "/state-tls/tls.crt";
  ASSERT_EQ(std::system(("base64 -w0 < " + tmp + " > " + tmp + ".b64").c_str()), 0);
  unsetenv("SOFTHSM2_CONF");
  Proc op = spawn({KEYGATE_BINARY, "operator", "--config", cfg, "--kubeconfig", server_->writeKubeconfig(kOperatorUser),
                   "--pod-name", "keygate-0"},
                  dir_.path() + "/operator.log");
  ASSERT_TRUE(waitUntil([&] { return httpGet(hport, "/readyz").status == 200; })) << readAll(op.log);
  registerWebhooks(*admin_, wport, readAll(tmp + ".b64"));

  // tenant-a: alice requests, bob approves (KeyRoleBinding). tenant-b: nobody of them.
  grant(*admin_, "tenant-a", "alice", {"get", "create"});
  Json krb = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyRoleBinding"},
              {"metadata", {{"name", "approvers"}}},
              {"spec", {{"role", "KeyApprover"}, {"subjects", {{{"kind", "User"}, {"name", "bob"}}}}, {"reviewBy", "2099-12-31"}}}};
  auto krbCreated = createThroughWebhook(*admin_, kube::resources::keyRoleBindings(), "tenant-a", krb);
  ASSERT_TRUE(krbCreated.ok()) << krbCreated.error().toString() << readAll(op.log);
  Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "EncryptionKey"},
              {"metadata", {{"name", "b-key"}}},
              {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}};
  ASSERT_TRUE(admin_->create(kube::resources::encryptionKeys(), "tenant-b", key).ok());
  ASSERT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-b", "b-key");
    return k.ok() && getString(*k, "status.state") == "PreActive";
  })) << readAll(op.log);
  Json kar = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyActivationRequest"},
              {"metadata", {{"name", "activate-b"}}},
              {"spec", {{"keyRef", {{"name", "b-key"}}}, {"reason", "r"}, {"changeReference", "CHG-9"}}}};
  ASSERT_TRUE(admin_->create(kube::resources::keyActivationRequests(), "tenant-b", kar).ok());
  auto appendApproval = [&](const std::string& user, const std::string& ns) {
    return appendApprovalByUpdate(*server_->clientFor(user), ns, "activate-b", user);
  };

  // Cell: request in tenant-b as a tenant-a requester -> RBAC 403.
  auto request = server_->clientFor("alice")->create(kube::resources::keyActivationRequests(), "tenant-b", kar);
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.error().code, ErrorCode::kPermissionDenied) << request.error().toString();
  // Cell: approve in tenant-b as a tenant-a approver -> RBAC 403 (his RoleBinding is in tenant-a only).
  auto approve = appendApproval("bob", "tenant-b");
  ASSERT_FALSE(approve.ok());
  EXPECT_EQ(approve.error().code, ErrorCode::kPermissionDenied) << approve.error().toString();
  // Cell: even with Kubernetes rights in tenant-b, a tenant-a KeyApprover is no approver there.
  grant(*admin_, "tenant-b", "bob", {"get", "update"});
  auto approve2 = appendApproval("bob", "tenant-b");
  ASSERT_FALSE(approve2.ok());
  EXPECT_NE(approve2.error().message.find("denied the request"), std::string::npos) << approve2.error().message;
  // Cell: reference tenant-b's key from tenant-a -> denied (same-namespace references only).
  Json cross = kar;
  cross["metadata"]["name"] = "cross";
  cross["spec"]["keyRef"]["namespace"] = "tenant-b";
  auto reference = server_->clientFor("alice")->create(kube::resources::keyActivationRequests(), "tenant-a", cross);
  ASSERT_FALSE(reference.ok());
  EXPECT_NE(reference.error().message.find("namespace"), std::string::npos) << reference.error().message;
  // Cell: a tenant-a binding cannot name a tenant-b service account.
  Json sa = krb;
  sa["metadata"]["name"] = "foreign-sa";
  sa["spec"]["subjects"] = {{{"kind", "ServiceAccount"}, {"name", "ci"}, {"namespace", "tenant-b"}}};
  auto binding = admin_->create(kube::resources::keyRoleBindings(), "tenant-a", sa);
  ASSERT_FALSE(binding.ok());
  // Throughout: tenant-b's key never left PreActive.
  std::this_thread::sleep_for(500ms);
  auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-b", "b-key");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(getString(*k, "status.state"), "PreActive");
  kill(op.pid, SIGTERM);
  EXPECT_EQ(waitExit(op.pid, 15s), 0) << readAll(op.log);
}

}  // namespace
}  // namespace keygate

#include "backends/kmip/kmip_backend.h"
#include "support/pykmip_server.h"

namespace keygate {
namespace {

// The operator's backends[] entry "kms" for a PyKMIP server, and a client of the same server
// of the test's own (another client of the same CA), to look at the server directly.
std::string kmipBackendEntry(testing::PyKmipServer& kms, const testing::KmipClientCert& cert) {
  return "- name: kms\n  type: kmip\n  endpoint: 127.0.0.1:" + std::to_string(kms.port()) + "\n  tls: {caFile: " +
         kms.caFile() + ", certFile: " + cert.certFile + ", keyFile: " + cert.keyFile + "}\n";
}

std::unique_ptr<backends::kmip::KmipBackend> directKmipClient(testing::PyKmipServer& kms,
                                                              const testing::KmipClientCert& cert) {
  backends::kmip::TlsOptions tls{"127.0.0.1", kms.port(), kms.caFile(), cert.certFile, cert.keyFile};
  auto connector = backends::kmip::tlsConnector(tls);
  if (!connector.ok()) return nullptr;
  return std::make_unique<backends::kmip::KmipBackend>(std::make_unique<backends::kmip::KmipClient>(std::move(*connector)),
                                                       backends::kmip::KmipBackendOptions{"kms"});
}

}  // namespace
}  // namespace keygate

namespace keygate {
namespace {

// The operator binary with a KMIP backend (a real PyKMIP server over mutual TLS): a key on
// it reaches PreActive and the server holds exactly one Pre-Active object for it in the
// tenant's Object Group; an algorithm the server cannot create ends Failed with its reason.
TEST_F(OperatorE2E, KmipBackendThroughTheOperatorBinary) {
  auto kms = testing::PyKmipServer::start();
  ASSERT_TRUE(kms.ok()) << kms.error().toString();
  auto cert = (*kms)->clientCert("keygate-operator");
  ASSERT_TRUE(cert.ok()) << cert.error().toString();
  int mport = freePort(), hport = freePort(), wport = freePort();
  std::string cfg = config(dir_.path() + "/state", mport, hport, wport);
  cfg.insert(cfg.find("policy:"), kmipBackendEntry(**kms, *cert));
  std::string cfgFile = dir_.write("config.yaml", cfg);
  std::string kubeconfig = server_->writeKubeconfig("admin");
  unsetenv("SOFTHSM2_CONF");
  Proc op = spawn({KEYGATE_BINARY, "operator", "--config", cfgFile, "--kubeconfig", kubeconfig, "--pod-name", "keygate-0"},
                  dir_.path() + "/operator.log");
  ASSERT_TRUE(waitUntil([&] { return httpGet(hport, "/readyz").status == 200; })) << readAll(op.log);

  Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "EncryptionKey"},
              {"metadata", {{"name", "kms-key"}}},
              {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "kms"}}}};
  ASSERT_TRUE(admin_->create(kube::resources::encryptionKeys(), "tenant-a", key).ok());
  key["metadata"]["name"] = "kms-ec";
  key["spec"] = {{"purpose", "Sign"}, {"algorithm", "EC-P256"}, {"backend", "kms"}};
  ASSERT_TRUE(admin_->create(kube::resources::encryptionKeys(), "tenant-a", key).ok());

  Json k;
  ASSERT_TRUE(waitUntil([&] {
    auto r = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "kms-key");
    if (r.ok()) k = *r;
    return r.ok() && getString(*r, "status.state") == "PreActive";
  })) << k.dump() << readAll(op.log) << (*kms)->log();
  const std::string uid = getString(k, "metadata.uid");
  EXPECT_EQ(getString(k["status"]["versions"][0], "backendKeyId"), "keygate/tenant-a/" + uid + "/v1");

  // Ask the server directly, as another client of the same CA.
  auto directClient = directKmipClient(**kms, *cert);
  ASSERT_TRUE(directClient);
  backends::kmip::KmipBackend& direct = *directClient;
  auto uids = direct.locate("tenant-a", "keygate/tenant-a/" + uid + "/v1");
  ASSERT_TRUE(uids.ok()) << uids.error().toString();
  EXPECT_EQ(uids->size(), 1u);
  auto d = direct.describe({{"tenant-a", uid, 1}, backends::Purpose::kEncrypt, backends::Algorithm::kAes256});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, backends::BackendKeyState::kNoUsage) << "Pre-Active on the KMIP server";

  Json ec;
  EXPECT_TRUE(waitUntil([&] {
    auto r = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "kms-ec");
    if (r.ok()) ec = *r;
    return r.ok() && getString(*r, "status.state") == "Failed";
  })) << ec.dump() << readAll(op.log);
  EXPECT_NE(ec.dump().find("KMIP Create"), std::string::npos) << ec.dump();
  kill(op.pid, SIGTERM);
  EXPECT_EQ(waitExit(op.pid, 15s), 0) << readAll(op.log);
}

}  // namespace
}  // namespace keygate

namespace keygate {
namespace {

// Issue 17, two-replica chaos run: the leader activated a KMIP key (KMIP Activate done) and
// was killed before its status write. The next leader found the key PreActive with a usable
// backend object, "repaired" that drift by revoking the object — as compromised, KMIP's
// only way back from Active — and the approved activation then failed for good ("KMIP object
// ... is Compromised and cannot become Active"), the key Failed, no DriftRepaired record.
// The interrupted activation must be finished instead.
TEST_F(OperatorE2E, KmipActivationInterruptedByAKillIsFinishedAfterTheRestart) {
  auto kms = testing::PyKmipServer::start();
  ASSERT_TRUE(kms.ok()) << kms.error().toString();
  auto cert = (*kms)->clientCert("keygate-operator");
  ASSERT_TRUE(cert.ok()) << cert.error().toString();
  applyDeployRbac(*admin_, dir_.path());
  int mport = freePort(), hport = freePort(), wport = freePort();
  std::string cfg = config(dir_.path() + "/state", mport, hport, wport);
  cfg.insert(cfg.find("policy:"), kmipBackendEntry(**kms, *cert));
  std::string cfgFile = dir_.write("config.yaml", cfg);
  std::string kubeconfig = server_->writeKubeconfig(kOperatorUser);
  unsetenv("SOFTHSM2_CONF");
  const std::vector<std::string> args = {KEYGATE_BINARY, "operator", "--config", cfgFile, "--kubeconfig", kubeconfig,
                                         "--pod-name", "keygate-0"};
  Proc op = spawn(args, dir_.path() + "/operator.log");
  ASSERT_TRUE(waitUntil([&] { return httpGet(hport, "/readyz").status == 200; })) << readAll(op.log);
  std::string tmp = dir_.write("crt.pem", readAll(dir_.path() + "/state-tls/tls.crt"));
  ASSERT_EQ(std::system(("base64 -w0 < " + tmp + " > " + tmp + ".b64").c_str()), 0);
  registerWebhooks(*admin_, wport, readAll(tmp + ".b64"));
  grant(*admin_, "tenant-a", "alice", {"get", "create"});
  Json krb = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyRoleBinding"},
              {"metadata", {{"name", "approvers"}}},
              {"spec",
               {{"role", "KeyApprover"},
                {"subjects", {{{"kind", "User"}, {"name", "bob"}}, {{"kind", "User"}, {"name", "carol"}}}},
                {"reviewBy", "2099-12-31"}}}};
  ASSERT_TRUE(createThroughWebhook(*admin_, kube::resources::keyRoleBindings(), "tenant-a", krb).ok()) << readAll(op.log);
  ASSERT_TRUE(waitUntil([&] { return admin_->get(kube::resources::roleBindings(), "tenant-a", "keygate-approvers").ok(); }))
      << readAll(op.log);

  // An approved key waits for notBefore: the window in which the "leader" is killed after
  // its backend call. 20 s leaves the set-up below ample time on a loaded machine.
  const auto notBefore = std::chrono::system_clock::now() + 20s;
  Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "EncryptionKey"},
              {"metadata", {{"name", "kms-key"}}},
              {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "kms"},
                        {"activation", {{"requiredApprovals", 2}, {"notBefore", formatRfc3339(notBefore)}}}}}};
  auto made = createThroughWebhook(*admin_, kube::resources::encryptionKeys(), "tenant-a", key);
  ASSERT_TRUE(made.ok()) << made.error().toString();
  Json k;
  ASSERT_TRUE(waitUntil([&] {
    auto r = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "kms-key");
    if (r.ok()) k = *r;
    return r.ok() && getString(*r, "status.state") == "PreActive";
  })) << k.dump() << readAll(op.log);
  Json kar = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyActivationRequest"},
              {"metadata", {{"name", "activate-kms-key"}}},
              {"spec", {{"keyRef", {{"name", "kms-key"}}}, {"reason", "rollout"}, {"changeReference", "CHG-17"}}}};
  ASSERT_TRUE(server_->clientFor("alice")->create(kube::resources::keyActivationRequests(), "tenant-a", kar).ok());
  for (const char* user : {"bob", "carol"}) {
    auto r = appendApprovalByUpdate(*server_->clientFor(user), "tenant-a", "activate-kms-key", user);
    ASSERT_TRUE(r.ok()) << r.error().toString();
  }
  ASSERT_TRUE(waitUntil([&] {
    auto r = admin_->get(kube::resources::keyActivationRequests(), "tenant-a", "activate-kms-key");
    return r.ok() && getString(*r, "status.phase") == "Approved";
  })) << readAll(op.log);

  // The leader's backend call, then its death before the status write.
  kill(op.pid, SIGKILL);
  waitExit(op.pid, 15s);
  ASSERT_LT(std::chrono::system_clock::now(), notBefore) << "set-up outlasted notBefore: the operator may have activated";
  auto k2 = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "kms-key");
  ASSERT_TRUE(k2.ok());
  ASSERT_EQ(getString(*k2, "status.state"), "PreActive");
  const std::string uid = getString(*k2, "metadata.uid");
  auto directClient = directKmipClient(**kms, *cert);
  ASSERT_TRUE(directClient);
  backends::kmip::KmipBackend& direct = *directClient;
  const backends::KeySpec spec{{"tenant-a", uid, 1}, backends::Purpose::kEncrypt, backends::Algorithm::kAes256};
  ASSERT_TRUE(direct.activate(spec).ok());
  std::this_thread::sleep_until(notBefore + 1s);

  Proc next = spawn(args, dir_.path() + "/operator2.log");
  Json after;
  EXPECT_TRUE(waitUntil([&] {
    auto r = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "kms-key");
    if (r.ok()) after = *r;
    return r.ok() && (getString(*r, "status.state") == "Active" || getString(*r, "status.state") == "Failed");
  })) << after.dump() << readAll(next.log);
  EXPECT_EQ(getString(after, "status.state"), "Active") << after.dump() << readAll(next.log);
  auto d = direct.describe(spec);
  ASSERT_TRUE(d.ok()) << d.error().toString();
  EXPECT_EQ(d->state, backends::BackendKeyState::kActive) << "the KMIP object must stay Active, not be revoked";
  std::string log;
  EXPECT_TRUE(waitUntil([&] {
    log = readAll(next.log);
    return log.find(R"("event":"KeyActivated")") != std::string::npos;
  })) << log;
  EXPECT_NE(log.find("already usable"), std::string::npos) << log;
  EXPECT_EQ(log.find(R"("event":"DriftRepaired")"), std::string::npos) << log;
  kill(next.pid, SIGTERM);
  EXPECT_EQ(waitExit(next.pid, 15s), 0) << readAll(next.log);
}

}  // namespace
}  // namespace keygate

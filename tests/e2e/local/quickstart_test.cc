// `make run`'s command as a process: keygate local --once on examples/quickstart. The table
// shows one Active and one PreActive key, and the SoftHSM2 token proves it: the Active key
// encrypts, the PreActive one refuses to sign.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "backends/file_secret_store.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "common/json.h"
#include "support/softhsm_env.h"
#include "kube/kubeconfig.h"
#include "support/free_port.h"
#include "support/http_get.h"
#include "support/temp_dir.h"

namespace keygate {
namespace {

using backends::testing::Op;

std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int rc = pclose(p);
  return {WEXITSTATUS(rc), out};
}

std::string keyUid(const Json& state, const std::string& name) {
  for (const auto& o : state["objects"])
    if (getString(o, "kind") == "EncryptionKey" && getString(o, "metadata.name") == name) return getString(o, "metadata.uid");
  return "";
}

// The SoftHSM2 backend of a keygate local state directory, opened as the run did.
std::unique_ptr<backends::pkcs11::Pkcs11Backend> openLocalBackend(const std::string& stateDir,
                                                                  std::shared_ptr<backends::FileSecretStore>* secretsOut) {
  setenv("SOFTHSM2_CONF", (stateDir + "/softhsm2.conf").c_str(), 1);
  auto secrets = backends::FileSecretStore::open(stateDir + "/secrets");
  if (!secrets.ok()) return nullptr;
  *secretsOut = *secrets;
  backends::pkcs11::Pkcs11BackendOptions bo;
  bo.name = "softhsm";
  bo.modulePath = KEYGATE_SOFTHSM2_MODULE;
  auto backend = backends::pkcs11::Pkcs11Backend::open(bo, *secrets);
  return backend.ok() ? std::move(*backend) : nullptr;
}

// The quick start: one Active and one PreActive key, audit lines, usable only when Active.
TEST(QuickstartTest, LocalOnceShowsActiveAndPreActiveAndTheTokenAgrees) {
  testing::TempDir dir;
  const std::string stateDir = dir.path() + "/.keygate";
  const std::string cmd = std::string(KEYGATE_BINARY) + " local -f " + testing::sourceDir() +
                          "/examples/quickstart --once --state-dir " + stateDir;
  auto [rc, out] = run(cmd);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("approvals are taken as written"), std::string::npos);
  auto rowOf = [&](const std::string& name) {
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line))
      if (line.find(" " + name + " ") != std::string::npos) return line;
    return std::string();
  };
  auto stateAndVersions = [&](const std::string& name) {
    std::istringstream row(rowOf(name));
    std::string ns, kind, n, state, versions;
    row >> ns >> kind >> n >> state >> versions;
    return state + " " + versions;
  };
  EXPECT_EQ(stateAndVersions("model-weights"), "Active v1:Active") << out;
  EXPECT_EQ(stateAndVersions("audit-log-signing"), "PreActive v1:PreActive") << out;
  EXPECT_NE(rowOf("activate-model-weights").find("Activated"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("event":"KeyActivated")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("initiator":"alice","approvers":["bob","carol"],"changeReference":"CHG-1234")"), std::string::npos) << out;

  // A second run continues from the saved state: same keys, nothing new generated.
  auto [rc2, out2] = run(cmd);
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_EQ(out2.find("KeyGenerated"), std::string::npos) << out2;

  // The quick start's audit report: the people of the manifests in their roles, the
  // activation with its approvers, and CEK-15.1 answered Yes.
  auto [rc3, report] = run(std::string(KEYGATE_BINARY) + " audit report --state-dir " + stateDir);
  ASSERT_EQ(rc3, 0) << report;
  EXPECT_NE(report.find("- tenant-demo: KeyAdministrator erin; KeyApprover bob, carol; KeyAuditor dave; KeyUser "
                        "serviceaccount:tenant-demo/model-server;"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("| tenant-demo/model-weights v1 | activate-model-weights | alice | bob, carol | CHG-1234 |"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("**Answer: Yes.** Every key is created PreActive"), std::string::npos) << report;

  // Look into the token the run created.
  std::ifstream in(stateDir + "/state.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto state = parseJson(ss.str());
  ASSERT_TRUE(state.ok());
  std::shared_ptr<backends::FileSecretStore> secrets;
  auto backend = openLocalBackend(stateDir, &secrets);
  ASSERT_TRUE(backend);
  auto session = backends::testing::openTenantSession(*backend, "tenant-demo", secrets);
  ASSERT_TRUE(session);
  backends::testing::Prober active(*session, backends::Algorithm::kAes256,
                                   "keygate/tenant-demo/" + keyUid(*state, "model-weights") + "/v1");
  ASSERT_EQ(active.objectCount(), 1u);
  EXPECT_EQ(active.run(Op::kEncrypt), CKR_OK);
  EXPECT_EQ(active.run(Op::kDecrypt), CKR_OK);
  EXPECT_EQ(active.run(Op::kSign), CKR_KEY_FUNCTION_NOT_PERMITTED);
  backends::testing::Prober preactive(*session, backends::Algorithm::kEcP256,
                                      "keygate/tenant-demo/" + keyUid(*state, "audit-log-signing") + "/v1");
  ASSERT_EQ(preactive.objectCount(), 2u);
  EXPECT_EQ(preactive.run(Op::kSign), CKR_KEY_FUNCTION_NOT_PERMITTED);
  EXPECT_EQ(preactive.run(Op::kVerify), CKR_KEY_FUNCTION_NOT_PERMITTED);
}

// Bad input: a missing directory and an unreadable module path are clean errors, non-zero exit.
TEST(QuickstartTest, BadInvocationsFailCleanly) {
  testing::TempDir dir;
  auto [rc, out] = run(std::string(KEYGATE_BINARY) + " local -f /nonexistent --once");
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("/nonexistent"), std::string::npos) << out;
  auto [rc2, out2] = run(std::string(KEYGATE_BINARY) + " local -f " + testing::sourceDir() +
                         "/examples/quickstart --once --state-dir " + dir.path() + "/s --module /nonexistent/libnope.so");
  EXPECT_EQ(rc2, 2) << out2;
  EXPECT_NE(out2.find("/nonexistent/libnope.so"), std::string::npos) << out2;
}

}  // namespace
}  // namespace keygate

namespace keygate {
namespace {

// Without --once: serves the operator's gauges on localhost, re-reads the directory when a
// file changes, and stops cleanly on SIGTERM.
TEST(QuickstartTest, WatchModeServesMetricsAndFollowsTheDirectory) {
  testing::TempDir dir;
  std::filesystem::copy(testing::sourceDir() + "/examples/quickstart", dir.path() + "/manifests");
  int port = testing::freePort();
  std::string logFile = dir.path() + "/local.log";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::string addr = "127.0.0.1:" + std::to_string(port);
    execl(KEYGATE_BINARY, KEYGATE_BINARY, "local", "-f", (dir.path() + "/manifests").c_str(), "--state-dir",
          (dir.path() + "/state").c_str(), "--metrics-bind-address", addr.c_str(), nullptr);
    _exit(127);
  }
  auto waitFor = [&](const std::string& needle) {
    for (int i = 0; i < 300; ++i) {
      auto r = metrics::testing::httpGet(port, "/metrics");
      if (r.body.find(needle) != std::string::npos) return r.body;
      usleep(50'000);
    }
    return std::string();
  };
  // Two keys, one activated (the issue's own example of gauge values).
  std::string body = waitFor(R"(keygate_keys{backend="softhsm",namespace="tenant-demo",purpose="Encrypt",state="Active"} 1)");
  ASSERT_FALSE(body.empty()) << *kube::readFile(logFile);
  EXPECT_NE(body.find(R"(keygate_keys{backend="softhsm",namespace="tenant-demo",purpose="Sign",state="PreActive"} 1)"),
            std::string::npos) << body;
  std::string metricsFile = dir.write("metrics.txt", body);
  EXPECT_EQ(std::system(("promtool check metrics < " + metricsFile + " > /dev/null 2>&1").c_str()), 0);

  // A new manifest appears: it is picked up without a restart.
  dir.write("manifests/50-more.yaml",
            "apiVersion: keygate.dev/v1alpha1\nkind: EncryptionKey\nmetadata: {name: extra, namespace: tenant-demo}\n"
            "spec: {purpose: Wrap, algorithm: AES-256, backend: softhsm}\n");
  EXPECT_FALSE(waitFor(R"(keygate_keys{backend="softhsm",namespace="tenant-demo",purpose="Wrap",state="PreActive"} 1)").empty())
      << *kube::readFile(logFile);

  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200 && waitpid(pid, &status, WNOHANG) == 0; ++i) usleep(50'000);
  EXPECT_TRUE(WIFEXITED(status)) << *kube::readFile(logFile);
  EXPECT_EQ(WEXITSTATUS(status), 0) << *kube::readFile(logFile);
}

}  // namespace
}  // namespace keygate

namespace keygate {
namespace {

// The README's workload view: `keygate local --serve` and the client commands. The Active
// key encrypts and decrypts, the PreActive key is refused, another tenant's ServiceAccount
// is refused, and the refusals are in the audit log.
TEST(QuickstartTest, ServeGivesWorkloadsTheCryptoApi) {
  testing::TempDir dir;
  const int port = testing::freePort(), metricsPort = testing::freePort();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  std::string logFile = dir.path() + "/local.log";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::string maddr = "127.0.0.1:" + std::to_string(metricsPort);
    execl(KEYGATE_BINARY, KEYGATE_BINARY, "local", "-f", (testing::sourceDir() + "/examples/quickstart").c_str(),
          "--state-dir", (dir.path() + "/state").c_str(), "--metrics-bind-address", maddr.c_str(), "--serve",
          addr.c_str(), "--token-auth-file", (testing::sourceDir() + "/examples/local-tokens.csv").c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 300; ++i) {
    auto log = kube::readFile(logFile);
    if (log.ok() && log->find("crypto API on") != std::string::npos) break;
    usleep(50'000);
  }
  const std::string in = dir.write("in.txt", "hello from the model server\n");
  const std::string token = dir.write("token", "demo-model-server-token\n");
  const std::string other = dir.write("other", "demo-other-tenant-token");
  auto cli = [&](const std::string& args, const std::string& tokenFile) {
    return std::string(KEYGATE_BINARY) + " " + args + " --insecure --server " + addr + " --token-file " + tokenFile;
  };
  // (a subshell: run() sends stderr to stdout, and the ciphertext must stay alone in its file)
  auto [rc, out] = run("(" + cli("encrypt --key tenant-demo/model-weights", token) + " < " + in + " > " + dir.path() +
                       "/ct 2> " + dir.path() + "/ct.err)");
  ASSERT_EQ(rc, 0) << out << *kube::readFile(logFile);
  EXPECT_NE(kube::readFile(dir.path() + "/ct.err")->find("encrypted with tenant-demo/model-weights@1"), std::string::npos);
  auto [rc2, plain] = run(cli("decrypt --key tenant-demo/model-weights", token) + " < " + dir.path() + "/ct");
  EXPECT_EQ(rc2, 0);
  EXPECT_EQ(plain, "hello from the model server\n");
  auto [rc3, refused] = run(cli("sign --key tenant-demo/audit-log-signing --algorithm ECDSA_SHA_256", token) + " < " + in);
  EXPECT_EQ(rc3, 1);
  EXPECT_NE(refused.find("FailedPrecondition: key tenant-demo/audit-log-signing is PreActive (version 1 is PreActive)"),
            std::string::npos)
      << refused;
  auto [rc4, intruder] = run(cli("encrypt --key tenant-demo/model-weights", other) + " < " + in);
  EXPECT_EQ(rc4, 1);
  EXPECT_NE(intruder.find("PermissionDenied"), std::string::npos) << intruder;
  EXPECT_NE(intruder.find("belongs to another tenant"), std::string::npos) << intruder;
  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200 && waitpid(pid, &status, WNOHANG) == 0; ++i) usleep(50'000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << *kube::readFile(logFile);
  auto audit = kube::readFile(dir.path() + "/state/audit.log");
  ASSERT_TRUE(audit.ok());
  EXPECT_NE(audit->find(R"("event":"KeyUseDenied","namespace":"tenant-demo","key":"audit-log-signing")"), std::string::npos)
      << *audit;
  EXPECT_NE(audit->find(R"("reason":"OtherTenant")"), std::string::npos) << *audit;
  EXPECT_NE(audit->find(R"("event":"KeyUsed","namespace":"tenant-demo","key":"model-weights")"), std::string::npos) << *audit;
}

}  // namespace
}  // namespace keygate

namespace keygate {
namespace {

// BYOK in keygate local (examples/byok, docs/byok.md): the first run publishes the wrapping
// key, `keygate wrap` wraps the tenant's material into a manifest, the second run imports it
// and activates it through the manifests' request; the fingerprint keygate wrap printed is
// the one in status, and the token encrypts with the key only once Active.
TEST(QuickstartTest, ByokLocalWrapImportActivate) {
  testing::TempDir dir;
  const std::string manifests = dir.path() + "/byok", stateDir = dir.path() + "/.keygate";
  std::filesystem::copy(testing::sourceDir() + "/examples/byok", manifests);
  const std::string local = std::string(KEYGATE_BINARY) + " local -f " + manifests + " --once --state-dir " + stateDir;
  auto [rc, out] = run(local);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("tenant-byok/customer-data waits for its key material"), std::string::npos) << out;

  // The tenant: 32 random bytes, wrapped for the published key (from the local state).
  const std::string material = dir.path() + "/key.bin";
  ASSERT_EQ(run("head -c 32 /dev/urandom > " + material).first, 0);
  auto [wrc, wout] = run(std::string(KEYGATE_BINARY) + " wrap --state-dir " + stateDir +
                         " --key tenant-byok/customer-data --material " + material + " --out " + manifests + "/50-wrapped.yaml");
  ASSERT_EQ(wrc, 0) << wout;
  auto fp = wout.find("fingerprint kcv:");
  ASSERT_NE(fp, std::string::npos) << wout;
  const std::string fingerprint = wout.substr(fp + 12, 10);  // kcv: + 6 hex

  auto [rc2, out2] = run(local);
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("\"event\":\"KeyImported\""), std::string::npos) << out2;
  EXPECT_NE(out2.find("\"event\":\"KeyActivated\""), std::string::npos) << out2;
  std::ifstream in(stateDir + "/state.json");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string stateText = ss.str();
  auto state = parseJson(stateText);
  ASSERT_TRUE(state.ok());
  for (const auto& o : (*state)["objects"]) {
    if (getString(o, "kind") != "EncryptionKey") continue;
    EXPECT_EQ(getString(o, "status.state"), "Active") << o.dump();
    EXPECT_EQ(o["status"]["versions"][0].value("fingerprint", ""), fingerprint);
  }
  // The Secret stayed in the manifests: state.json holds neither it nor the blob.
  EXPECT_EQ(stateText.find("\"kind\": \"Secret\""), std::string::npos);
  std::ifstream wrapped(manifests + "/50-wrapped.yaml");
  std::stringstream ws;
  ws << wrapped.rdbuf();
  auto dataAt = ws.str().find("wrapped: \"");
  ASSERT_NE(dataAt, std::string::npos) << ws.str();
  EXPECT_EQ(stateText.find(ws.str().substr(dataAt + 10, 40)), std::string::npos) << "the blob is not in state.json";

  // The token: the imported key encrypts now that it is Active.
  std::shared_ptr<backends::FileSecretStore> secrets;
  auto backend = openLocalBackend(stateDir, &secrets);
  ASSERT_TRUE(backend);
  auto session = backends::testing::openTenantSession(*backend, "tenant-byok", secrets);
  ASSERT_TRUE(session);
  backends::testing::Prober active(*session, backends::Algorithm::kAes256,
                                   "keygate/tenant-byok/" + keyUid(*state, "customer-data") + "/v1");
  ASSERT_EQ(active.objectCount(), 1u);
  EXPECT_EQ(active.run(backends::testing::Op::kEncrypt), CKR_OK);
}

}  // namespace
}  // namespace keygate

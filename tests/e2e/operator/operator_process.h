#pragma once
// Shared by the operator e2e tests: start the `keygate` binary as a process against the test
// API server, with deploy/'s RBAC for its identity and its webhook registered by URL.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "api/v1alpha1/manifest.h"
#include "common/json.h"
#include "kube/kubeconfig.h"
#include "kube/resource.h"
#include "support/approval_setup.h"
#include "support/deploy_rbac.h"
#include "support/http_get.h"
#include "support/free_port.h"
#include "support/temp_dir.h"
#include "support/test_api_server.h"
#include "support/webhook_registration.h"

namespace keygate::e2e {

using namespace std::chrono_literals;
using testing::freePort;

struct Proc {
  pid_t pid = -1;
  std::string log;
};

inline Proc spawn(const std::vector<std::string>& args, const std::string& logFile) {
  Proc p;
  p.log = logFile;
  p.pid = fork();
  if (p.pid == 0) {
    int fd = open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return p;
}

// Waits for exit; -1 on timeout.
inline int waitExit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

// What a shell command writes to stdout (add " 2>&1" for stderr too).
inline std::string commandOutput(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

inline std::string readAll(const std::string& path) {
  auto r = kube::readFile(path);
  return r.ok() ? *r : "";
}

inline bool waitUntil(const std::function<bool()>& f, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return f();
}

// A self-signed serving certificate for the webhook (IP SAN 127.0.0.1); returns {cert, key}.
inline std::pair<std::string, std::string> webhookCert(const std::string& dir) {
  std::string crt = dir + "/tls.crt", key = dir + "/tls.key";
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + crt +
                    " -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return {crt, key};
}

// extraBackends: more `- name: ...` entries for backends; healthExtra: more health keys
// (e.g. ", backendProbeInterval: 1s").
inline std::string config(const std::string& stateDir, int metricsPort, int healthPort, int webhookPort,
                          const std::string& extraBackends = "", const std::string& healthExtra = "") {
  static std::map<std::string, std::pair<std::string, std::string>> certs;
  auto& c = certs[stateDir];
  if (c.first.empty()) {
    std::filesystem::create_directories(stateDir + "-tls");
    c = webhookCert(stateDir + "-tls");
  }
  return "backends:\n"
         "- name: softhsm\n"
         "  type: pkcs11\n"
         "  module: " KEYGATE_SOFTHSM2_MODULE "\n"
         "  isolation: tokenPerNamespace\n" + extraBackends +
         "policy:\n"
         "  minApprovals: {default: 1}\n"
         "metrics: {bindAddress: \"127.0.0.1:" + std::to_string(metricsPort) + "\"}\n"
         "health: {bindAddress: \"127.0.0.1:" + std::to_string(healthPort) + "\"" + healthExtra + "}\n"
         "webhook: {bindAddress: \"127.0.0.1:" + std::to_string(webhookPort) + "\", certFile: " + c.first +
         ", keyFile: " + c.second + "}\n"
         "leaderElection: {enabled: true, leaseName: keygate-leader, leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 500ms}\n"
         "operatorNamespace: keygate-system\n"
         "stateDir: " + stateDir + "\n"
         "workers: 2\n";
}

inline const char* kOperatorUser = "system:serviceaccount:keygate-system:keygate";

class OperatorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(*s);
    admin_ = server_->adminClient();
  }
  std::unique_ptr<testing::TestApiServer> server_;
  kube::ClientPtr admin_;
  testing::TempDir dir_{"keygate-operator"};
};

inline void registerWebhooks(kube::Client& admin, int wport, const std::string& caBundle) {
  auto st = testing::registerKeygateWebhooks(admin, "https://127.0.0.1:" + std::to_string(wport), caBundle);
  ASSERT_TRUE(st.ok()) << st.error().toString();
}

// The first admission call right after registration can race the webhook's listener on a
// loaded machine ("failed calling webhook ... connection refused"); fail closed means the
// API server refuses, so retry that one case for a few seconds.
inline Result<Json> createThroughWebhook(kube::Client& c, const kube::Resource& r, const std::string& ns, const Json& obj) {
  Result<Json> out = c.create(r, ns, obj);
  for (int i = 0; i < 40 && !out.ok() && out.error().message.find("failed calling webhook") != std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    out = c.create(r, ns, obj);
  }
  return out;
}

inline void grant(kube::Client& admin, const std::string& ns, const std::string& user, std::vector<std::string> verbs) {
  auto st = testing::grantRequestAccess(admin, ns, "grant-" + user, {user}, verbs);
  ASSERT_TRUE(st.ok()) << st.error().toString();
}


// The operator binary under deploy/'s RBAC, ready (/readyz), with its webhooks registered the
// way deploy/webhooks.yaml does (by URL, with the serving certificate as caBundle).
struct StartedOperator {
  Proc proc;
  int metricsPort = 0, healthPort = 0, webhookPort = 0;
  bool ready = false;
};

// `extraConfig` is appended to the config file (e.g. a dataPlane section; the serving
// certificate is <dir>/state-tls/tls.crt, for 127.0.0.1).
inline StartedOperator startOperatorWithWebhooks(testing::TestApiServer& server, kube::Client& admin, testing::TempDir& dir,
                                                 const std::string& extraConfig = "",
                                                 const std::string& extraBackends = "", const std::string& healthExtra = "",
                                                 const std::vector<std::string>& extraArgs = {}) {
  StartedOperator op;
  applyDeployRbac(admin, dir.path());
  op.metricsPort = freePort(), op.healthPort = freePort(), op.webhookPort = freePort();
  std::string cfg =
      dir.write("config.yaml", config(dir.path() + "/state", op.metricsPort, op.healthPort, op.webhookPort, extraBackends,
                                        healthExtra) +
                                     extraConfig);
  std::string crt = dir.path() + "/state-tls/tls.crt";
  EXPECT_EQ(std::system(("base64 -w0 < " + crt + " > " + crt + ".b64").c_str()), 0);
  unsetenv("SOFTHSM2_CONF");
  std::vector<std::string> args{KEYGATE_BINARY, "operator", "--config", cfg, "--kubeconfig",
                                server.writeKubeconfig(kOperatorUser), "--pod-name", "keygate-0"};
  args.insert(args.end(), extraArgs.begin(), extraArgs.end());
  op.proc = spawn(args, dir.path() + "/operator.log");
  const int health = op.healthPort;
  op.ready = waitUntil([&] { return metrics::testing::httpGet(health, "/readyz").status == 200; });
  EXPECT_TRUE(op.ready) << readAll(op.proc.log);
  if (op.ready) registerWebhooks(admin, op.webhookPort, readAll(crt + ".b64"));
  return op;
}

// A KeyRoleBinding through the webhook (reviewBy far ahead).
inline void bindThroughWebhook(kube::Client& admin, const std::string& ns, const std::string& name, const std::string& role,
                               const Json& subjects) {
  Json b = {{"apiVersion", "keygate.dev/v1alpha1"},
            {"kind", "KeyRoleBinding"},
            {"metadata", {{"name", name}}},
            {"spec", {{"role", role}, {"subjects", subjects}, {"reviewBy", "2099-12-31"}}}};
  auto r = createThroughWebhook(admin, kube::resources::keyRoleBindings(), ns, b);
  ASSERT_TRUE(r.ok()) << name << ": " << r.error().toString();
}

inline Json keygateObject(const std::string& kind, const std::string& name, const Json& spec) {
  return {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", kind}, {"metadata", {{"name", name}}}, {"spec", spec}};
}

inline Json users(std::initializer_list<const char*> names) {
  Json out = Json::array();
  for (const char* n : names) out.push_back({{"kind", "User"}, {"name", n}});
  return out;
}

// `requester` asks for the key's activation; each approver appends an Approve with a JSON
// patch, as `kubectl patch kar … --type=json` does.
inline void requestAndApprove(testing::TestApiServer& server, const std::string& ns, const std::string& request,
                              const std::string& key, const std::string& requester,
                              const std::vector<std::string>& approvers) {
  Json kar = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyActivationRequest"},
              {"metadata", {{"name", request}}},
              {"spec", {{"keyRef", {{"name", key}}}, {"reason", "e2e"}, {"changeReference", "CHG-1"}}}};
  auto c = server.clientFor(requester)->create(kube::resources::keyActivationRequests(), ns, kar);
  ASSERT_TRUE(c.ok()) << c.error().toString();
  for (const auto& approver : approvers) {
    auto p = server.clientFor(approver)->patch(kube::resources::keyActivationRequests(), ns, request,
                                               kube::PatchType::kJson,
                                               R"([{"op":"add","path":"/spec/approvals/-","value":{"decision":"Approve"}}])");
    ASSERT_TRUE(p.ok()) << approver << ": " << p.error().toString();
  }
}

// Appends `user`'s approval to a request the way `kubectl edit` does: read, add, write back
// (through the webhook). The operator writes the request's status meanwhile, so a write can
// meet 409 Conflict: read again and retry, as kubectl asks its user to.
inline Result<Json> appendApprovalByUpdate(kube::Client& c, const std::string& ns, const std::string& request,
                                           const std::string& user) {
  for (int attempt = 0;; ++attempt) {
    auto cur = c.get(kube::resources::keyActivationRequests(), ns, request);
    if (!cur.ok()) return cur.takeError();
    Json obj = *cur;
    obj["spec"]["approvals"].push_back({{"approver", user}, {"decision", "Approve"}});
    auto written = c.update(kube::resources::keyActivationRequests(), ns, obj);
    if (written.ok() || written.error().code != ErrorCode::kConflict || attempt == 4) return written;
  }
}

// SIGTERM and a clean exit within 15 s; a process that hangs fails the test and is killed, so
// no operator outlives its test or bench.
inline void stopOperator(const StartedOperator& op) {
  kill(op.proc.pid, SIGTERM);
  const int code = waitExit(op.proc.pid, 15s);
  if (code == -1) {
    kill(op.proc.pid, SIGKILL);
    waitExit(op.proc.pid, 5s);
  }
  EXPECT_EQ(code, 0) << "operator exit (-1: still running after SIGTERM + 15 s, killed)\n" << readAll(op.proc.log);
}

}  // namespace keygate::e2e

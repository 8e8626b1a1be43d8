// Crash anywhere (issue 17): the `keygate operator` binary against the test API server and
// SoftHSM2 is SIGKILLed at random moments and restarted at once, while `keys` EncryptionKeys go
// through create -> request (alice) -> approve (bob) -> Active -> rotate (erin) -> request and
// approve v2 -> v2 Active -> deactivate (erin) -> schedule destruction (erin), each step by the
// people allowed to take it, through the admission webhook. Then, after a last clean restart, it checks and prints:
//   - every key reached DestroyScheduled with its two versions;
//   - every version has exactly one object in the tenant's token (read with pkcs11-tool), and
//     after the stray sweep's grace period nothing else is left there;
//   - no version was activated without bob's approval (the audit file's KeyActivated records);
//   - the audit trail is at-least-once: each lifecycle record is there, duplicates (the same
//     event, key uid and version, written again by a reconcile a kill interrupted after the
//     status write and before the audit flush) are counted and printed, not treated as errors;
//   - the operator's API request rate.
// Exit status 0 only when every check holds. (Destroyed itself is an hour away at the shortest
// pendingWindow; the destroy path's crash safety is covered by the stray sweep's tests.)
//
//   chaos_bench [keys=40] [workers=4] [min-ms=300] [max-ms=1500] [--no-kills] [--faults RATE] [--soak SECONDS]
//
// Kills happen every min-ms..max-ms (uniform) for as long as the workload runs.
//   --no-kills      no SIGKILLs (an operator that exits on its own is still restarted, and counted)
//   --faults RATE   a hostile network: the test API server gives each of the operator's requests
//                   a RATE chance of a fault (409 on writes carrying a resourceVersion, 410 on
//                   watches, 429 + Retry-After, 500, a connection dropped before or after the
//                   request is processed, a 2 s delay: faults.py); prints the faults injected
//                   and the operator's request rate (mean and the busiest second).
//   --soak SECONDS  a leak check: workers keep taking new keys through the whole life, then
//                   delete them (destruction policy Retain keeps their objects) and their
//                   requests, for SECONDS; the operator's RSS, file descriptors, threads, TCP
//                   connections and PKCS#11 sessions are printed each minute, first after a
//                   minute of warm-up. The token checks are skipped (the keys are gone).
//   --soak-steady SECONDS  the same leak check on a level workload: one key per worker,
//                   deactivated and re-activated (a new request each time) over and over, so
//                   neither the API objects nor the token's objects grow.
//   --replicas 2    two operator processes (keygate-0, keygate-1) behind one webhook address (a
//                   TCP balancer, as a Service): each kill SIGKILLs the current leader (from the
//                   Lease) and restarts it once the other leads; prints each takeover's time,
//                   the writes any replica made while another held the Lease (from the API
//                   server's request log: user agent and time), and the writes refused because
//                   no webhook answered.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/v1alpha1/approval_signing.h"
#include "common/log.h"
#include "common/time.h"
#include "e2e/operator/operator_process.h"
#include "backends/kmip/kmip_backend.h"
#include "proc_stats.h"
#include "support/pykmip_server.h"
#include "tcp_balancer.h"

using namespace keygate;
using namespace keygate::e2e;
using SteadyClock = std::chrono::steady_clock;

namespace {

const kube::Resource kKeys = kube::resources::encryptionKeys();
const kube::Resource kRequests = kube::resources::keyActivationRequests();
constexpr const char* kNs = "tenant-a";

// The operator process, restarted in place.
class Operator {
 public:
  Operator(std::vector<std::string> args, std::string logDir) : args_(std::move(args)), logDir_(std::move(logDir)) {}
  void start() {
    std::lock_guard<std::mutex> l(mu_);
    proc_ = spawn(args_, logDir_ + "/operator-" + std::to_string(starts_++) + ".log");
  }
  void kill9() {
    std::lock_guard<std::mutex> l(mu_);
    ::kill(proc_.pid, SIGKILL);
    waitpid(proc_.pid, nullptr, 0);
  }
  bool stop() {
    std::lock_guard<std::mutex> l(mu_);
    ::kill(proc_.pid, SIGTERM);
    return waitExit(proc_.pid, 30s) == 0;
  }
  // Restarts the process if it exited on its own (as the kubelet would); true when it did.
  bool restartIfExited() {
    std::lock_guard<std::mutex> l(mu_);
    int status = 0;
    if (waitpid(proc_.pid, &status, WNOHANG) != proc_.pid) return false;
    const std::string log = readAll(proc_.log);
    std::fprintf(stderr, "operator exited on its own (%s %d); its log ends:\n%s\n",
                 WIFSIGNALED(status) ? "signal" : "status", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                 log.substr(log.size() > 3000 ? log.size() - 3000 : 0).c_str());
    proc_ = spawn(args_, logDir_ + "/operator-" + std::to_string(starts_++) + ".log");
    return true;
  }
  int starts() const { return starts_; }
  // The log of start n (0-based).
  std::string logOf(int n) const { return logDir_ + "/operator-" + std::to_string(n) + ".log"; }
  pid_t pid() {
    std::lock_guard<std::mutex> l(mu_);
    return proc_.pid;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> args_;
  std::string logDir_;
  Proc proc_;
  int starts_ = 0;
};

// Retries a write until the API server takes it (the webhook is down while the operator
// restarts: kube-apiserver fails closed). `done` says the effect is already there.
thread_local std::string lastError;
// The backend the keys use: SoftHSM2 (one process's HSM), or with --replicas 2 a PyKMIP server
// both replicas share (SoftHSM2's files are one process's store; the chart runs replicas only
// with a network HSM or KMS).
std::string gBackend = "softhsm";
std::atomic<int> webhookRefusals{0};  // writes the API server refused because no webhook answered

bool write(const std::function<Result<Json>()>& op, const std::function<bool(const Error&)>& done = nullptr,
           std::chrono::seconds timeout = 120s) {
  const auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    auto r = op();
    if (r.ok() || (done && done(r.error()))) return true;
    lastError = r.error().toString();
    if (lastError.find("failed calling webhook") != std::string::npos) ++webhookRefusals;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

bool waitFor(kube::Client& c, const std::string& name, const std::function<bool(const Json&)>& pred,
             std::chrono::seconds timeout = 180s) {
  const auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    auto k = c.get(kKeys, kNs, name);
    if (k.ok() && pred(*k)) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

std::string state(const Json& k) { return getString(k, "status.state"); }

// alice asks for `version` of `key` with request `request`, bob approves (a JSON patch, as
// `kubectl patch --type=json` sends it); true once the API holds bob's approval.
bool requestAndApprove(kube::Client& admin, kube::Client& alice, kube::Client& bob, const std::string& key,
                       const std::string& request, int version) {
  Json kar = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyActivationRequest"},
              {"metadata", {{"name", request}}},
              {"spec", {{"keyRef", {{"name", key}, {"version", version}}}, {"reason", "chaos"}, {"changeReference", "CHG-1"}}}};
  if (!write([&] { return alice.create(kRequests, kNs, kar); },
             [](const Error& e) { return e.code == ErrorCode::kAlreadyExists; }))
    return false;
  const std::string approve = R"([{"op":"add","path":"/spec/approvals/-","value":{"decision":"Approve"}}])";
  auto approvedByBob = [&](const Error&) {
    auto r = admin.get(kRequests, kNs, request);
    return r.ok() && r->dump().find("\"approver\":\"bob\"") != std::string::npos;
  };
  return write([&] { return bob.patch(kRequests, kNs, request, kube::PatchType::kJson, approve); }, approvedByBob);
}

// One key's whole life; false (with a reason on stderr) when a step does not finish.
bool lifecycle(keygate::testing::TestApiServer& server, int i, bool deleteAfter) {
  const std::string name = "k-" + std::to_string(i);
  auto admin = server.adminClient();
  auto alice = server.clientFor("alice"), bob = server.clientFor("bob"), erin = server.clientFor("erin");
  auto fail = [&](const char* step) {
    auto k = admin->get(kKeys, kNs, name);
    std::fprintf(stderr, "%s: %s did not finish (last error: %s): %s\n", name.c_str(), step, lastError.c_str(),
                 k.ok() ? k->dump().c_str() : "(gone)");
    return false;
  };
  auto exists = [](const Error& e) { return e.code == ErrorCode::kAlreadyExists; };
  Json key = keygateObject("EncryptionKey", name,
                           {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", gBackend},
                            {"rotation", {{"period", "2160h"}}}});
  if (!write([&] { return admin->create(kKeys, kNs, key); }, exists)) return fail("create");
  if (!waitFor(*admin, name, [](const Json& k) { return state(k) == "PreActive"; })) return fail("PreActive");
  auto activate = [&](int version) {
    return requestAndApprove(*admin, *alice, *bob, name, "act-" + name + "-v" + std::to_string(version), version);
  };
  if (!activate(1)) return fail("request/approve v1");
  if (!waitFor(*admin, name, [](const Json& k) { return state(k) == "Active"; })) return fail("Active");
  const std::string rotate = R"({"metadata":{"annotations":{"keygate.dev/rotate-requested-at":"2026-12-06T00:00:00Z"}}})";
  if (!write([&] { return erin->patch(kKeys, kNs, name, kube::PatchType::kMerge, rotate); })) return fail("rotate request");
  // The new version is born PreActive and needs its own approval (the policy's default).
  if (!waitFor(*admin, name, [](const Json& k) {
        for (const auto& v : k["status"].value("versions", Json::array()))
          if (v.value("version", 0) == 2 && v.value("state", "") == "PreActive") return true;
        return false;
      }))
    return fail("rotation: v2 PreActive");
  if (!activate(2)) return fail("request/approve v2");
  if (!waitFor(*admin, name, [](const Json& k) {
        return state(k) == "Active" && k["status"].value("currentVersion", 0) == 2;
      }))
    return fail("rotation: v2 Active");
  if (!write([&] { return erin->patch(kKeys, kNs, name, kube::PatchType::kMerge, R"({"spec":{"deactivate":true}})"); }))
    return fail("deactivate request");
  if (!waitFor(*admin, name, [](const Json& k) { return state(k) == "Deactivated"; })) return fail("Deactivated");
  if (!write([&] {
        return erin->patch(kKeys, kNs, name, kube::PatchType::kMerge, R"({"spec":{"scheduleDestruction":true}})");
      }))
    return fail("schedule request");
  if (!waitFor(*admin, name, [](const Json& k) { return state(k) == "DestroyScheduled"; })) return fail("DestroyScheduled");
  if (!deleteAfter) return true;
  // The soak: the key goes (destruction policy Retain: its finalizer lets it go, its objects
  // stay in the token as Retained), and its requests with it; the cache stays the same size.
  auto gone = [](const Error& e) { return e.code == ErrorCode::kNotFound; };
  auto remove = [&](const kube::Resource& r, const std::string& n) {
    return write([&]() -> Result<Json> {
      auto d = admin->remove(r, kNs, n);
      if (!d.ok()) return d.error();
      return Json();
    }, gone);
  };
  if (!remove(kKeys, name)) return fail("delete");
  for (int v = 1; v <= 2; ++v) {
    const std::string request = "act-" + name + "-v" + std::to_string(v);
    if (!remove(kRequests, request)) return fail("delete request");
  }
  const auto deadline = SteadyClock::now() + 120s;
  while (SteadyClock::now() < deadline) {
    auto k = admin->get(kKeys, kNs, name);
    if (!k.ok() && k.error().code == ErrorCode::kNotFound) return true;
    std::this_thread::sleep_for(100ms);
  }
  return fail("deleted key gone");
}

// The steady soak: one key per worker, created and activated once, then deactivated and
// re-activated (each time by a new request bob approves; the previous request is deleted)
// until the deadline. The number of API objects and token objects stays level while the
// operator keeps working, so its own memory shows. Returns the cycles done, -1 when a step
// did not finish.
int steadyLife(keygate::testing::TestApiServer& server, int w, SteadyClock::time_point deadline) {
  const std::string name = "steady-" + std::to_string(w);
  auto admin = server.adminClient();
  auto alice = server.clientFor("alice"), bob = server.clientFor("bob"), erin = server.clientFor("erin");
  auto fail = [&](const std::string& step) {
    std::fprintf(stderr, "%s: %s did not finish (last error: %s)\n", name.c_str(), step.c_str(), lastError.c_str());
    return -1;
  };
  auto exists = [](const Error& e) { return e.code == ErrorCode::kAlreadyExists; };
  Json key = keygateObject("EncryptionKey", name, {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", gBackend}});
  if (!write([&] { return admin->create(kKeys, kNs, key); }, exists)) return fail("create");
  if (!waitFor(*admin, name, [](const Json& k) { return state(k) == "PreActive"; })) return fail("PreActive");
  auto activate = [&](int n) {
    return requestAndApprove(*admin, *alice, *bob, name, "act-" + name + "-" + std::to_string(n), 1) &&
           waitFor(*admin, name, [](const Json& k) { return state(k) == "Active"; });
  };
  if (!activate(0)) return fail("first activation");
  int cycles = 0;
  while (SteadyClock::now() < deadline) {
    if (!write([&] { return erin->patch(kKeys, kNs, name, kube::PatchType::kMerge, R"({"spec":{"deactivate":true}})"); }) ||
        !waitFor(*admin, name, [](const Json& k) { return state(k) == "Deactivated"; }))
      return fail("deactivate");
    if (!write([&] { return erin->patch(kKeys, kNs, name, kube::PatchType::kMerge, R"({"spec":{"deactivate":false}})"); }))
      return fail("deactivate: false");
    // A request made in the second of the version's last activation would be spent
    // (approvalSpent: timestamps have whole seconds).
    std::this_thread::sleep_for(1100ms);
    if (!activate(cycles + 1)) return fail("re-activation " + std::to_string(cycles + 1));
    auto gone = [](const Error& e) { return e.code == ErrorCode::kNotFound; };
    const std::string previous = "act-" + name + "-" + std::to_string(cycles);
    if (!write([&]() -> Result<Json> {
          auto d = admin->remove(kRequests, kNs, previous);
          if (!d.ok()) return d.error();
          return Json();
        }, gone))
      return fail("delete " + previous);
    ++cycles;
  }
  return cycles;
}

// What /proc and /metrics say about the operator process.
struct ProcessSample {
  double atSecs = 0;
  long rssKiB = 0;
  int fds = 0, threads = 0, tcp = 0;
  long pkcs11Sessions = -1;
};

ProcessSample sample(pid_t pid, int metricsPort, double atSecs) {
  ProcessSample p;
  p.atSecs = atSecs;
  p.rssKiB = keygate::bench::processRssKiB(pid);
  p.fds = keygate::bench::processFds(pid);
  p.threads = keygate::bench::processThreads(pid);
  p.tcp = keygate::bench::processTcpEstablished(pid);
  const std::string body = metrics::testing::httpGet(metricsPort, "/metrics").body;
  const std::string name = "\nkeygate_pkcs11_sessions_open ";
  if (auto at = body.find(name); at != std::string::npos) p.pkcs11Sessions = std::atol(body.c_str() + at + name.size());
  return p;
}

void printSample(const ProcessSample& p) {
  std::printf("%8.0f %10ld %6d %8d %6d %10ld\n", p.atSecs, p.rssKiB / 1024, p.fds, p.threads, p.tcp, p.pkcs11Sessions);
}

struct Options {
  int keys = 40, workers = 4, minMs = 300, maxMs = 1500;
  bool kills = true;
  double faultRate = 0;
  int soakSeconds = 0;
  bool steady = false;  // --soak-steady: steadyLife instead of whole lives
  int replicas = 1;
};

Options parse(int argc, char** argv) {
  Options o;
  std::vector<int> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-kills") o.kills = false;
    else if (a == "--faults" && i + 1 < argc) o.faultRate = std::clamp(std::atof(argv[++i]), 0.0, 1.0);
    else if (a == "--soak" && i + 1 < argc) o.soakSeconds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--soak-steady" && i + 1 < argc) o.soakSeconds = std::max(1, std::atoi(argv[++i])), o.steady = true;
    else if (a == "--replicas" && i + 1 < argc) o.replicas = std::clamp(std::atoi(argv[++i]), 1, 2);
    else if (!a.empty() && std::isdigit(static_cast<unsigned char>(a[0]))) positional.push_back(std::atoi(a.c_str()));
    else {
      std::fprintf(stderr, "chaos_bench: unknown argument %s\n", a.c_str());
      std::exit(2);
    }
  }
  if (positional.size() > 0) o.keys = std::max(1, positional[0]);
  if (positional.size() > 1) o.workers = std::clamp(positional[1], 1, 64);
  if (positional.size() > 2) o.minMs = std::max(10, positional[2]);
  if (positional.size() > 3) o.maxMs = std::max(o.minMs, positional[3]);
  o.maxMs = std::max(o.minMs, o.maxMs);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  const int keys = opt.keys, workers = opt.workers, minMs = opt.minMs, maxMs = opt.maxMs;
  const bool soak = opt.soakSeconds > 0;
  keygate::log::configure(keygate::log::Level::kError, keygate::log::Format::kText);

  keygate::testing::TestApiServerOptions so;
  so.namespaces = {"default", "keygate-system", kNs};
  auto server = keygate::testing::TestApiServer::start(so);
  if (!server.ok()) return std::fprintf(stderr, "%s\n", server.error().toString().c_str()), 1;
  auto admin = (*server)->adminClient();
  keygate::testing::TempDir dir("keygate-chaos");
  std::unique_ptr<keygate::testing::PyKmipServer> kms;
  std::optional<keygate::testing::KmipClientCert> kmsCert;
  std::string kmipBackend;
  if (opt.replicas == 2) {
    auto k = keygate::testing::PyKmipServer::start();
    if (!k.ok()) return std::fprintf(stderr, "PyKMIP: %s\n", k.error().toString().c_str()), 1;
    kms = std::move(*k);
    auto c = kms->clientCert("keygate-operator");
    if (!c.ok()) return std::fprintf(stderr, "PyKMIP cert: %s\n", c.error().toString().c_str()), 1;
    kmsCert = *c;
    kmipBackend = "- name: kms\n  type: kmip\n  endpoint: 127.0.0.1:" + std::to_string(kms->port()) +
                  "\n  tls: {caFile: " + kms->caFile() + ", certFile: " + c->certFile + ", keyFile: " + c->keyFile + "}\n";
    gBackend = "kms";
  }
  StartedOperator first =
      startOperatorWithWebhooks(**server, *admin, dir, "", kmipBackend, ", straySweepInterval: 0, strayGracePeriod: 1s");
  if (!first.ready) return std::fprintf(stderr, "not ready:\n%s\n", readAll(first.proc.log).c_str()), 1;
  grant(*admin, kNs, "alice", {"get", "create"});
  bindThroughWebhook(*admin, kNs, "approvers", "KeyApprover", users({"bob"}));
  bindThroughWebhook(*admin, kNs, "administrators", "KeyAdministrator", users({"erin"}));
  // The same process, now under the kill loop's control.
  ::kill(first.proc.pid, SIGTERM);
  waitExit(first.proc.pid, 30s);
  const std::string kubeconfig = (*server)->writeKubeconfig(kOperatorUser);
  std::vector<std::unique_ptr<Operator>> ops;
  ops.push_back(std::make_unique<Operator>(std::vector<std::string>{KEYGATE_BINARY, "operator", "--config",
                                                                    dir.path() + "/config.yaml", "--kubeconfig", kubeconfig,
                                                                    "--pod-name", "keygate-0"},
                                           dir.path()));
  std::vector<int> metricsPorts{first.metricsPort};
  std::unique_ptr<keygate::bench::TcpBalancer> balancer;
  if (opt.replicas == 2) {
    // The second replica: its own ports and audit file (its pod's volume), the same HSM tokens.
    std::string cfg = readAll(dir.path() + "/config.yaml");
    const int m1 = freePort(), h1 = freePort(), w1 = freePort();
    auto swapPort = [&cfg](int from, int to) {
      const std::string f = "127.0.0.1:" + std::to_string(from);
      cfg.replace(cfg.find(f), f.size(), "127.0.0.1:" + std::to_string(to));
    };
    swapPort(first.metricsPort, m1), swapPort(first.healthPort, h1), swapPort(first.webhookPort, w1);
    cfg += "audit: {file: " + dir.path() + "/state/audit-1/audit.log}\n";
    ops.push_back(std::make_unique<Operator>(std::vector<std::string>{KEYGATE_BINARY, "operator", "--config",
                                                                      dir.write("config-1.yaml", cfg), "--kubeconfig",
                                                                      kubeconfig, "--pod-name", "keygate-1"},
                                             dir.path() + "/r1"));
    std::filesystem::create_directories(dir.path() + "/r1");
    metricsPorts.push_back(m1);
    balancer = std::make_unique<keygate::bench::TcpBalancer>(std::vector<int>{first.webhookPort, w1});
    for (bool mutating : {true, false})
      (void)admin->remove(keygate::testing::webhookConfigurations(mutating), "",
                          mutating ? "keygate-mutating" : "keygate-validating");
    const std::string crt = dir.path() + "/state-tls/tls.crt";
    registerWebhooks(*admin, balancer->port(), readAll(crt + ".b64"));
  }
  for (auto& o : ops) o->start();
  Operator& op = *ops[0];
  auto leaseHolder = [&]() -> std::string {
    auto l = admin->get(kube::resources::leases(), "keygate-system", "keygate-leader");
    return l.ok() ? getString(*l, "spec.holderIdentity") : std::string();
  };
  // Who leads when the request log starts (the log's Lease writes say who leads after that).
  waitUntil([&] { return !leaseHolder().empty(); }, 30s);
  (void)(*server)->control("DELETE", "/__test/requests");
  const std::string holderAtStart = leaseHolder();
  if (opt.faultRate > 0) {
    auto r = (*server)->control("POST", "/__test/faults",
                                Json{{"random", {{"rate", opt.faultRate}, {"user", kOperatorUser}, {"seed", 20261206},
                                                 {"delayMs", 2000}, {"retryAfter", 1}}}});
    if (!r.ok()) return std::fprintf(stderr, "faults: %s\n", r.error().toString().c_str()), 1;
  }

  const auto t0 = SteadyClock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(SteadyClock::now() - t0).count(); };
  std::atomic<bool> workloadDone{false};
  std::atomic<int> kills{0}, exits{0};
  std::vector<ProcessSample> samples;
  std::vector<double> takeovers;  // seconds from a leader's SIGKILL to the other replica holding the Lease
  std::vector<double> takeoversFromRenewal;  // the same from the dead leader's last renewal
  // Kills (unless --no-kills), restarts of a process that exited on its own, and the soak's samples.
  std::thread killer([&] {
    std::mt19937 rng(20261206);
    std::uniform_int_distribution<int> gap(minMs, maxMs);
    auto nextKill = SteadyClock::now() + std::chrono::milliseconds(gap(rng));
    double nextSample = 60;
    while (!workloadDone) {
      std::this_thread::sleep_for(50ms);
      if (workloadDone) break;
      for (auto& o : ops)
        if (o->restartIfExited()) ++exits;
      if (opt.kills && SteadyClock::now() >= nextKill && ops.size() == 1) {
        op.kill9();
        ++kills;
        op.start();
        nextKill = SteadyClock::now() + std::chrono::milliseconds(gap(rng));
      } else if (opt.kills && SteadyClock::now() >= nextKill) {
        auto lease = admin->get(kube::resources::leases(), "keygate-system", "keygate-leader");
        const std::string holder = lease.ok() ? getString(*lease, "spec.holderIdentity") : "";
        auto renewed = lease.ok() ? parseRfc3339(getString(*lease, "spec.renewTime")) : Result<WallTime>(WallTime{});
        if (holder == "keygate-0" || holder == "keygate-1") {
          // How long before the kill the leader last renewed: the Lease expires leaseDuration after that.
          const double sinceRenewal =
              renewed.ok() ? std::chrono::duration<double>(std::chrono::system_clock::now() - *renewed).count() : 0;
          const int victim = holder == "keygate-0" ? 0 : 1;
          const std::string standby = victim == 0 ? "keygate-1" : "keygate-0";
          const auto killedAt = SteadyClock::now();
          ops[victim]->kill9();
          ++kills;
          // The standby takes over once the Lease expires; the killed one restarts after that
          // (with the same identity it would renew the dead leader's Lease at once).
          while (!workloadDone && leaseHolder() != standby && SteadyClock::now() - killedAt < 60s)
            std::this_thread::sleep_for(20ms);
          if (leaseHolder() == standby) {
            takeovers.push_back(std::chrono::duration<double>(SteadyClock::now() - killedAt).count());
            takeoversFromRenewal.push_back(takeovers.back() + sinceRenewal);
          }
          ops[victim]->start();
        }
        nextKill = SteadyClock::now() + std::chrono::milliseconds(gap(rng));
      }
      if (soak && elapsed() >= nextSample) {
        samples.push_back(sample(op.pid(), first.metricsPort, elapsed()));
        nextSample += 60;
      }
    }
  });
  std::atomic<int> next{0}, finished{0}, failed{0};
  const auto soakEnd = t0 + std::chrono::seconds(opt.soakSeconds);
  std::vector<std::thread> ws;
  for (int w = 0; w < workers; ++w)
    ws.emplace_back([&] {
      if (opt.steady) {
        const int cycles = steadyLife(**server, next++, soakEnd);
        if (cycles < 0) ++failed;
        else finished += cycles;
      } else if (soak) {
        while (SteadyClock::now() < soakEnd) (lifecycle(**server, next++, true) ? finished : failed)++;
      } else {
        for (int i; (i = next++) < keys;) (lifecycle(**server, i, false) ? finished : failed)++;
      }
    });
  for (auto& t : ws) t.join();
  workloadDone = true;
  killer.join();
  const bool replicaStoppedCleanly = ops.size() < 2 || ops[1]->stop();
  if (soak) samples.push_back(sample(op.pid(), first.metricsPort, elapsed()));
  const double workloadSecs = elapsed();
  Json injected = Json::object();
  if (opt.faultRate > 0) {
    if (auto f = (*server)->control("GET", "/__test/faults"); f.ok()) injected = (*f)["injected"];
    (void)(*server)->control("DELETE", "/__test/faults");
  }
  // The operator's requests as the API server logged them (its clock is CLOCK_MONOTONIC, as ours).
  int operatorRequests = 0, busiestSecond = 0;
  std::map<long, int> perSecond;
  std::map<std::string, int> byOutcome;  // "2xx", "409", ..., "no response"
  std::map<std::string, int> conflicts;  // 409s the API server answered (not injected), by verb and resource
  // Writes by a replica while the Lease was another's: the holder is the author of the last
  // successful Lease write (the replica's identity is in its User-Agent, "keygate/<v> (<pod>)").
  std::string holder = holderAtStart;
  int writesByLeader = 0, writesByNonLeader = 0;
  std::map<std::string, int> writesByReplica;
  auto replicaOf = [](const std::string& ua) {
    const size_t open = ua.rfind('('), close = ua.rfind(')');
    return open != std::string::npos && close > open ? ua.substr(open + 1, close - open - 1) : std::string();
  };
  if (auto log = (*server)->control("GET", "/__test/requests"); log.ok())
    for (const auto& r : *log) {
      if (r.value("user", "") != kOperatorUser) continue;
      ++operatorRequests;
      const std::string verb = r.value("verb", ""), path = r.value("path", "");
      const bool write = verb == "create" || verb == "update" || verb == "patch" || verb == "delete" ||
                         verb == "deletecollection";
      const int status = r.value("code", 0);
      if (write && path.find("/leases") != std::string::npos) {
        if (status >= 200 && status < 300) holder = replicaOf(r.value("userAgent", ""));
      } else if (write) {
        const std::string who = replicaOf(r.value("userAgent", ""));
        writesByReplica[who]++;
        if (who == holder) ++writesByLeader;
        else if (++writesByNonLeader <= 10)
          std::fprintf(stderr, "a write by %s while %s held the Lease: %s %s (%d)\n", who.c_str(), holder.c_str(),
                       verb.c_str(), path.c_str(), status);
      }
      perSecond[static_cast<long>(r.value("t", 0.0))]++;
      const int code = r.value("code", 0);
      byOutcome[code == 0 ? "no response" : code < 300 ? "2xx" : std::to_string(code)]++;
      if (code == 409 && !r.contains("fault")) {
        std::string path = r.value("path", "");
        const bool status = path.size() > 7 && path.compare(path.size() - 7, 7, "/status") == 0;
        std::string kind = path.find("/encryptionkeys") != std::string::npos ? "encryptionkeys"
                           : path.find("/keyactivationrequests") != std::string::npos ? "keyactivationrequests"
                                                                                        : "other";
        conflicts[r.value("verb", "") + " " + kind + (status ? "/status" : "")]++;
      }
    }
  for (const auto& [sec, n] : perSecond) busiestSecond = std::max(busiestSecond, n);

  // A clean stop, the grace period, and a last start: its first sweep destroys the strays the
  // kills left (disabled by an earlier start's sweep) and disables any new ones.
  const int health = first.healthPort;
  auto readyThenSweep = [&] {
    waitUntil([&] { return metrics::testing::httpGet(health, "/readyz").status == 200; }, 60s);
    std::this_thread::sleep_for(3s);  // the leader's first sweep follows the cache sync
  };
  op.stop();
  std::this_thread::sleep_for(2s);
  op.start();
  readyThenSweep();
  op.stop();
  std::this_thread::sleep_for(2s);  // past strayGracePeriod (1s) for what that start disabled
  op.start();
  readyThenSweep();
  const bool stoppedCleanly = op.stop();
  const std::string auditFile = dir.path() + "/state/audit/audit.log";

  // The token, as a person with the tenant's PIN sees it.
  auto pins = admin->get(kube::resources::secrets(), "keygate-system", "keygate-token-user-pins");
  std::string pin;
  if (pins.ok())
    if (auto p = api::v1alpha1::base64Decode((*pins)["data"].value("softhsm.tenant-a.user-pin", "")); p.ok()) pin = *p;
  const std::string listing = pin.empty() ? std::string("(no PIN)") : commandOutput("SOFTHSM2_CONF=" + dir.path() + "/state/softhsm2/softhsm2.conf pkcs11-tool --module "
                                  KEYGATE_SOFTHSM2_MODULE " --token-label keygate:tenant-a --login --pin " + pin +
                                  " --list-objects --type secrkey 2>/dev/null");
  std::map<std::string, int> objectsByLabel;
  // With --replicas 2 the objects are on the KMIP server: asked by label (Locate), as another client.
  std::unique_ptr<backends::kmip::KmipBackend> kmsDirect;
  if (kms) {
    auto connector = backends::kmip::tlsConnector(
        {"127.0.0.1", kms->port(), kms->caFile(), kmsCert->certFile, kmsCert->keyFile});
    if (connector.ok())
      kmsDirect = std::make_unique<backends::kmip::KmipBackend>(
          std::make_unique<backends::kmip::KmipClient>(std::move(*connector)), backends::kmip::KmipBackendOptions{"kms"});
  }
  int unaccounted = 0;
  {
    std::istringstream in(listing);
    std::string line;
    bool inObject = false, labelled = false;
    auto close = [&] {
      if (inObject && !labelled) ++unaccounted;
    };
    while (std::getline(in, line)) {
      if (line.find("Secret Key Object") == 0) {
        close();
        inObject = true, labelled = false;
      } else if (auto at = line.find("label:"); inObject && at != std::string::npos) {
        const size_t from = line.find_first_not_of(' ', at + 6);
        std::string label = from == std::string::npos ? std::string() : line.substr(from);
        labelled = true;
        if (label.rfind("keygate/tenant-a/", 0) == 0) objectsByLabel[label]++;
        else ++unaccounted;
      }
    }
    close();
  }

  // Keys and their versions, from the API.
  int destroyScheduled = 0, failedKeys = 0, versionsWithOneObject = 0, versionsWrong = 0;
  std::set<std::string> uids;
  auto list = admin->list(kKeys, kNs);
  if (list.ok())
    for (const auto& k : (*list)["items"]) {
      destroyScheduled += state(k) == "DestroyScheduled";
      failedKeys += state(k) == "Failed";
      const std::string uid = getString(k, "metadata.uid");
      uids.insert(uid);
      for (int v = 1; v <= (opt.steady ? 1 : 2); ++v) {
        const std::string label = "keygate/tenant-a/" + uid + "/v" + std::to_string(v);
        int objects = objectsByLabel[label];
        if (kmsDirect) {
          auto found = kmsDirect->locate(kNs, label);
          objects = found.ok() ? static_cast<int>(found->size()) : -1;
        }
        if (objects != 1 && versionsWrong < 10) std::fprintf(stderr, "%s: %d objects\n", label.c_str(), objects);
        (objects == 1 ? versionsWithOneObject : versionsWrong)++;
        objectsByLabel.erase(label);
      }
    }
  const int objectsOfNoKey = static_cast<int>(objectsByLabel.size()) + unaccounted;

  // The audit trail: at least once, duplicates recognised by (event, keyUid, version).
  std::map<std::tuple<std::string, std::string, int64_t>, int> records;
  int activatedWithoutApproval = 0, strayDisabled = 0, strayDestroyed = 0;
  // An approval activates once: a version activated again (after a deactivation) by a request
  // that activated it before used an approval twice (each replica's file in its own order).
  int reactivated = 0;
  for (const std::string& file :
       opt.replicas == 2 ? std::vector<std::string>{auditFile, dir.path() + "/state/audit-1/audit.log"}
                         : std::vector<std::string>{auditFile}) {
    std::istringstream in(readAll(file));
    // Per version: the requests that activated it, and the one since its last deactivation
    // (the same record again before a deactivation is an at-least-once duplicate).
    std::map<std::pair<std::string, int64_t>, std::set<std::string>> usedRequests;
    std::map<std::pair<std::string, int64_t>, std::string> currentRequest;
    std::string line;
    while (std::getline(in, line)) {
      auto j = parseJson(line);
      if (!j.ok() || !j->is_object()) continue;
      const std::string ev = j->value("event", "");
      strayDisabled += ev == "StrayObjectDisabled";
      strayDestroyed += ev == "StrayObjectDestroyed";
      const std::pair<std::string, int64_t> version{j->value("keyUid", ""), j->value("version", int64_t(0))};
      records[{ev, version.first, version.second}]++;
      if (ev == "KeyDeactivated") currentRequest.erase(version);
      if (ev == "KeyActivated") {
        const std::string request = j->value("request", "");
        auto cur = currentRequest.find(version);
        if (cur == currentRequest.end() || cur->second != request) {
          if (!usedRequests[version].insert(request).second && ++reactivated <= 10)
            std::fprintf(stderr, "version %s v%lld activated again by request %s: %s\n", version.first.c_str(),
                         static_cast<long long>(version.second), request.c_str(), line.c_str());
          currentRequest[version] = request;
        }
      }
      if (ev == "KeyActivated" && (!j->contains("approvers") || (*j)["approvers"] != Json::array({"bob"})))
        ++activatedWithoutApproval;
    }
  }
  int missing = 0, duplicates = 0;
  for (const std::string& uid : opt.steady ? std::set<std::string>{} : uids)
    for (auto [ev, v] : std::vector<std::pair<std::string, int>>{
             {"KeyGenerated", 1}, {"KeyActivated", 1}, {"KeyGenerated", 2}, {"KeyActivated", 2}, {"KeyDeactivated", 1},
             {"KeyDeactivated", 2}}) {
      auto it = records.find({ev, uid, v});
      if (it == records.end()) {
        if (++missing <= 10) std::fprintf(stderr, "missing audit record: %s of %s v%d\n", ev.c_str(), uid.c_str(), v);
      } else {
        duplicates += it->second - 1;
      }
    }

  if (opt.steady)
    std::printf("steady soak: %d s, %d keys deactivated and re-activated by new requests over and over%s\n",
                opt.soakSeconds, workers, opt.kills ? "" : ", no kills");
  else if (soak)
    std::printf("soak: %d s, %d workers, each key created, taken through its life and deleted%s\n", opt.soakSeconds,
                workers, opt.kills ? "" : ", no kills");
  else
    std::printf("chaos: %d keys by %d workers", keys, workers);
  if (opt.kills) std::printf(", SIGKILL every %d-%d ms", minMs, maxMs);
  if (opt.faultRate > 0) std::printf(", %.0f%% of the operator's requests faulted", 100 * opt.faultRate);
  std::printf("\n\n");
  if (opt.faultRate > 0) {
    std::printf("faults injected:");
    for (const auto& [kind, n] : injected.items()) std::printf(" %s %d", kind.c_str(), n.get<int>());
    std::printf("\n");
  }
  std::printf("operator requests by outcome:");
  for (const auto& [outcome, n] : byOutcome) std::printf(" %s %d", outcome.c_str(), n);
  std::printf("\nconflicts the API server found (not injected):");
  for (const auto& [what, n] : conflicts) std::printf(" %s %d;", what.c_str(), n);
  std::printf("\n\n");
  if (opt.replicas == 2) {
    std::printf("leader takeovers after a SIGKILL (s):");
    double worst = 0;
    for (double t : takeovers) std::printf(" %.1f", t), worst = std::max(worst, t);
    double worstFromRenewal = 0;
    for (double t : takeoversFromRenewal) worstFromRenewal = std::max(worstFromRenewal, t);
    std::printf("\nslowest takeover %.1f s after the kill, %.1f s after the dead leader's last renewal (leaseDuration 4s, "
                "retryPeriod 500ms)\nwrites by replica:",
                worst, worstFromRenewal);
    for (const auto& [who, n] : writesByReplica) std::printf(" %s %d", who.c_str(), n);
    std::printf("\n\n");
  }
  if (soak) {
    std::printf("%8s %10s %6s %8s %6s %10s\n", "seconds", "RSS MiB", "fds", "threads", "tcp", "pkcs11");
    for (const auto& p : samples) printSample(p);
    std::printf("\n");
  }
  std::printf("%-56s %10s\n", "figure", "value");
  std::printf("%-56s %10d\n", "SIGKILLs during the workload", kills.load());
  std::printf("%-56s %10.1f\n", "workload seconds", workloadSecs);
  std::printf("%-56s %10d\n", opt.steady ? "deactivate/re-activate cycles" : "keys that finished every step",
              finished.load());
  std::printf("%-56s %10d\n", "keys DestroyScheduled in the API", destroyScheduled);
  std::printf("%-56s %10d\n", "keys Failed in the API", failedKeys);
  std::printf("%-56s %10d\n", "versions with exactly one token object", versionsWithOneObject);
  std::printf("%-56s %10d\n", "versions with none or several", versionsWrong);
  std::printf("%-56s %10d\n",
              opt.steady ? "token objects of no key"
              : soak ? "token objects of deleted keys (Retained, not checked)"
              : kms  ? "objects of no key (not checked on the KMIP server)"
                     : "token objects of no key, after the last sweep",
              objectsOfNoKey);
  std::printf("%-56s %10d\n", "strays disabled / destroyed (audit)", strayDisabled);
  std::printf("%-56s %10d\n", "", strayDestroyed);
  std::printf("%-56s %10d\n", "activations without bob's approval", activatedWithoutApproval);
  std::printf("%-56s %10d\n", "activations by a request that had activated before", reactivated);
  std::printf("%-56s %10d\n", "lifecycle audit records missing", missing);
  std::printf("%-56s %10d\n", "lifecycle audit records written twice or more (extra)", duplicates);
  std::printf("%-56s %10d\n", "operator restarts after exiting on its own", exits.load());
  std::printf("%-56s %10d\n", "workload writes refused: no webhook answered (retried)", webhookRefusals.load());
  if (opt.replicas == 2) {
    std::printf("%-56s %10d\n", "writes by the Lease holder", writesByLeader);
    std::printf("%-56s %10d\n", "writes by a replica not holding the Lease", writesByNonLeader);
    std::printf("%-56s %10s\n", "second replica stopped cleanly (SIGTERM, exit 0)", replicaStoppedCleanly ? "yes" : "no");
  }
  std::printf("%-56s %10.1f\n", "operator API requests/s during the workload", operatorRequests / workloadSecs);
  std::printf("%-56s %10d\n", "operator API requests in the busiest second", busiestSecond);
  std::printf("%-56s %10.1f\n", opt.steady ? "operator API requests per cycle" : "operator API requests per key",
              finished > 0 ? double(operatorRequests) / finished : 0.0);
  std::printf("%-56s %10s\n", "last stop clean (SIGTERM, exit 0)", stoppedCleanly ? "yes" : "no");
  const bool ok =
      failed == 0 && stoppedCleanly && activatedWithoutApproval == 0 && reactivated == 0 && writesByNonLeader == 0 && replicaStoppedCleanly &&
      (opt.steady ? finished > 0 && failedKeys == 0 && versionsWrong == 0 && objectsOfNoKey == 0
       : soak     ? finished > 0 && destroyScheduled == 0
            : finished == keys && destroyScheduled == keys && versionsWrong == 0 && objectsOfNoKey == 0 && missing == 0);
  if (!ok) {
    std::printf("\nFAILED; token listing:\n%s\n", listing.c_str());
    // What the last two starts said about leadership, stray sweeps and anything at warn.
    for (int n = std::max(0, op.starts() - 2); n < op.starts(); ++n) {
      std::istringstream in(readAll(op.logOf(n)));
      std::printf("operator start %d (leader, sweep, stray, warn lines):\n", n);
      for (std::string line; std::getline(in, line);)
        if (line.find("stray") != std::string::npos || line.find("Stray") != std::string::npos ||
            line.find("sweep") != std::string::npos || line.find("leader") != std::string::npos ||
            line.find("warn") != std::string::npos)
          std::printf("  %s\n", line.substr(0, 400).c_str());
    }
  }
  return ok ? 0 : 1;
}

// EncryptionKey create -> PreActive with the `keygate operator` binary itself, started the way
// users start it (its default client configuration, deploy/'s RBAC, webhooks registered), against
// the test API server; as a ratio to raw SoftHSM2 token-object AES-256 generation on the same
// machine, measured before and after: a tight C_GenerateKey loop in one session, and the same
// loop over the calls the backend makes on SoftHSM2 (a session key copied into the token).
// Prints a table; never asserts on time.
//
//   operator_bench [N=400] [clients=4] [--kube-api-qps=Q] [--kube-api-burst=B] [--no-apf]
//                  [--other-tenant] [--operator-arg=ARG ...]
//
// clients: parallel creators (as 4 kubectl processes would be). --kube-api-qps/--kube-api-burst
// are passed to the binary (unset: its default, auto). --no-apf: the test API server sends no
// API Priority and Fairness headers (a server that has APF off, or a proxy that strips them).
// --operator-arg=ARG: ARG is added to the operator's command line (--operator-arg=--http-threads=1).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backends/pkcs11/create_objects.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/templates.h"
#include "common/log.h"
#include "proc_stats.h"
#include "support/http_get.h"
#include "e2e/operator/operator_process.h"
#include "support/softhsm_temp_dir.h"

using namespace keygate;
using namespace keygate::e2e;
using SteadyClock = std::chrono::steady_clock;

namespace {

using keygate::bench::processCpuMs;
using keygate::bench::threadCpuMsByName;

// Seconds spent inside backend calls so far, by operation, from the operator's own
// keygate_backend_operation_duration_seconds histogram (the _sum series): wall time, which
// includes waiting for the token, so not the backend's CPU.
std::map<std::string, double> backendSeconds(int metricsPort) {
  std::map<std::string, double> out;
  auto m = keygate::metrics::testing::httpGet(metricsPort, "/metrics");
  std::istringstream in(m.body);
  std::string line;
  const std::string series = "keygate_backend_operation_duration_seconds_sum{";
  while (std::getline(in, line)) {
    if (line.rfind(series, 0) != 0) continue;
    auto at = line.find("operation=\"");
    auto close = line.rfind('}');
    if (at == std::string::npos || close == std::string::npos) continue;
    at += 11;
    out[line.substr(at, line.find('"', at) - at)] += std::stod(line.substr(close + 2));
  }
  return out;
}


// Raw keys/s: n AES-256 token objects in one session, nothing else (the token to itself);
// staged: the calls the backend makes on SoftHSM2 (create_objects.h: a session key copied
// into the token), else one C_GenerateKey into the token.
double rawRate(backends::pkcs11::Pkcs11Backend& backend, int n, int salt, bool staged) {
  using namespace backends;
  using namespace backends::pkcs11;
  auto token = backend.tokenFor("bench-raw");
  if (!token.ok()) return 0;
  Cryptoki& ck = *backend.cryptoki();
  double secs = 0;
  (void)(*token)->withSession<bool>([&](Session& s) -> Result<bool> {
    auto t0 = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      GenerationTemplate g = generationTemplate(
          KeySpec{KeyRef{"bench-raw", "raw-" + std::to_string(salt) + "-" + std::to_string(i), 1}, Purpose::kEncrypt,
                  Algorithm::kAes256});
      if (staged) {
        (void)generateObjects(ck, s.handle(), g, "raw", true);
        continue;
      }
      CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
      CK_OBJECT_HANDLE k;
      (void)ck.generateKey(s.handle(), m, g.secret.span(), &k);
    }
    secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    return true;
  }, Token::Access::kExclusive);
  return secs > 0 ? n / secs : 0;
}

std::string flagValue(const std::vector<std::string>& args, const std::string& name) {
  for (const auto& a : args)
    if (a.rfind(name + "=", 0) == 0) return a.substr(name.size() + 1);
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args, positional;
  for (int i = 1; i < argc; ++i) (std::string(argv[i]).rfind("--", 0) == 0 ? args : positional).push_back(argv[i]);
  const int n = positional.size() > 0 ? std::max(1, std::atoi(positional[0].c_str())) : 400;
  const int clients = positional.size() > 1 ? std::clamp(std::atoi(positional[1].c_str()), 1, 64) : 4;
  const std::string qps = flagValue(args, "--kube-api-qps"), burst = flagValue(args, "--kube-api-burst");
  const bool apf = std::find(args.begin(), args.end(), "--no-apf") == args.end();
  // --other-tenant: once tenant-a's creates are all in, one key in tenant-b: how long it waits
  // behind tenant-a's backlog (per-tenant fairness of the work queue).
  const bool otherTenant = std::find(args.begin(), args.end(), "--other-tenant") != args.end();
  log::configure(log::Level::kError, log::Format::kText);

  keygate::testing::TestApiServerOptions so;
  so.namespaces = {"default", "keygate-system", "tenant-a", "tenant-b"};
  auto server = keygate::testing::TestApiServer::start(so);
  if (!server.ok()) {
    std::fprintf(stderr, "test API server: %s\n", server.error().toString().c_str());
    return 1;
  }
  if (!apf) (void)(*server)->control("POST", "/__test/apf", {{"enabled", false}});
  auto admin = (*server)->adminClient();
  keygate::testing::TempDir dir("keygate-operator-bench");
  // The binary's own defaults, except that the e2e config sets workers: 2 (the default is 4).
  std::vector<std::string> extra{"--workers", "4"};
  if (!qps.empty()) extra.insert(extra.end(), {"--kube-api-qps", qps});
  if (!burst.empty()) extra.insert(extra.end(), {"--kube-api-burst", burst});
  // --operator-arg=X: X is passed to `keygate operator` (e.g. --operator-arg=--http-threads=1).
  constexpr std::string_view kOperatorArg = "--operator-arg=";
  for (const auto& a : args)
    if (a.rfind(kOperatorArg, 0) == 0) extra.push_back(a.substr(kOperatorArg.size()));
  StartedOperator op = startOperatorWithWebhooks(**server, *admin, dir, "", "", "", extra);
  if (!op.ready) {
    std::fprintf(stderr, "the operator did not become ready:\n%s\n", readAll(op.proc.log).c_str());
    return 1;
  }

  // Raw SoftHSM in this process (its own token directory), before and after the e2e run.
  keygate::testing::SoftHsmTempDir softhsm;
  auto store = std::make_shared<backends::MemorySecretStore>();
  backends::pkcs11::Pkcs11BackendOptions bo;
  bo.name = "raw";
  bo.modulePath = KEYGATE_SOFTHSM2_MODULE;
  auto raw = backends::pkcs11::Pkcs11Backend::open(bo, store);
  if (!raw.ok()) {
    std::fprintf(stderr, "%s\n", raw.error().toString().c_str());
    return 1;
  }
  (void)rawRate(**raw, 5, 0, false);  // token initialisation outside the timing
  const double raw1 = rawRate(**raw, std::max(1, n / 2), 1, false);
  const double staged1 = rawRate(**raw, std::max(1, n / 2), 3, true);

  const kube::Resource keysResource = kube::resources::encryptionKeys();
  auto preActiveIn = [&](const std::string& ns, const std::string& name) {
    auto k = admin->get(keysResource, ns, name);
    return k.ok() && getString(*k, "status.state") == "PreActive";
  };
  if (otherTenant) {  // tenant-b's token exists before the measurement (its first key makes it)
    Json warm = keygateObject("EncryptionKey", "warm", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}});
    if (!createThroughWebhook(*admin, keysResource, "tenant-b", warm).ok() ||
        !waitUntil([&] { return preActiveIn("tenant-b", "warm"); }, std::chrono::seconds(60))) {
      std::fprintf(stderr, "tenant-b's first key did not reach PreActive\n");
      return 1;
    }
  }
  (void)(*server)->control("DELETE", "/__test/requests");
  const double cpu0 = processCpuMs(op.proc.pid);
  const auto threads0 = threadCpuMsByName(op.proc.pid);
  const auto backend0 = backendSeconds(op.metricsPort);
  const auto t0 = SteadyClock::now();
  std::atomic<int> createFailures{0};
  std::vector<std::thread> creators;
  for (int c = 0; c < clients; ++c)
    creators.emplace_back([&, c] {
      auto client = (*server)->clientFor("admin");
      for (int i = c; i < n; i += clients) {
        Json key = keygateObject("EncryptionKey", "k-" + std::to_string(i),
                                 {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}});
        if (!createThroughWebhook(*client, kube::resources::encryptionKeys(), "tenant-a", key).ok()) ++createFailures;
      }
    });
  for (auto& t : creators) t.join();
  const double createSecs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  double otherSecs = -1;
  int backlogThen = -1;
  if (otherTenant) {
    const auto o0 = SteadyClock::now();
    Json other = keygateObject("EncryptionKey", "other", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}});
    if (createThroughWebhook(*admin, keysResource, "tenant-b", other).ok() &&
        waitUntil([&] { return preActiveIn("tenant-b", "other"); }, std::chrono::seconds(60 + n))) {
      otherSecs = std::chrono::duration<double>(SteadyClock::now() - o0).count();
      auto list = admin->list(keysResource, "tenant-a");
      backlogThen = 0;
      if (list.ok())
        for (const auto& k : (*list)["items"]) backlogThen += getString(k, "status.state") != "PreActive";
    }
  }
  int preActive = 0;
  const auto deadline = t0 + std::chrono::seconds(60 + n);
  while (SteadyClock::now() < deadline) {
    auto list = admin->list(kube::resources::encryptionKeys(), "tenant-a");
    preActive = 0;
    if (list.ok())
      for (const auto& k : (*list)["items"]) preActive += getString(k, "status.state") == "PreActive";
    if (preActive >= n - createFailures) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double e2eSecs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const double cpuMs = processCpuMs(op.proc.pid) - cpu0;
  std::map<std::string, double> threadMs = threadCpuMsByName(op.proc.pid);
  for (const auto& [name, ms] : threads0) threadMs[name] -= ms;
  std::map<std::string, double> backendMs = backendSeconds(op.metricsPort);
  for (auto& [operation, secs] : backendMs) secs = 1000.0 * (secs - (backend0.count(operation) ? backend0.at(operation) : 0.0));
  int operatorRequests = 0, throttled = 0;
  std::map<std::string, int> byKind;  // "PATCH encryptionkeys/status" -> count
  if (auto log = (*server)->control("GET", "/__test/requests"); log.ok())
    for (const auto& r : *log) {
      if (r.value("user", "") != kOperatorUser) continue;
      ++operatorRequests;
      throttled += r.value("code", 0) == 429;
      std::string path = r.value("path", "");
      path = path.substr(0, path.find('?'));
      std::string what = path.rfind("/apis/coordination", 0) == 0 ? "leases" : "";
      if (what.empty()) {  // the resource (and subresource) after the namespace's name
        auto at = path.find("/namespaces/");
        if (at != std::string::npos) {
          std::string rest = path.substr(path.find('/', at + 12) + 1);
          auto slash = rest.find('/');
          std::string res = rest.substr(0, slash);
          auto sub = slash == std::string::npos ? std::string::npos : rest.find('/', slash + 1);
          what = res + (sub == std::string::npos ? "" : "/" + rest.substr(sub + 1));
        } else {
          what = path;
        }
      }
      byKind[r.value("verb", "") + " " + what]++;
    }
  const double raw2 = rawRate(**raw, std::max(1, n / 2), 2, false);
  const double staged2 = rawRate(**raw, std::max(1, n / 2), 4, true);
  const double rawAvg = (raw1 + raw2) / 2, stagedAvg = (staged1 + staged2) / 2, e2eRate = preActive / e2eSecs;

  std::string mode = "?";
  {
    std::string log = readAll(op.proc.log);
    auto at = log.find("\"rateLimit\":\"");
    if (at != std::string::npos) mode = log.substr(at + 13, log.find('"', at + 13) - at - 13);
  }
  stopOperator(op);

  std::printf("keygate operator binary, %d AES-256 keys created by %d clients through the webhook; API server %s APF headers\n",
              n, clients, apf ? "sends" : "does not send");
  std::printf("client rate limit (the binary's log): %s\n\n", mode.c_str());
  std::printf("%-44s %10s\n", "figure", "value");
  std::printf("%-44s %10.1f\n", "raw C_GenerateKey keys/s (before)", raw1);
  std::printf("%-44s %10.1f\n", "raw C_GenerateKey keys/s (after)", raw2);
  std::printf("%-44s %10.1f\n", "raw staged create keys/s (before)", staged1);
  std::printf("%-44s %10.1f\n", "raw staged create keys/s (after)", staged2);
  std::printf("%-44s %10.2f\n", "creates done (s)", createSecs);
  std::printf("%-44s %10.2f\n", "last key PreActive (s)", e2eSecs);
  std::printf("%-44s %10.1f\n", "create -> PreActive keys/s", e2eRate);
  std::printf("%-44s %10.2f\n", "ratio to raw C_GenerateKey", rawAvg > 0 ? e2eRate / rawAvg : 0.0);
  std::printf("%-44s %10.2f\n", "ratio to raw staged create (the binary's path)", stagedAvg > 0 ? e2eRate / stagedAvg : 0.0);
  std::printf("%-44s %10.2f\n", "operator API requests per key", preActive ? double(operatorRequests) / preActive : 0.0);
  std::printf("%-44s %10d\n", "operator requests answered 429", throttled);
  std::printf("%-44s %10.2f\n", "operator CPU ms per key (process, incl. SoftHSM)", preActive ? cpuMs / preActive : 0.0);
  // SoftHSM2 computes in the operator's process: C_GenerateKey runs on the token's creator
  // thread (kg-hsm-create), whose CPU is the backend's share (plus its small dispatch).
  const double hsmThreadMs = threadMs.count("kg-hsm-create") ? threadMs.at("kg-hsm-create") : 0.0;
  std::printf("%-44s %10.2f\n", "  of which the HSM create thread (SoftHSM)", preActive ? hsmThreadMs / preActive : 0.0);
  std::printf("%-44s %10.2f\n", "  operator CPU ms per key beyond the HSM", preActive ? (cpuMs - hsmThreadMs) / preActive : 0.0);
  std::printf("%-44s %10d\n", "keys not PreActive / creates failed", n - preActive);
  if (otherTenant) {
    std::printf("%-44s %10.2f\n", "tenant-b's one key: create -> PreActive (s)", otherSecs);
    std::printf("%-44s %10d\n", "tenant-a keys still not PreActive then", backlogThen);
  }
  std::printf("\nbackend calls, wall ms per key, by operation (includes waiting for the token)\n");
  for (const auto& [operation, ms] : backendMs)
    if (preActive && ms > 0) std::printf("  %-42s %10.3f\n", operation.c_str(), ms / preActive);
  std::printf("\noperator CPU ms per key, by thread (live threads, summed by name; backend calls included)\n");
  double threadSum = 0;
  for (const auto& [name, ms] : threadMs) {
    threadSum += ms;
    if (preActive && ms >= 0.005 * preActive) std::printf("  %-42s %10.3f\n", name.c_str(), ms / preActive);
  }
  if (preActive) std::printf("  %-42s %10.3f\n", "(threads that ended)", (cpuMs - threadSum) / preActive);
  std::printf("\noperator API requests per key, by kind\n");
  for (const auto& [kind, count] : byKind)
    if (preActive) std::printf("  %-42s %10.2f\n", kind.c_str(), double(count) / preActive);
  return preActive == n ? 0 : 1;
}

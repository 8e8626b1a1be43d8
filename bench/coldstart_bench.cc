// Restart at scale (issue 17): the `keygate operator` binary starts against a test API
// server that already holds N EncryptionKeys and must reach Ready, reconcile every key
// once, and write nothing for keys that need nothing (a restart is a no-op resync).
//
// The keys are clones of one key the operator made for real (its finalizer and status
// exactly as the operator writes them), seeded straight into storage. They share the
// template's uid, so every version names the template's object in the tenant's token and
// the paced first describes (health.firstDescribeRateLimit, defaults) find it: describes
// are real, drift is absent. (A real cluster has one object per key; the HSM's describe
// cost per key is the same.) All keys live in one namespace for that reason.
//
// Fairness at that scale: tenant-b holds one key (its token exists). As soon as the restarted
// operator is Ready, with tenant-a's N keys still waiting for their first reconcile, a key is
// created in tenant-b; the bench prints its create -> PreActive time and how many of
// tenant-a's keys had been reconciled by then (the work queue is fair across namespaces).
//
// Usage: coldstart_bench [N=10000]. Prints figures; asserts nothing on time.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "e2e/operator/operator_process.h"
#include "proc_stats.h"

namespace {

using namespace keygate;
using namespace keygate::e2e;
using bench::processCpuMs;
using bench::processRssKiB;
using Steady = std::chrono::steady_clock;

double since(Steady::time_point t) { return std::chrono::duration<double>(Steady::now() - t).count(); }

// Sum of a metric's samples whose label set contains every `match` (e.g. controller="encryptionkey").
double metricSum(const std::string& text, const std::string& name, const std::vector<std::string>& match = {}) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    bool ok = true;
    for (const auto& m : match) ok = ok && line.find(m) != std::string::npos;
    if (ok) sum += std::atof(line.substr(line.rfind(' ') + 1).c_str());
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10000;
  log::configure(log::Level::kError, log::Format::kText);
  keygate::testing::TestApiServerOptions so;
  so.namespaces = {"default", "keygate-system", "tenant-a", "tenant-b"};
  auto server = keygate::testing::TestApiServer::start(so);
  if (!server.ok()) {
    std::fprintf(stderr, "test API server: %s\n", server.error().toString().c_str());
    return 1;
  }
  auto admin = (*server)->adminClient();
  keygate::testing::TempDir dir("keygate-coldstart-bench");
  const kube::Resource keys = kube::resources::encryptionKeys();

  // 1. One key made for real.
  StartedOperator first = startOperatorWithWebhooks(**server, *admin, dir);
  if (!first.ready) return 1;
  auto made = createThroughWebhook(*admin, keys, "tenant-a",
                                   keygateObject("EncryptionKey", "template",
                                                 {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}));
  if (!made.ok()) {
    std::fprintf(stderr, "template key: %s\n", made.error().toString().c_str());
    return 1;
  }
  Json tmpl;
  bool settled = waitUntil([&] {
    auto k = admin->get(keys, "tenant-a", "template");
    if (!k.ok() || getString(*k, "status.state") != "PreActive") return false;
    tmpl = *k;
    return true;
  });
  if (!settled) {
    std::fprintf(stderr, "the template key did not reach PreActive:\n%s\n", readAll(first.proc.log).c_str());
    return 1;
  }
  // tenant-b's first key: its token exists before the restart.
  auto warm = createThroughWebhook(*admin, keys, "tenant-b",
                                   keygateObject("EncryptionKey", "b-first",
                                                 {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}));
  if (!warm.ok() || !waitUntil([&] {
        auto k = admin->get(keys, "tenant-b", "b-first");
        return k.ok() && getString(*k, "status.state") == "PreActive";
      })) {
    std::fprintf(stderr, "tenant-b's first key did not reach PreActive:\n%s\n", readAll(first.proc.log).c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // its last status write and Event
  tmpl = admin->get(keys, "tenant-a", "template").value();
  stopOperator(first);

  // 2. N clones straight into storage.
  tmpl["metadata"].erase("managedFields");
  tmpl["metadata"].erase("resourceVersion");
  auto seeded0 = Steady::now();
  constexpr int kBatch = 5000;
  for (int from = 0; from < n; from += kBatch) {
    Json items = Json::array();
    for (int i = from; i < std::min(n, from + kBatch); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "k-%07d", i);
      Json o = tmpl;
      o["metadata"]["name"] = name;
      items.push_back({{"path", std::string("/apis/keygate.dev/v1alpha1/namespaces/tenant-a/encryptionkeys/") + name},
                       {"object", std::move(o)}});
    }
    auto w = (*server)->control("POST", "/__test/storage", {{"items", std::move(items)}});
    if (!w.ok()) {
      std::fprintf(stderr, "seeding: %s\n", w.error().toString().c_str());
      return 1;
    }
  }
  const double seedSec = since(seeded0);
  (void)(*server)->control("DELETE", "/__test/requests");
  const double serverCpu0 = processCpuMs((*server)->pid());

  // 3. The operator starts on them.
  std::vector<std::string> args{KEYGATE_BINARY, "operator", "--config", dir.path() + "/config.yaml", "--kubeconfig",
                                (*server)->writeKubeconfig(kOperatorUser), "--pod-name", "keygate-0", "--workers", "4"};
  auto t0 = Steady::now();
  Proc proc = spawn(args, dir.path() + "/operator-restart.log");
  const int health = first.healthPort, metricsPort = first.metricsPort;
  auto deadline = t0 + std::chrono::minutes(15);
  while (metrics::testing::httpGet(health, "/readyz").status != 200 && Steady::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double readySec = since(t0);
  const double readyCpu = processCpuMs(proc.pid);
  const long readyRss = processRssKiB(proc.pid);
  std::string text;
  // 4. Another tenant's key while tenant-a's backlog waits.
  auto probe0 = Steady::now();
  double probeSec = -1, reconciledAtProbe = -1;
  auto probe = createThroughWebhook(*admin, keys, "tenant-b",
                                    keygateObject("EncryptionKey", "b-probe",
                                                  {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}));
  if (probe.ok()) {
    while (Steady::now() < deadline) {
      auto k = admin->get(keys, "tenant-b", "b-probe");
      if (k.ok() && getString(*k, "status.state") == "PreActive") {
        probeSec = since(probe0);
        text = metrics::testing::httpGet(metricsPort, "/metrics").body;
        reconciledAtProbe = metricSum(text, "keygate_reconcile_total", {"controller=\"encryptionkey\""});
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  } else {
    std::fprintf(stderr, "tenant-b probe key: %s\n", probe.error().toString().c_str());
  }
  const int expectReconciles = n + 3;  // tenant-a: template + clones; tenant-b: two keys
  double reconciled = 0;
  while (Steady::now() < deadline) {
    text = metrics::testing::httpGet(metricsPort, "/metrics").body;
    reconciled = metricSum(text, "keygate_reconcile_total", {"controller=\"encryptionkey\""});
    if (reconciled >= expectReconciles) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double reconciledSec = since(t0);
  const double reconciledCpu = processCpuMs(proc.pid);
  const long reconciledRss = processRssKiB(proc.pid);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // anything the reconciles would still write
  text = metrics::testing::httpGet(metricsPort, "/metrics").body;
  const double describes = metricSum(text, "keygate_backend_operations_total", {"operation=\"describe\""});
  const double scheduled = metricSum(text, "keygate_backend_first_describes_scheduled");
  const double serverCpu = processCpuMs((*server)->pid()) - serverCpu0;

  std::map<std::string, int> writes;
  int reads = 0;
  auto log = (*server)->control("GET", "/__test/requests");
  if (log.ok())
    for (const Json& r : *log) {
      if (getString(r, "user") != kOperatorUser) continue;
      std::string verb = getString(r, "verb"), path = getString(r, "path");
      if (verb == "get" || verb == "list" || verb == "watch") {
        ++reads;
        continue;
      }
      std::string what = path.find("/namespaces/tenant-b/") != std::string::npos ? "tenant-b (the new key)"
                         : path.find("/encryptionkeys") != std::string::npos ? "encryptionkeys"
                         : path.find("/leases") != std::string::npos      ? "leases"
                         : path.find("/events") != std::string::npos      ? "events"
                                                                          : path;
      writes[verb + " " + what]++;
    }
  kill(proc.pid, SIGTERM);
  int rc = waitExit(proc.pid, std::chrono::seconds(30));

  std::printf("%-52s %12s\n", "metric", "value");
  std::printf("%-52s %12d\n", "EncryptionKeys at the restart", n + 2);
  std::printf("%-52s %12.2f\n", "seeding (s)", seedSec);
  std::printf("%-52s %12.2f\n", "start -> /readyz 200 (s)", readySec);
  std::printf("%-52s %12.0f\n", "operator CPU at Ready (ms)", readyCpu);
  std::printf("%-52s %12.1f\n", "operator RSS at Ready (MiB)", readyRss / 1024.0);
  std::printf("%-52s %12.2f\n", "start -> every key reconciled once (s)", reconciledSec);
  std::printf("%-52s %12.0f\n", "reconciles counted", reconciled);
  std::printf("%-52s %12.0f\n", "operator CPU until then (ms)", reconciledCpu);
  std::printf("%-52s %12.3f\n", "operator CPU per key (ms)", reconciledCpu / (n + 3));
  std::printf("%-52s %12.1f\n", "operator RSS then (MiB)", reconciledRss / 1024.0);
  std::printf("%-52s %12.0f\n", "test API server CPU meanwhile (ms)", serverCpu);
  std::printf("%-52s %12.3f\n", "tenant-b key created at Ready: -> PreActive (s)", probeSec);
  std::printf("%-52s %12.0f\n", "  keys reconciled by then (of all)", reconciledAtProbe);
  std::printf("%-52s %12.0f\n", "describes so far (paced: burst 100, then 50/s)", describes);
  std::printf("%-52s %12.0f\n", "first describes still scheduled", scheduled);
  std::printf("%-52s %12d\n", "operator API reads (list/watch/get)", reads);
  int keyWrites = 0;
  for (const auto& [what, count] : writes) {
    std::printf("%-52s %12d\n", ("operator writes: " + what).c_str(), count);
    if (what.find("encryptionkeys") != std::string::npos) keyWrites += count;
  }
  std::printf("%-52s %12d\n", "operator writes to tenant-a's EncryptionKeys", keyWrites);
  if (rc != 0) std::fprintf(stderr, "operator exit %d:\n%s\n", rc, readAll(proc.log).substr(0, 4000).c_str());
  return reconciled >= expectReconciles && probeSec >= 0 && rc == 0 ? 0 : 1;
}

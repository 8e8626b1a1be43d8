// Approval -> Active latency through the operator (test API server + informers + the
// EncryptionKey controller + SoftHSM2), against the HSM's own share (activate + self test
// called directly on comparable keys). The request is marked Approved the way the request
// controller does, so the figure is the key path from "approved" to "Active" observed by a
// watcher. Prints p50/p99; never asserts on time.
//
//   activation_latency_bench [N=50]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "backends/pkcs11/pkcs11_backend.h"
#include "common/log.h"
#include "support/softhsm_temp_dir.h"
#include "harness/key_operator.h"
#include "kube/informer.h"

using namespace keygate;
using SteadyClock = std::chrono::steady_clock;

namespace {
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::max(1, std::atoi(argv[1])) : 50;
  log::configure(log::Level::kError, log::Format::kText);
  testing::SoftHsmTempDir softhsm;  // before the module loads
  backends::pkcs11::Pkcs11BackendOptions o;
  o.name = "softhsm";
  o.modulePath = KEYGATE_SOFTHSM2_MODULE;
  auto opened = backends::pkcs11::Pkcs11Backend::open(o, std::make_shared<backends::MemorySecretStore>());
  if (!opened.ok()) return 1;
  backends::KeyBackend* backend = opened->get();

  // The HSM's share: activate + self test on comparable keys, directly.
  std::vector<double> hsm;
  for (int i = 0; i < n; ++i) {
    backends::KeySpec spec{{"bench-direct", "direct-" + std::to_string(i), 1}, backends::Purpose::kSign,
                           backends::Algorithm::kEcP256};
    if (!backend->generate(spec).ok()) return 1;
    auto t0 = SteadyClock::now();
    if (!backend->activate(spec).ok() || !backend->selfTest(spec).ok()) return 1;
    hsm.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
  }

  testing::TestApiServerOptions so;
  so.namespaces = {"default", "keygate-system", "tenant-a"};
  auto server = testing::TestApiServer::start(so);
  if (!server.ok()) return 1;
  controllers::BackendSet set;
  set.add(std::move(*opened));
  testing::KeyOperatorOptions koo;
  koo.policy.knownBackends = {"softhsm"};
  testing::KeyOperator op(**server, &set, koo);
  op.start();

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::string> states;
  kube::Informer watcher((*server)->adminClient(), kube::resources::encryptionKeys());
  auto note = [&](const kube::ObjectPtr& o) {
    std::lock_guard<std::mutex> l(mu);
    states[getString(*o, "metadata.name")] = getString(*o, "status.state");
    cv.notify_all();
  };
  watcher.addHandlers({note, [&](const kube::ObjectPtr&, const kube::ObjectPtr& b) { note(b); }, nullptr});
  watcher.start();
  watcher.waitForSync(std::chrono::seconds(10));
  auto admin = (*server)->adminClient();
  auto waitState = [&](const std::string& name, const std::string& state) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(30), [&] { return states[name] == state; });
  };
  for (int i = 0; i < n; ++i) {
    Json k = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "EncryptionKey"},
              {"metadata", {{"name", "k-" + std::to_string(i)}}},
              {"spec", {{"purpose", "Sign"}, {"algorithm", "EC-P256"}, {"backend", "softhsm"}}}};
    if (!admin->create(kube::resources::encryptionKeys(), "tenant-a", k).ok()) return 1;
  }
  for (int i = 0; i < n; ++i)
    if (!waitState("k-" + std::to_string(i), "PreActive")) return 1;

  std::vector<double> e2e;
  for (int i = 0; i < n; ++i) {
    Json req = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "KeyActivationRequest"},
                {"metadata", {{"name", "r-" + std::to_string(i)}}},
                {"spec", {{"keyRef", {{"name", "k-" + std::to_string(i)}}}, {"reason", "bench"}, {"requester", "alice"}}}};
    auto c = admin->create(kube::resources::keyActivationRequests(), "tenant-a", req);
    if (!c.ok()) return 1;
    Json body = *c;
    body["status"] = {{"phase", "Approved"}, {"approvalsRequired", 1}, {"approvalsReceived", 1}};
    auto t0 = SteadyClock::now();
    if (!admin->update(kube::resources::keyActivationRequests(), "tenant-a", body, "status").ok()) return 1;
    if (!waitState("k-" + std::to_string(i), "Active")) return 1;
    e2e.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
  }
  watcher.stop();
  op.stop();

  std::printf("Approval -> Active latency, EC-P256 Sign keys, N=%d (ms)\n", n);
  std::printf("%-58s %9s %9s\n", "path", "p50", "p99");
  std::printf("%-58s %9.2f %9.2f\n", "approved -> Active seen by a watcher (end to end)", pct(e2e, 0.5), pct(e2e, 0.99));
  std::printf("%-58s %9.2f %9.2f\n", "HSM share: activate + self test, called directly", pct(hsm, 0.5), pct(hsm, 0.99));
  std::printf("%-58s %9.2f %9.2f\n", "beyond the HSM call (end to end minus HSM, by percentile)",
              pct(e2e, 0.5) - pct(hsm, 0.5), pct(e2e, 0.99) - pct(hsm, 0.99));
  return 0;
}

// Approval -> Active latency through the operator (test API server + informers +
// controllers + SoftHSM2), against the HSM's own share (activate + self test called
// directly on comparable keys). Two paths, each over N keys:
//  1. key path: the request is marked Approved (as the request controller does) -> Active
//     seen by a watcher (EncryptionKey controller only).
//  2. whole workflow: the final approver's decision is accepted by the API server (through
//     the real admission webhook over TLS, which stamps and signs it) -> the request
//     controller counts it -> the key controller re-verifies and activates -> Active seen by
//     a watcher. The clock starts when the approver's UPDATE has returned.
// Prints p50/p99; never asserts on time.
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

#include "api/v1alpha1/approval_signing.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "integration/webhook/tls_client.h"
#include "support/temp_dir.h"
#include "support/approval_setup.h"
#include "support/webhook_registration.h"
#include "webhook/admission.h"
#include "webhook/role_view.h"
#include "webhook/server.h"
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
namespace v1 = api::v1alpha1;
namespace res = kube::resources;

// alice requests, bob (KeyApprover through a KeyRoleBinding) gives the one required
// approval through the API server and the webhook; times bob's accepted UPDATE -> Active.
template <typename WaitState>
bool approvalWorkflow(testing::TestApiServer& server, controllers::BackendSet& set, kube::Informer& watcher,
                      WaitState& waitState, int n, std::vector<double>* out) {
  (void)watcher;
  auto admin = server.adminClient();
  v1::Policy policy;
  policy.knownBackends = {"softhsm"};
  auto key = v1::generateSigningKey();
  if (!key.ok()) return false;
  v1::ApprovalSigner signer(*key);
  testing::TempDir dir("keygate-bench-webhook");
  webhook::testing::CertFiles certs;
  if (!webhook::testing::makeCa(dir.path(), "ca", &certs).ok() ||
      !webhook::testing::issueServerCert(dir.path(), certs, "webhook", "keygate-webhook", &certs).ok()) {
    std::fprintf(stderr, "cannot make webhook certificates (openssl CLI)\n");
    return false;
  }
  // The webhook reads bindings and keys from informer caches, as in the operator.
  kube::Informer bindings(admin, res::keyRoleBindings());
  kube::Informer keys(admin, res::encryptionKeys());
  bindings.start();
  keys.start();
  if (!bindings.waitForSync(std::chrono::seconds(10)) || !keys.waitForSync(std::chrono::seconds(10))) return false;
  webhook::CacheRoleView view(bindings.cache(), keys.cache());
  webhook::AdmissionHandler handler(view, signer, policy, realClock());
  webhook::ServerOptions wo;
  wo.host = "127.0.0.1";
  wo.port = 0;
  wo.certFile = certs.cert;
  wo.keyFile = certs.key;
  auto hook = webhook::Server::start(wo, handler);
  if (!hook.ok()) {
    std::fprintf(stderr, "%s\n", hook.error().toString().c_str());
    return false;
  }
  std::ifstream caIn(certs.caCert, std::ios::binary);
  std::string caPem((std::istreambuf_iterator<char>(caIn)), std::istreambuf_iterator<char>());
  if (!testing::registerKeygateWebhooks(*admin, (*hook)->url(), v1::base64Encode(caPem)).ok()) return false;

  // alice may create requests (plain RBAC); bob's approver RBAC comes from the binding controller.
  if (!testing::grantRequestAccess(*admin, "tenant-a", "kar-requester", {"alice"},
                                   {"get", "list", "watch", "create", "update"})
           .ok())
    return false;

  testing::KeyOperatorOptions koo;
  koo.policy = policy;
  koo.approvalWorkflow = true;
  koo.signingKey = *key;
  testing::KeyOperator op(server, &set, koo);
  op.start();
  Json binding = {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", "KeyRoleBinding"},
                  {"metadata", {{"name", "approvers"}, {"namespace", "tenant-a"}}},
                  {"spec", {{"role", "KeyApprover"}, {"subjects", {{{"kind", "User"}, {"name", "bob"}}}},
                            {"reviewBy", "2099-12-31"}}}};
  if (!admin->create(res::keyRoleBindings(), "tenant-a", binding).ok()) return false;
  if (getString(testing::waitForObject(*admin, res::roleBindings(), "tenant-a", "keygate-approvers",
                                       [](const Json&) { return true; }),
                "metadata.name") != "keygate-approvers") {
    std::fprintf(stderr, "the binding controller did not create keygate-approvers\n");
    return false;
  }

  for (int i = 0; i < n; ++i) {
    Json k = {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", "EncryptionKey"},
              {"metadata", {{"name", "w-" + std::to_string(i)}}},
              {"spec", {{"purpose", "Sign"}, {"algorithm", "EC-P256"}, {"backend", "softhsm"},
                        {"activation", {{"requiredApprovals", 1}}}}}};
    if (!admin->create(res::encryptionKeys(), "tenant-a", k).ok()) return false;
  }
  auto alice = server.clientFor("alice");
  auto bob = server.clientFor("bob");
  for (int i = 0; i < n; ++i) {
    const std::string name = "w-" + std::to_string(i);
    if (!waitState(name, "PreActive")) return false;
    Json req = {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", "KeyActivationRequest"},
                {"metadata", {{"name", "wr-" + std::to_string(i)}}},
                {"spec", {{"keyRef", {{"name", name}}}, {"reason", "bench"}, {"changeReference", "CHG-1"}}}};
    auto created = alice->create(res::keyActivationRequests(), "tenant-a", req);
    if (!created.ok()) {
      std::fprintf(stderr, "request: %s\n", created.error().toString().c_str());
      return false;
    }
    // The request controller has seen it (Pending 0/1) before bob decides.
    Json seen = testing::waitForObject(*admin, res::keyActivationRequests(), "tenant-a", "wr-" + std::to_string(i),
                                       [](const Json& r) { return getString(r, "status.phase") == "Pending"; });
    seen["spec"]["approvals"].push_back({{"approver", "bob"}, {"decision", "Approve"}, {"comment", "ok"}});
    auto decided = bob->update(res::keyActivationRequests(), "tenant-a", seen);
    auto t0 = SteadyClock::now();
    if (!decided.ok()) {
      std::fprintf(stderr, "approval: %s\n", decided.error().toString().c_str());
      return false;
    }
    if (!waitState(name, "Active")) {
      std::fprintf(stderr, "%s did not become Active\n", name.c_str());
      return false;
    }
    out->push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
  }
  op.stop();
  (*hook)->stop();
  bindings.stop();
  keys.stop();
  return true;
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
  op.stop();

  // 2. The whole approval workflow, with the webhook the API server calls.
  std::vector<double> full;
  if (!approvalWorkflow(**server, set, watcher, waitState, n, &full)) return 1;
  watcher.stop();

  std::printf("Approval -> Active latency, EC-P256 Sign keys, N=%d (ms)\n", n);
  std::printf("%-58s %9s %9s\n", "path", "p50", "p99");
  std::printf("%-58s %9.2f %9.2f\n", "approved -> Active seen by a watcher (end to end)", pct(e2e, 0.5), pct(e2e, 0.99));
  std::printf("%-58s %9.2f %9.2f\n", "HSM share: activate + self test, called directly", pct(hsm, 0.5), pct(hsm, 0.99));
  std::printf("%-58s %9.2f %9.2f\n", "  beyond the HSM call (minus HSM share, by percentile)",
              pct(e2e, 0.5) - pct(hsm, 0.5), pct(e2e, 0.99) - pct(hsm, 0.99));
  std::printf("%-58s %9.2f %9.2f\n", "final approval accepted -> Active seen (whole workflow)", pct(full, 0.5),
              pct(full, 0.99));
  std::printf("%-58s %9.2f %9.2f\n", "  beyond the HSM call (minus HSM share, by percentile)",
              pct(full, 0.5) - pct(hsm, 0.5), pct(full, 0.99) - pct(hsm, 0.99));
  return 0;
}

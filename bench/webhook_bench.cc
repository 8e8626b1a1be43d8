// Admission latency of the keygate webhook: AdmissionReviews over TLS to a real listener on
// 127.0.0.1 from 200 concurrent clients (keep-alive connections, as kube-apiserver uses, and
// a new TLS connection per request), next to the handler alone (no sockets). The workload is
// the expensive path: an approval UPDATE (mutate: role lookup + specHash + HMAC; validate:
// role, segregation of duties, signature check) and a request CREATE.
//
//   webhook_bench [requests=20000] [concurrency=200]
// (a single keep-alive client first: the latency of one request on an idle server)
// Prints a table; asserts nothing about time.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "api/v1alpha1/codec.h"
#include "common/log.h"
#include "integration/webhook/tls_client.h"
#include "support/temp_dir.h"
#include "webhook/server.h"

using namespace keygate;
using namespace keygate::webhook;
using namespace keygate::api::v1alpha1;
using BenchClock = std::chrono::steady_clock;

namespace {

class StaticRoles final : public RoleView {
 public:
  std::vector<KeyRoleBinding> all;
  std::map<std::string, EncryptionKey> keys;
  std::vector<KeyRoleBinding> bindings(const std::string& ns) const override {
    std::vector<KeyRoleBinding> out;
    for (const auto& b : all)
      if (b.metadata.namespace_ == ns) out.push_back(b);
    return out;
  }
  std::optional<EncryptionKey> key(const std::string& ns, const std::string& name) const override {
    auto it = keys.find(ns + "/" + name);
    if (it == keys.end()) return std::nullopt;
    return it->second;
  }
  std::string namespaceJurisdiction(const std::string&) const override { return ""; }
};

Json reviewOf(const std::string& uid, const std::string& op, const Json& object, const Json& oldObject,
              const std::string& user) {
  Json req = {{"uid", uid},
              {"kind", {{"group", "keygate.dev"}, {"version", "v1alpha1"}, {"kind", "KeyActivationRequest"}}},
              {"resource", {{"group", "keygate.dev"}, {"version", "v1alpha1"}, {"resource", "keyactivationrequests"}}},
              {"name", "activate"},
              {"namespace", "tenant-a"},
              {"operation", op},
              {"userInfo", {{"username", user}, {"uid", "uid-" + user}, {"groups", {"system:authenticated", "approvers"}}}},
              {"object", object},
              {"oldObject", oldObject},
              {"dryRun", false}};
  return {{"kind", "AdmissionReview"}, {"apiVersion", "admission.k8s.io/v1"}, {"request", req}};
}

struct Stats {
  std::vector<double> us;
  int errors = 0;
  double seconds = 0;
};

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * double(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

void row(const char* mode, int concurrency, Stats& s) {
  const size_t n = s.us.size();
  double p50 = pct(s.us, 50), p90 = pct(s.us, 90), p99 = pct(s.us, 99);
  double mx = n ? *std::max_element(s.us.begin(), s.us.end()) : 0;
  std::printf("%-30s %6d %8zu %7d %9.3f %9.3f %9.3f %9.3f %10.0f\n", mode, concurrency, n, s.errors, p50 / 1000,
              p90 / 1000, p99 / 1000, mx / 1000, s.seconds > 0 ? double(n) / s.seconds : 0);
}

}  // namespace

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20000;
  const int concurrency = argc > 2 ? std::max(1, std::atoi(argv[2])) : 200;
  keygate::log::configure(keygate::log::Level::kError, keygate::log::Format::kJson);

  keygate::testing::TempDir dir("keygate-webhook-bench");
  keygate::webhook::testing::CertFiles certs;
  if (!keygate::webhook::testing::makeCa(dir.path(), "ca", &certs).ok() ||
      !keygate::webhook::testing::issueServerCert(dir.path(), certs, "server", "keygate-webhook", &certs).ok()) {
    std::fprintf(stderr, "cannot create certificates with the openssl CLI\n");
    return 1;
  }

  StaticRoles roles;
  EncryptionKey key;
  key.metadata.name = "model-weights";
  key.metadata.namespace_ = "tenant-a";
  key.metadata.uid = "key-uid";
  key.metadata.annotations[std::string(kCreatedByAnnotation)] = "erin";
  key.spec.purpose = Purpose::kSign;
  key.spec.algorithm = Algorithm::kEcP256;
  key.spec.backend = "softhsm";
  roles.keys["tenant-a/model-weights"] = key;
  // A namespace with a realistic number of bindings (the lookup scans them all).
  for (int i = 0; i < 50; ++i) {
    KeyRoleBinding b;
    b.metadata.name = "binding-" + std::to_string(i);
    b.metadata.namespace_ = "tenant-a";
    b.spec.role = i % 2 ? Role::kKeyUser : Role::kKeyApprover;
    b.spec.subjects = {Subject{SubjectKind::kUser, "user-" + std::to_string(i), ""}};
    b.spec.reviewBy = "2099-12-31";
    roles.all.push_back(b);
  }
  KeyRoleBinding approvers;
  approvers.metadata.name = "approvers";
  approvers.metadata.namespace_ = "tenant-a";
  approvers.spec.role = Role::kKeyApprover;
  approvers.spec.subjects = {Subject{SubjectKind::kGroup, "approvers", ""}};
  approvers.spec.reviewBy = "2099-12-31";
  roles.all.push_back(approvers);

  auto signingKey = generateSigningKey();
  ApprovalSigner signer(*signingKey);
  AdmissionHandler handler(roles, signer, Policy{});

  // Bodies: mutate approval UPDATE, validate approval UPDATE (stamped), mutate CREATE.
  KeyActivationRequest oldR;
  oldR.metadata.name = "activate";
  oldR.metadata.namespace_ = "tenant-a";
  oldR.metadata.uid = "kar-uid";
  oldR.spec.keyRef.name = "model-weights";
  oldR.spec.reason = "Production rollout";
  oldR.spec.changeReference = "CHG-1234";
  oldR.spec.requester = "alice";
  oldR.spec.affectedSystems = {"inference-gateway", "model-store"};
  KeyActivationRequest newR = oldR;
  newR.spec.approvals.push_back(Approval{"bob", Decision::kApprove, "ok", "", "", ""});
  const Json mutateUpdate = reviewOf("u1", "UPDATE", encode(newR), encode(oldR), "bob");
  auto m = handler.review(Endpoint::kMutate, *decodeAdmissionRequest(mutateUpdate));
  Json stamped = encode(newR).patch(m.patch);
  const Json validateUpdate = reviewOf("u2", "UPDATE", stamped, encode(oldR), "bob");
  KeyActivationRequest fresh = oldR;
  fresh.metadata.uid.clear();
  const Json mutateCreate = reviewOf("u3", "CREATE", encode(fresh), Json(), "alice");
  struct Call {
    std::string path;
    std::string body;
    Endpoint ep;
  };
  const std::vector<Call> calls = {{"/mutate?timeout=10s", dumpJson(mutateUpdate), Endpoint::kMutate},
                                   {"/validate?timeout=10s", dumpJson(validateUpdate), Endpoint::kValidate},
                                   {"/mutate?timeout=10s", dumpJson(mutateCreate), Endpoint::kMutate}};
  if (!handler.review(Endpoint::kValidate, *decodeAdmissionRequest(validateUpdate)).allowed) {
    std::fprintf(stderr, "bench setup: the stamped approval was not admitted\n");
    return 1;
  }

  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.certFile = certs.cert;
  o.keyFile = certs.key;
  auto server = Server::start(o, handler);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.error().toString().c_str());
    return 1;
  }
  const int port = (*server)->port();

  std::printf("keygate webhook admission latency (ms); %d requests, bodies %zu-%zu bytes\n", requests,
              calls[2].body.size(), calls[1].body.size());
  std::printf("%-30s %6s %8s %7s %9s %9s %9s %9s %10s\n", "mode", "conc", "requests", "errors", "p50", "p90", "p99",
              "max", "req/s");

  // 1. Handler only, one thread.
  {
    Stats s;
    auto t0 = BenchClock::now();
    for (int i = 0; i < requests; ++i) {
      const auto& c = calls[size_t(i) % calls.size()];
      auto a = BenchClock::now();
      auto reply = handler.handle(c.ep, c.body);
      s.us.push_back(std::chrono::duration<double, std::micro>(BenchClock::now() - a).count());
      if (reply.status != 200) ++s.errors;
    }
    s.seconds = std::chrono::duration<double>(BenchClock::now() - t0).count();
    row("handler only (no sockets)", 1, s);
  }

  // 2./3. Over TLS: keep-alive connections, then a new connection per request.
  struct Mode {
    bool keepAlive;
    int concurrency;
    int total;
  };
  const Mode modes[] = {{true, 1, std::max(1, requests / 10)},
                        {true, concurrency, requests},
                        {false, concurrency, std::max(concurrency, requests / 10)}};
  for (const auto& mode : modes) {
    const bool keepAlive = mode.keepAlive;
    const int concurrency = mode.concurrency;
    const int total = mode.total;
    std::vector<Stats> per(static_cast<size_t>(concurrency));
    std::atomic<int> next{0};
    auto t0 = BenchClock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < concurrency; ++t)
      threads.emplace_back([&, t] {
        Stats& s = per[size_t(t)];
        std::unique_ptr<keygate::webhook::testing::TlsConnection> conn;
        for (int i = next++; i < total; i = next++) {
          const auto& c = calls[size_t(i) % calls.size()];
          auto a = BenchClock::now();
          if (!conn || !keepAlive) {
            conn.reset();
            auto cn = keygate::webhook::testing::TlsConnection::connect(port, {certs.caCert, 0, 0, 15});
            if (!cn.ok()) {
              ++s.errors;
              continue;
            }
            conn = std::move(*cn);
          }
          auto r = conn->request("POST", c.path, c.body);
          double us = std::chrono::duration<double, std::micro>(BenchClock::now() - a).count();
          if (!r.ok() || r->status != 200) {
            ++s.errors;
            conn.reset();
            continue;
          }
          s.us.push_back(us);
        }
      });
    for (auto& th : threads) th.join();
    Stats all;
    all.seconds = std::chrono::duration<double>(BenchClock::now() - t0).count();
    for (auto& s : per) {
      all.us.insert(all.us.end(), s.us.begin(), s.us.end());
      all.errors += s.errors;
    }
    row(keepAlive ? "TLS keep-alive" : "TLS new connection each", concurrency, all);
  }
  (*server)->stop();
  return 0;
}

// Raw SoftHSM2 token-object AES-256 generation (tight C_GenerateKey loop, one session)
// against end-to-end EncryptionKey create -> PreActive through the test API server, the
// informers, the EncryptionKey controller and the PKCS#11 backend, as a ratio (goal >= 0.9).
// Also counts API requests per key. Prints a table; never asserts on time.
//
//   key_lifecycle_bench [N=1000] [workers=4]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/templates.h"
#include "common/log.h"
#include "support/softhsm_temp_dir.h"
#include "harness/key_operator.h"
#include "kube/informer.h"

using namespace keygate;
using namespace keygate::backends;
using namespace keygate::backends::pkcs11;
using SteadyClock = std::chrono::steady_clock;

namespace {
std::string uid(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "bench000-0000-4000-8000-%012d", i);
  return buf;
}
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1000;
  const int workers = argc > 2 ? std::max(1, std::atoi(argv[2])) : 4;
  log::configure(log::Level::kError, log::Format::kText);
  testing::SoftHsmTempDir softhsm;  // before the module loads

  auto store = std::make_shared<MemorySecretStore>();
  Pkcs11BackendOptions o;
  o.name = "softhsm";
  o.modulePath = KEYGATE_SOFTHSM2_MODULE;
  auto opened = Pkcs11Backend::open(o, store);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.error().toString().c_str());
    return 1;
  }
  Pkcs11Backend* backend = opened->get();
  Cryptoki& ck = *backend->cryptoki();

  // 1. Raw loop on its own tenant token. Run again after the end-to-end pass: this
  // machine's disk makes single runs vary by +-30%, and the ratio uses the faster raw run
  // (never flattering the operator).
  auto rawToken = backend->tokenFor("bench-raw");
  auto slot = findSlotByLabel(ck, rawToken.ok() ? (*rawToken)->label() : "");
  if (!rawToken.ok() || !slot.ok() || !*slot) return 1;
  int rawFail = 0;
  auto rawRun = [&](int offset) {
    CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
    ck.openSession(**slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &h);
    auto t0 = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      GenerationTemplate g = generationTemplate(
          KeySpec{KeyRef{"bench-raw", uid(offset + i), 1}, Purpose::kEncrypt, Algorithm::kAes256});
      CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
      CK_OBJECT_HANDLE k;
      if (ck.generateKey(h, m, g.secret.span(), &k) != CKR_OK) ++rawFail;
    }
    double rate = n / std::chrono::duration<double>(SteadyClock::now() - t0).count();
    // Leave the raw token as empty as the operator's tenant token was at its start.
    AttributeList all;
    std::vector<CK_OBJECT_HANDLE> objs;
    ck.findObjects(h, all.span(), &objs, static_cast<size_t>(2 * n + 16));
    for (CK_OBJECT_HANDLE o : objs) ck.destroyObject(h, o);
    ck.closeSession(h);
    return rate;
  };
  const double rawBefore = rawRun(0);

  // 2. End to end through the operator.
  testing::TestApiServerOptions so;
  so.namespaces = {"default", "keygate-system", "tenant-a"};
  auto server = testing::TestApiServer::start(so);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.error().toString().c_str());
    return 1;
  }
  controllers::BackendSet set;
  set.add(std::move(*opened));
  (void)backend->tokenFor("tenant-a");  // token initialisation outside the timing, as for raw
  testing::KeyOperatorOptions koo;
  koo.workers = workers;
  koo.policy.knownBackends = {"softhsm"};
  testing::KeyOperator op(**server, &set, koo);
  // Progress is counted on the operator's own informer: a second watch would add its
  // fan-out and decoding to the work being measured.
  std::atomic<int> preActive{0};
  auto count = [&](const kube::ObjectPtr& o, const kube::ObjectPtr& prev) {
    bool now = getString(*o, "status.state") == "PreActive";
    bool before = prev && getString(*prev, "status.state") == "PreActive";
    if (now && !before) preActive++;
  };
  op.addKeyHandlers({[&](const kube::ObjectPtr& o) { count(o, nullptr); },
                     [&](const kube::ObjectPtr& a, const kube::ObjectPtr& b) { count(b, a); }, nullptr});
  op.start();
  (void)(*server)->control("DELETE", "/__test/requests");

  auto tenantToken = backend->tokenFor("tenant-a");
  const auto heldBefore = tenantToken.ok() ? (*tenantToken)->stats() : pkcs11::Token::Stats{};
  auto t1 = SteadyClock::now();
  std::vector<std::thread> creators;
  std::atomic<int> createFail{0};
  for (int t = 0; t < 2; ++t) {
    creators.emplace_back([&, t] {
      auto c = (*server)->adminClient();
      for (int i = t; i < n; i += 2) {
        Json k = {{"apiVersion", "keygate.dev/v1alpha1"},
                  {"kind", "EncryptionKey"},
                  {"metadata", {{"name", "k-" + std::to_string(i)}}},
                  {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}};
        if (!c->create(kube::resources::encryptionKeys(), "tenant-a", k).ok()) createFail++;
      }
    });
  }
  for (auto& c : creators) c.join();
  auto deadline = SteadyClock::now() + std::chrono::seconds(60 + n / 5);
  while (preActive.load() < n - createFail.load() && SteadyClock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  double e2eSecs = std::chrono::duration<double>(SteadyClock::now() - t1).count();
  double e2eRate = preActive.load() / e2eSecs;
  const auto heldAfter = tenantToken.ok() ? (*tenantToken)->stats() : pkcs11::Token::Stats{};
  const uint64_t sections = heldAfter.exclusiveSections - heldBefore.exclusiveSections;
  const double heldSecs = std::chrono::duration<double>(heldAfter.exclusiveHeld - heldBefore.exclusiveHeld).count();
  if (preActive.load() < n - createFail.load()) {
    // Say which keys did not get there, and what the server and the operator's cache have for them.
    auto all = kube::listAll(*(*server)->adminClient(), kube::resources::encryptionKeys(), "tenant-a", {});
    if (all.ok())
      for (const auto& k : all->items)
        if (getString(k, "status.state") != "PreActive") {
          auto cached = op.keyCache().get(kube::objectKey(k));
          std::fprintf(stderr, "not PreActive: %s rv=%s status=%s; operator cache has rv=%s state=%s\n",
                       getString(k, "metadata.name").c_str(), getString(k, "metadata.resourceVersion").c_str(),
                       k.contains("status") ? k["status"].dump().c_str() : "{}",
                       cached ? getString(*cached, "metadata.resourceVersion").c_str() : "-",
                       cached ? getString(*cached, "status.state").c_str() : "-");
        }
  }
  op.stop();  // flushes queued Events, so they are counted too
  auto requests = (*server)->control("GET", "/__test/requests");
  size_t allRequests = requests.ok() && requests->is_array() ? requests->size() : 0;
  server->reset();
  const double rawAfter = rawRun(n);
  const double rawRate = std::max(rawBefore, rawAfter);

  std::printf("EncryptionKey create -> PreActive, AES-256, N=%d, workers=%d\n", n, workers);
  std::printf("%-52s %12s %10s %8s\n", "path", "keys/s", "vs raw", "failed");
  // "vs raw" divides by the faster of the two raw runs.
  std::printf("%-52s %12.1f %10.2f %8d\n", "raw C_GenerateKey loop, before (one session, tight)", rawBefore,
              rawBefore / rawRate, rawFail);
  std::printf("%-52s %12.1f %10.2f\n", "raw C_GenerateKey loop, after", rawAfter, rawAfter / rawRate);
  std::printf("%-52s %12.1f %10.2f %8d\n", "end to end through the operator", e2eRate, e2eRate / rawRate,
              n - preActive.load());
  // Where the end-to-end time goes: the token's create section is serialized (see
  // Token::Access), so its busy share and its time per key bound the rate.
  std::printf("%-52s %11.0f%%\n", "tenant token busy creating (share of e2e wall time)", 100.0 * heldSecs / e2eSecs);
  std::printf("%-52s %12.2f\n", "ms per create section in e2e (raw loop: 1000/rate)",
              sections ? 1000.0 * heldSecs / static_cast<double>(sections) : 0.0);
  std::printf("%-52s %12.1f\n", "API requests per key (all clients, incl. creates)",
              static_cast<double>(allRequests) / std::max(1, n));
  return preActive.load() == n ? 0 : 1;
}

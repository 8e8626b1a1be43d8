// Raw SoftHSM2 token-object AES-256 generation (a tight C_GenerateKey loop, and the staged
// create's calls: session key + C_CopyObject) against the same work through
// Pkcs11Backend::generate, plus the idempotent re-generate (handle cache) and activate paths.
// Prints a table; never asserts on time. SoftHSM2's per-object cost grows with the objects
// already in the token (each row after the first runs on a fuller token).
//
//   pkcs11_generate_bench [N=200]      (module: $KEYGATE_PKCS11_MODULE or SoftHSM2's)
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "backends/pkcs11/attributes.h"
#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/create_objects.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/templates.h"
#include "common/log.h"
#include "proc_stats.h"
#include "support/softhsm_temp_dir.h"

using namespace keygate;
using namespace keygate::backends;
using namespace keygate::backends::pkcs11;

namespace {

double timeIt(int n, const std::function<bool(int)>& fn, int* failures) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    if (!fn(i)) ++*failures;
  }
  std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
  return n / d.count();
}

std::string uid(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "bench000-0000-4000-8000-%012d", i);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  log::configure(log::Level::kWarn, log::Format::kText);
  testing::SoftHsmTempDir softhsm;  // before the module loads
  const char* module = std::getenv("KEYGATE_PKCS11_MODULE");

  auto store = std::make_shared<MemorySecretStore>();
  Pkcs11BackendOptions o;
  o.name = "bench";
  o.modulePath = module ? module : KEYGATE_SOFTHSM2_MODULE;
  auto opened = Pkcs11Backend::open(o, store);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.error().toString().c_str());
    return 1;
  }
  auto& backend = **opened;
  Cryptoki& ck = *backend.cryptoki();

  // Raw: own session on its own token, the same template the backend uses.
  auto rawToken = backend.tokenFor("bench-raw");
  auto slot = findSlotByLabel(ck, rawToken.ok() ? (*rawToken)->label() : "");
  if (!rawToken.ok() || !slot.ok() || !*slot) {
    std::fprintf(stderr, "cannot set up the raw token\n");
    return 1;
  }
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  ck.openSession(**slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &h);
  ck.login(h, CKU_USER, store->get("bench.bench-raw.user-pin").value()->value());  // already logged in: fine
  int rawFail = 0, genFail = 0, againFail = 0, actFail = 0;
  const long rssBeforeRaw = keygate::bench::processRssKiB(getpid());
  const double raw = timeIt(n, [&](int i) {
    GenerationTemplate g = generationTemplate(KeySpec{KeyRef{"bench-raw", uid(i), 1}, Purpose::kEncrypt,
                                                      Algorithm::kAes256});
    CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE k;
    return ck.generateKey(h, m, g.secret.span(), &k) == CKR_OK;
  }, &rawFail);
  // SoftHSM2 keeps every token object (its attributes) in the memory of each process that
  // opened the token: what a token full of objects costs the operator.
  const long rssPerObjectBytes = n > 0 ? (keygate::bench::processRssKiB(getpid()) - rssBeforeRaw) * 1024 / n : 0;
  int kcvFail = 0;
  const double rawKcv = timeIt(n, [&](int i) {
    GenerationTemplate g = generationTemplate(KeySpec{KeyRef{"bench-raw", uid(n + i), 1}, Purpose::kEncrypt,
                                                      Algorithm::kAes256});
    CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE k;
    if (ck.generateKey(h, m, g.secret.span(), &k) != CKR_OK) return false;
    auto kcv = readBytes(ck, h, k, CKA_CHECK_VALUE);
    return kcv.ok();
  }, &kcvFail);
  // The same calls as Pkcs11Backend's staged create (create_objects.h) without Keygate: a
  // session key, C_CopyObject into the token with the CKA_ID and label, the session key destroyed.
  int stagedFail = 0;
  const double rawStaged = timeIt(n, [&](int i) {
    GenerationTemplate g = generationTemplate(KeySpec{KeyRef{"bench-raw", uid(3 * n + i), 1}, Purpose::kEncrypt,
                                                      Algorithm::kAes256});
    return generateObjects(ck, h, g, "raw", true).ok();
  }, &stagedFail);
  ck.closeSession(h);

  // Four threads, each with its own session, taking turns under one mutex (what four
  // workers do on one tenant token).
  int turnFail = 0;
  double turns = 0;
  {
    std::mutex turn;
    std::atomic<int> fails{0};
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&, t] {
        CK_SESSION_HANDLE hs = CK_INVALID_HANDLE;
        ck.openSession(**slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &hs);
        for (int i = t; i < n; i += 4) {
          GenerationTemplate g = generationTemplate(KeySpec{KeyRef{"bench-raw", uid(2 * n + i), 1}, Purpose::kEncrypt,
                                                            Algorithm::kAes256});
          CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
          CK_OBJECT_HANDLE k;
          std::lock_guard<std::mutex> l(turn);
          if (ck.generateKey(hs, m, g.secret.span(), &k) != CKR_OK) fails++;
        }
        ck.closeSession(hs);
      });
    for (auto& t : ts) t.join();
    turns = n / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    turnFail = fails.load();
  }


  auto spec = [](int i) { return KeySpec{KeyRef{"bench-backend", uid(i), 1}, Purpose::kEncrypt, Algorithm::kAes256}; };
  (void)backend.tokenFor("bench-backend");  // token init outside the timing, as for raw
  int absentFail = 0;
  auto specAbsent = [](int i) { return KeySpec{KeyRef{"bench-absent", uid(i), 1}, Purpose::kEncrypt, Algorithm::kAes256}; };
  (void)backend.tokenFor("bench-absent");
  const double absent = timeIt(n, [&](int i) { return backend.generate(specAbsent(i), GenerateOptions{true}).ok(); },
                               &absentFail);
  const double gen = timeIt(n, [&](int i) { return backend.generate(spec(i)).ok(); }, &genFail);
  const double again = timeIt(n, [&](int i) {
    auto g = backend.generate(spec(i));
    return g.ok() && !g->created;
  }, &againFail);
  const double act = timeIt(n, [&](int i) { return backend.activate(spec(i)).ok(); }, &actFail);
  // The stray sweep of that token (every object accounted for: the work of a sweep that finds
  // nothing, which each operator start does per tenant inside the token's exclusive section).
  StraySweepOptions sweepOptions;
  sweepOptions.now = std::chrono::system_clock::now();
  sweepOptions.accounted = [&]() -> Result<AccountedObjects> {
    AccountedObjects a;
    for (int i = 0; i < n; ++i) a.keys.push_back(spec(i).ref);
    return a;
  };
  // A restart: a second backend over the same tokens, its handle cache empty; the first
  // describe of every key (what each key's first reconcile after a start does).
  int coldFail = 0;
  double cold = 0;
  if (auto restarted = Pkcs11Backend::open(o, store); restarted.ok())
    cold = timeIt(n, [&](int i) { return (*restarted)->describe(spec(i)).ok(); }, &coldFail);
  const auto sweepStart = std::chrono::steady_clock::now();
  auto swept = backend.sweepStrays("bench-backend", sweepOptions);
  const double sweepMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sweepStart).count();

  std::printf("PKCS#11 AES-256 token-object generation, N=%d, module %s\n", n, o.modulePath.c_str());
  std::printf("%-44s %12s %10s %8s\n", "path", "ops/s", "vs raw", "failed");
  std::printf("%-44s %12.1f %10.2f %8d\n", "raw C_GenerateKey loop (one session)", raw, 1.0, rawFail);
  std::printf("%-44s %12.1f %10.2f %8d\n", "raw staged: session key + C_CopyObject", rawStaged, rawStaged / raw,
              stagedFail);
  std::printf("%-44s %12.1f %10.2f %8d\n", "raw, 4 sessions taking turns (serialized)", turns, turns / raw, turnFail);
  std::printf("%-44s %12.1f %10.2f %8d\n", "raw C_GenerateKey + read CKA_CHECK_VALUE", rawKcv, rawKcv / raw, kcvFail);
  std::printf("%-44s %12.1f %10.2f %8d\n", "Pkcs11Backend::generate (knownAbsent)", absent, absent / raw, absentFail);
  std::printf("%-44s %12.1f %10.2f %8d\n", "Pkcs11Backend::generate (new keys)", gen, gen / raw, genFail);
  std::printf("%-44s %12.1f %10.2f %8d\n", "Pkcs11Backend::generate (exists, cached)", again, again / raw, againFail);
  std::printf("%-44s %12.1f %10.2f %8d\n", "Pkcs11Backend::activate (SetAttributeValue)", act, act / raw, actFail);
  std::printf("%-44s %12.1f %10.2f %8d\n", "describe after a restart (cache cold)", cold, cold / raw, coldFail);
  std::printf("%-44s %12.1f ms for %d objects%s\n", "stray sweep of the token (nothing to find)", sweepMs, n,
              swept.ok() ? (swept->empty() ? "" : " (found strays!)") : " (failed)");
  std::printf("\nSoftHSM2 memory per token object (RSS growth over the raw loop): %ld bytes\n", rssPerObjectBytes);
  return rawFail + kcvFail + absentFail + genFail + againFail + actFail + coldFail == 0 ? 0 : 1;
}

// Raw SoftHSM2 token-object AES-256 generation (tight C_GenerateKey loop, one session)
// against end-to-end EncryptionKey create -> PreActive through the test API server, the
// informers, the EncryptionKey controller and the PKCS#11 backend, as a ratio (goal >= 0.9).
// Also counts API requests per key. Prints a table; never asserts on time.
//
//   key_lifecycle_bench [N=1000] [workers=4] [rounds=6] [same|own] [--hsm-cpus=LIST]
//
// --hsm-cpus does what `keygate operator --hsm-cpus` does: the token's creator thread (which
// runs the raw loop too) gets those CPUs, every other thread here and the test API server
// the rest. Without it all threads share all CPUs.
//
// SoftHSM's file store is bound by this VM's disk (a create is ~40% CPU; the rest is ~65
// waits in file locking, ftruncate and close) and the machine's speed drifts by +-30%
// within minutes. So the N raw and N end-to-end keys are made in interleaved rounds (raw,
// e2e, e2e, raw, ...: ABBA order cancels a linear drift), and the ratio divides the total
// end-to-end rate by the total raw rate over the same stretch of time. The per-round
// table shows the spread; the CPU columns and the per-thread line show where time goes.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/pkcs11_backend.h"
#include "backends/pkcs11/templates.h"
#include "common/cpu_affinity.h"
#include "common/log.h"
#include "proc_stats.h"
#include "common/thread_sched.h"
#include "support/softhsm_temp_dir.h"
#include "harness/key_operator.h"
#include "kube/informer.h"

using namespace keygate;
using namespace keygate::backends;
using namespace keygate::backends::pkcs11;
using SteadyClock = std::chrono::steady_clock;

namespace {

using keygate::bench::processCpuMs;
// A /proc/.../stat file: the command name and its CPU time (user + system) in ms.
std::optional<std::pair<std::string, double>> readStat(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!std::getline(f, line)) return std::nullopt;
  auto open = line.find('('), close = line.rfind(')');  // the name may hold spaces
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return std::make_pair(line.substr(open + 1, close - open - 1),
                        1000.0 * static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK)));
}


// CPU ms of this process's threads, summed by thread name (the operator names its own:
// kg-worker, kg-hsm-create, kg-reflector, kg-events, kg-webhook; the main thread keeps the
// process name). Threads that have exited are not counted (the
// bench's creator threads, for one).
std::map<std::string, double> threadCpuByName() {
  std::map<std::string, double> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task"))
    if (auto s = readStat((e.path() / "stat").string())) out[s->first] += s->second;
  return out;
}

// Run-queue wait (ms) of this process's token creator threads: /proc/.../schedstat's
// second field, the time they were runnable but not running.
double creatorRunQueueMs() {
  double ms = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    auto s = readStat((e.path() / "stat").string());
    if (!s || s->first != "kg-hsm-create") continue;
    std::ifstream f(e.path() / "schedstat");
    unsigned long long run = 0, wait = 0;
    if (f >> run >> wait) ms += static_cast<double>(wait) / 1e6;
  }
  return ms;
}

std::string uid(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "bench000-0000-4000-8000-%012d", i);
  return buf;
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  std::string hsmCpus;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--hsm-cpus=", 0) == 0) hsmCpus = a.substr(11);
    else args.push_back(a);
  }
  const size_t argn = args.size();
  const int n = argn > 0 ? std::max(1, std::atoi(args[0].c_str())) : 1000;
  const int workers = argn > 1 ? std::max(1, std::atoi(args[1].c_str())) : 4;
  const int rounds = argn > 2 ? std::clamp(std::atoi(args[2].c_str()), 1, n) : 6;
  log::configure(log::Level::kError, log::Format::kText);
  if (!hsmCpus.empty()) {  // before any thread starts, as the operator does
    auto cpus = parseCpuList(hsmCpus);
    Status reserved = cpus.ok() ? reserveCpus(*cpus) : Status(cpus.takeError());
    if (!reserved.ok()) {
      std::fprintf(stderr, "--hsm-cpus: %s\n", reserved.error().message.c_str());
      return 2;
    }
  }
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

  // Both loops make their keys in the same token (tenant-a's), so the directory SoftHSM
  // writes to and its object count are the same for both. `own` gives the raw loop a
  // token of its own instead (measured: no different).
  const bool ownToken = argn > 3 && args[3] == "own";
  auto tenantToken = backend->tokenFor("tenant-a");  // initialised outside the timing
  auto rawToken = ownToken ? backend->tokenFor("bench-raw") : tenantToken;
  if (!tenantToken.ok() || !rawToken.ok()) return 1;
  int rawFail = 0;
  struct Run {
    int keys = 0;
    double secs = 0, cpuMs = 0;  // cpuMs: the creating thread's CPU, all keys
    double runQueueMs = 0;       // the creating thread's run-queue wait, all keys
  };
  // The raw loop: one session, nothing but C_GenerateKey, with the token to itself (one
  // exclusive section for the whole loop; the operator is idle between rounds anyway).
  std::vector<int> creatorCpus;  // where the creator thread may run (checked against --hsm-cpus)
  auto rawRun = [&](int from, int to) {
    Run r;
    (void)(*rawToken)->withSession<bool>([&](Session& s) -> Result<bool> {
      if (auto c = allowedCpus(); c.ok()) creatorCpus = *c;
      auto t0 = SteadyClock::now();
      const int64_t cpu0 = threadCpuNs();
      const double rq0 = creatorRunQueueMs();
      for (int i = from; i < to; ++i) {
        GenerationTemplate g = generationTemplate(
            KeySpec{KeyRef{"tenant-a", uid(i), 1}, Purpose::kEncrypt, Algorithm::kAes256});
        CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
        CK_OBJECT_HANDLE k;
        if (ck.generateKey(s.handle(), m, g.secret.span(), &k) != CKR_OK) ++rawFail;
      }
      r.secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
      r.cpuMs = static_cast<double>(threadCpuNs() - cpu0) / 1e6;
      r.runQueueMs = creatorRunQueueMs() - rq0;
      return true;
    }, Token::Access::kExclusive);
    r.keys = to - from;
    return r;
  };

  // End to end through the operator.
  testing::TestApiServerOptions so;
  so.namespaces = {"default", "keygate-system", "tenant-a"};
  auto server = testing::TestApiServer::start(so);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.error().toString().c_str());
    return 1;
  }
  controllers::BackendSet set;
  set.add(std::move(*opened));
  testing::KeyOperatorOptions koo;
  koo.workers = workers;
  koo.policy.knownBackends = {"softhsm"};
  testing::KeyOperator op(**server, &set, koo);
  // Progress is counted on the operator's own informer: a second watch would add its
  // fan-out and decoding to the work being measured.
  // The main thread sleeps on `progress` until the round's keys are in: polling would add
  // hundreds of timer wake-ups a second to the load being measured.
  std::atomic<int> preActive{0};
  std::mutex progressMu;
  std::condition_variable progress;
  auto count = [&](const kube::ObjectPtr& o, const kube::ObjectPtr& prev) {
    bool now = getString(*o, "status.state") == "PreActive";
    bool before = prev && getString(*prev, "status.state") == "PreActive";
    if (now && !before) {
      std::lock_guard<std::mutex> l(progressMu);
      preActive++;
      progress.notify_all();
    }
  };
  op.addKeyHandlers({[&](const kube::ObjectPtr& o) { count(o, nullptr); },
                     [&](const kube::ObjectPtr& a, const kube::ObjectPtr& b) { count(b, a); }, nullptr});
  op.start();
  (void)(*server)->control("DELETE", "/__test/requests");

  std::atomic<int> createFail{0};
  // The API clients of the bench's two creator threads: made once, so no round pays for
  // a TLS handshake.
  const kube::ClientPtr clients[2] = {(*server)->adminClient(), (*server)->adminClient()};
  struct E2eRun : Run {
    uint64_t sections = 0;
    double heldSecs = 0;
    double serverCpuMs = 0, selfCpuMs = 0;  // the test API server; this process (operator, SoftHSM, creators)
    std::map<std::string, double> threadCpuMs;  // this process, by thread name
  };
  bool stuck = false;
  auto e2eRun = [&](int from, int to) {
    E2eRun r;
    const auto before = (*tenantToken)->stats();
    const int target = preActive.load() + (to - from);
    const int failedBefore = createFail.load();
    const double server0 = processCpuMs((*server)->pid()), self0 = processCpuMs(getpid());
    const auto threads0 = threadCpuByName();
    const double rq0 = creatorRunQueueMs();
    auto t0 = SteadyClock::now();
    std::vector<std::thread> creators;
    for (int t = 0; t < 2; ++t) {
      creators.emplace_back([&, t] {
        nameThisThread("bench-create");
        const kube::ClientPtr& c = clients[t];
        for (int i = from + t; i < to; i += 2) {
          Json k = {{"apiVersion", "keygate.dev/v1alpha1"},
                    {"kind", "EncryptionKey"},
                    {"metadata", {{"name", "k-" + std::to_string(i)}}},
                    {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}};
          if (!c->create(kube::resources::encryptionKeys(), "tenant-a", k).ok()) createFail++;
        }
      });
    }
    for (auto& c : creators) c.join();
    auto deadline = SteadyClock::now() + std::chrono::seconds(60 + (to - from) / 5);
    {
      std::unique_lock<std::mutex> l(progressMu);
      progress.wait_until(l, deadline, [&] { return preActive.load() >= target - (createFail.load() - failedBefore); });
    }
    r.secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    r.runQueueMs = creatorRunQueueMs() - rq0;
    r.serverCpuMs = processCpuMs((*server)->pid()) - server0;
    r.selfCpuMs = processCpuMs(getpid()) - self0;
    for (const auto& [name, ms] : threadCpuByName()) {
      auto it = threads0.find(name);
      r.threadCpuMs[name] = ms - (it == threads0.end() ? 0.0 : it->second);  // exited threads are not counted
    }
    r.keys = (to - from) - (target - preActive.load());
    if (preActive.load() < target) stuck = true;
    const auto after = (*tenantToken)->stats();
    r.sections = after.exclusiveSections - before.exclusiveSections;
    r.heldSecs = std::chrono::duration<double>(after.exclusiveHeld - before.exclusiveHeld).count();
    r.cpuMs = std::chrono::duration<double, std::milli>(after.exclusiveCpu - before.exclusiveCpu).count();
    // Let the round's trailing Events and watch fan-out finish before the next raw round.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return r;
  };

  std::printf("EncryptionKey create -> PreActive, AES-256, N=%d, workers=%d, %d interleaved rounds\n", n, workers,
              rounds);
  auto others = allowedCpus();
  if (hsmCpus.empty())
    std::printf("CPUs: all threads share %s\n", others.ok() ? formatCpuList(*others).c_str() : "?");
  else
    std::printf("CPUs: token creator thread %s, other threads and the test API server %s\n",
                formatCpuList(reservedCpus()).c_str(), others.ok() ? formatCpuList(*others).c_str() : "?");
  std::printf("%-6s %10s %10s %7s %16s %16s %10s\n", "round", "raw k/s", "e2e k/s", "ratio", "raw ms/key (cpu)",
              "e2e ms/sect(cpu)", "token busy");
  Run rawTotal;
  E2eRun e2eTotal;
  std::vector<double> ratios;
  for (int r = 0; r < rounds && !stuck; ++r) {
    const int from = static_cast<int>(static_cast<long>(n) * r / rounds);
    const int to = static_cast<int>(static_cast<long>(n) * (r + 1) / rounds);
    Run raw;
    E2eRun e2e;
    if (r % 2 == 0) {
      raw = rawRun(from, to);
      e2e = e2eRun(from, to);
    } else {
      e2e = e2eRun(from, to);
      raw = rawRun(from, to);
    }
    const double rawRate = raw.keys / raw.secs, e2eRate = e2e.keys / e2e.secs;
    ratios.push_back(e2eRate / rawRate);
    std::printf("%-6d %10.1f %10.1f %7.2f %9.2f (%4.2f) %9.2f (%4.2f) %9.0f%%\n", r + 1, rawRate, e2eRate,
                e2eRate / rawRate, 1000.0 * raw.secs / raw.keys, raw.cpuMs / raw.keys,
                e2e.sections ? 1000.0 * e2e.heldSecs / static_cast<double>(e2e.sections) : 0.0,
                e2e.sections ? e2e.cpuMs / static_cast<double>(e2e.sections) : 0.0, 100.0 * e2e.heldSecs / e2e.secs);
    rawTotal.keys += raw.keys;
    rawTotal.secs += raw.secs;
    rawTotal.cpuMs += raw.cpuMs;
    rawTotal.runQueueMs += raw.runQueueMs;
    e2eTotal.runQueueMs += e2e.runQueueMs;
    e2eTotal.keys += e2e.keys;
    e2eTotal.secs += e2e.secs;
    e2eTotal.cpuMs += e2e.cpuMs;
    e2eTotal.sections += e2e.sections;
    e2eTotal.heldSecs += e2e.heldSecs;
    e2eTotal.serverCpuMs += e2e.serverCpuMs;
    e2eTotal.selfCpuMs += e2e.selfCpuMs;
    for (const auto& [name, ms] : e2e.threadCpuMs) e2eTotal.threadCpuMs[name] += ms;
  }
  if (stuck) {
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

  const double rawRate = rawTotal.keys / rawTotal.secs, e2eRate = e2eTotal.keys / e2eTotal.secs;
  std::sort(ratios.begin(), ratios.end());
  const double median = ratios.size() % 2 ? ratios[ratios.size() / 2]
                                          : (ratios[ratios.size() / 2 - 1] + ratios[ratios.size() / 2]) / 2;
  std::printf("\n%-52s %12s %10s %8s\n", "path (all rounds)", "keys/s", "vs raw", "failed");
  std::printf("%-52s %12.1f %10.2f %8d\n", "raw C_GenerateKey loop (one session, tight)", rawRate, 1.0, rawFail);
  std::printf("%-52s %12.1f %10.2f %8d\n", "end to end through the operator", e2eRate, e2eRate / rawRate,
              n - e2eTotal.keys);
  std::printf("%-52s %23.2f\n", "median of the rounds' ratios", median);
  // Where the end-to-end time goes: the token's create section is serialized (see
  // Token::Access), so its busy share and its time per key bound the rate.
  std::printf("%-52s %11.0f%%\n", "tenant token busy creating (share of e2e wall time)",
              100.0 * e2eTotal.heldSecs / e2eTotal.secs);
  std::printf("%-52s %12.2f %10.2f\n", "ms per create section in e2e, of which CPU",
              e2eTotal.sections ? 1000.0 * e2eTotal.heldSecs / static_cast<double>(e2eTotal.sections) : 0.0,
              e2eTotal.sections ? e2eTotal.cpuMs / static_cast<double>(e2eTotal.sections) : 0.0);
  std::printf("%-52s %12.2f %10.2f\n", "ms per key in the raw loop, of which CPU", 1000.0 * rawTotal.secs / rawTotal.keys,
              rawTotal.cpuMs / rawTotal.keys);
  std::printf("%-52s %12.2f %10.2f\n", "run-queue wait ms per key of the creator: raw, e2e",
              rawTotal.runQueueMs / std::max(1, rawTotal.keys), e2eTotal.runQueueMs / std::max(1, e2eTotal.keys));
  std::printf("%-52s %12.2f %10.2f\n", "e2e CPU ms per key: test API server, this process",
              e2eTotal.serverCpuMs / std::max(1, e2eTotal.keys), e2eTotal.selfCpuMs / std::max(1, e2eTotal.keys));
  std::string byThread;
  for (const auto& [name, ms] : e2eTotal.threadCpuMs) {
    if (ms / std::max(1, e2eTotal.keys) < 0.05) continue;
    char buf[80];
    std::snprintf(buf, sizeof(buf), "%s%s %.2f", byThread.empty() ? "" : ", ", name.c_str(), ms / std::max(1, e2eTotal.keys));
    byThread += buf;
  }
  std::printf("  this process by thread (ms per key): %s\n", byThread.c_str());
  std::printf("%-52s %12.1f\n", "API requests per key (all clients, incl. creates)",
              static_cast<double>(allRequests) / std::max(1, n));
  if (!hsmCpus.empty() && creatorCpus != reservedCpus()) {
    std::fprintf(stderr, "--hsm-cpus=%s: the token creator thread ran on CPUs %s\n", hsmCpus.c_str(),
                 formatCpuList(creatorCpus).c_str());
    return 1;
  }
  return e2eTotal.keys == n && rawFail == 0 ? 0 : 1;
}

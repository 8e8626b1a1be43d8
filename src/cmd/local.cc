// keygate local -f DIR [--once] [--state-dir .keygate] [--config FILE] [--module PATH]
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "api/v1alpha1/policy.h"
#include "common/log.h"
#include "controllers/local/local_runner.h"
#include "cmd/snapshot.h"
#include "cmd/subcommands.h"
#include "metrics/metrics.h"
#include "metrics/server.h"

namespace keygate::cmd {
namespace {

namespace fs = std::filesystem;
volatile std::sig_atomic_t g_stop = 0;

struct LocalFlags {
  std::string dir;
  std::string stateDir = ".keygate";
  std::string config;
  std::string module;
  bool once = false;
  int intervalSeconds = 2;
  std::string metricsAddr = "127.0.0.1:9090";
};

// Newest modification time under dir: the manifests changed when it moves.
fs::file_time_type newest(const std::string& dir) {
  fs::file_time_type t = fs::file_time_type::min();  // (the file clock epoch is in the future)
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) t = std::max(t, e.last_write_time(ec));
  return t;
}

int runLocal(const LocalFlags& f) {
  log::configure(log::Level::kWarn, log::Format::kText);
  controllers::LocalRunnerOptions o;
  o.stateDir = f.stateDir;
  o.modulePath = f.module;
  if (!f.config.empty()) {
    std::ifstream in(f.config);
    if (!in) {
      std::cerr << "keygate local: cannot read config " << f.config << "\n";
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto p = api::v1alpha1::parsePolicyFromConfig(ss.str(), f.config);
    if (!p.ok()) {
      std::cerr << p.error().message << "\n";
      return 2;
    }
    o.policy = *p;
  }
  auto runner = controllers::LocalRunner::create(o);
  if (!runner.ok()) {
    std::cerr << "keygate local: " << runner.error().message << "\n";
    return 2;
  }
  std::cout << "keygate local: manifests from " << f.dir << ", state and SoftHSM2 tokens in " << f.stateDir << "\n"
            << "keygate local: approvals are taken as written in the manifests (local mode trusts its single user; "
               "in a cluster the admission webhook stamps and signs them)\n\n";
  auto cycle = [&]() -> int {
    auto problems = (*runner)->loadManifests(f.dir);
    if (!problems.ok()) {
      std::cerr << "keygate local: " << problems.error().message << "\n";
      return 2;
    }
    for (const auto& p : *problems) std::cerr << p << "\n";
    auto rounds = (*runner)->reconcileToFixedPoint();
    if (!rounds.ok()) {
      std::cerr << "keygate local: " << rounds.error().message << "\n";
      return 1;
    }
    if (auto s = (*runner)->saveState(); !s.ok()) std::cerr << "keygate local: " << s.error().message << "\n";
    (*runner)->print(std::cout);
    return problems->empty() ? 0 : 1;
  };
  int rc = cycle();
  if (f.once) return rc;
  // Metrics on localhost while watching (the same gauges as the operator, from the store).
  metrics::Metrics metrics(KEYGATE_VERSION);
  metrics.setSnapshotSource([&] {
    auto k = (*runner)->objects("EncryptionKey"), r = (*runner)->objects("KeyActivationRequest"),
         b = (*runner)->objects("KeyRoleBinding");
    auto ptrs = [](const std::vector<Json>& v) {
      std::vector<const Json*> out;
      for (const auto& o : v) out.push_back(&o);
      return out;
    };
    return snapshotFrom(ptrs(k), ptrs(r), ptrs(b));
  });
  auto metricsServer = metrics::MetricsServer::start(f.metricsAddr, metrics);
  if (!metricsServer.ok()) {
    std::cerr << "keygate local: " << metricsServer.error().message << "\n";
    return 2;
  }
  std::cout << "keygate local: metrics on http://" << f.metricsAddr << "/metrics\n";
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  auto seen = newest(f.dir);
  std::cout << "\nkeygate local: watching " << f.dir << " for changes (Ctrl-C to stop)\n" << std::flush;
  int ticks = 0;
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (++ticks % (5 * f.intervalSeconds) != 0) continue;
    auto now = newest(f.dir);
    if (now != seen) {
      seen = now;
      std::cout << "\n";
      cycle();
    } else {
      // Timed transitions (TTL expiry, destruction windows) happen without file changes.
      auto r = (*runner)->reconcileToFixedPoint();
      if (r.ok() && *r > 1) {
        (void)(*runner)->saveState();
        (*runner)->print(std::cout);
      }
    }
    std::cout << std::flush;
  }
  (void)(*runner)->saveState();
  return 0;
}

}  // namespace

void registerLocal(CLI::App& app) {
  auto flags = std::make_shared<LocalFlags>();
  auto* sub = app.add_subcommand("local", "Run the reconcilers on manifests from a directory with the embedded SoftHSM2 "
                                          "backend, no cluster (quick start, try-before-production)");
  sub->add_option("-f,--filename", flags->dir, "Directory of manifests (multi-document YAML)")->required()->check(CLI::ExistingDirectory);
  sub->add_flag("--once", flags->once, "Reconcile to a fixed point, print states and audit lines, exit");
  sub->add_option("--state-dir", flags->stateDir, "Where SoftHSM2 tokens, PINs and object state live")->capture_default_str();
  sub->add_option("--config", flags->config, "Operator config file (its policy: section applies)")->check(CLI::ExistingFile);
  sub->add_option("--module", flags->module, "PKCS#11 module (default: SoftHSM2 from the usual Debian paths)");
  sub->add_option("--metrics-bind-address", flags->metricsAddr, "Where /metrics is served while watching (not with --once)")
      ->capture_default_str();
  sub->callback([flags] {
    int rc = runLocal(*flags);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace keygate::cmd

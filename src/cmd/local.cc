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
#include "dataplane/crypto_service.h"
#include "dataplane/grpc_server.h"
#include "dataplane/identity.h"
#include "dataplane/key_directory.h"

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
  std::string serve;          // crypto API address (loopback), "" = off
  std::string tokenAuthFile;  // static tokens for the crypto API
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
  if (!f.serve.empty() && f.once) {
    std::cerr << "keygate local: --serve keeps serving; it cannot be combined with --once\n";
    return 2;
  }
  std::unique_ptr<dataplane::StaticTokenAuthenticator> tokens;
  if (!f.serve.empty()) {
    if (f.tokenAuthFile.empty()) {
      std::cerr << "keygate local: --serve needs --token-auth-file (CSV token,user,uid,\"groups\"; see "
                   "examples/local-tokens.csv): callers are identified by their token, as in a cluster\n";
      return 2;
    }
    auto t = dataplane::StaticTokenAuthenticator::load(f.tokenAuthFile);
    if (!t.ok()) {
      std::cerr << "keygate local: " << t.error().message << "\n";
      return 2;
    }
    tokens = std::move(*t);
  }
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
  // The crypto API on loopback: the same service as the operator's, over the local store.
  std::unique_ptr<dataplane::KeyDirectory> directory;
  std::unique_ptr<dataplane::CryptoService> crypto;
  std::unique_ptr<dataplane::GrpcServer> cryptoServer;
  if (tokens) {
    directory = std::make_unique<dataplane::KeyDirectory>((*runner)->keyReader(), (*runner)->bindingReader());
    dataplane::CryptoServiceDeps deps;
    deps.directory = directory.get();
    deps.backend = [&](const std::string& name) { return (*runner)->backend(name); };
    deps.audit = (*runner)->auditSink();
    deps.observe = [&metrics](const dataplane::CallRecord& r) {
      metrics.cryptoCall(r.ns, r.purpose, dataplane::operationName(r.operation), grpcCodeName(r.code), r.reason,
                         r.duration.count());
    };
    crypto = std::make_unique<dataplane::CryptoService>(std::move(deps), dataplane::CryptoServiceOptions{});
    dataplane::GrpcServerOptions go;
    go.address = f.serve;
    auto s = dataplane::GrpcServer::start(go, *tokens, *crypto);
    if (!s.ok()) {
      std::cerr << "keygate local: --serve: " << s.error().message << "\n";
      return 2;
    }
    cryptoServer = std::move(*s);
    std::cout << "keygate local: crypto API on " << f.serve << " (plain text, loopback; tokens from " << f.tokenAuthFile
              << ")\n";
  }
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
    if (crypto && ticks % 50 == 0) crypto->flushUsage();  // KeyUsed records every 10 s
    std::cout << std::flush;
  }
  if (cryptoServer) {
    cryptoServer->stop();
    crypto->flushUsage();
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
  sub->add_option("--serve", flags->serve,
                  "Serve the crypto API on this loopback address (e.g. 127.0.0.1:8443) while watching")
      ->check([](const std::string& v) {
        return v.rfind("127.", 0) == 0 || v.rfind("localhost:", 0) == 0 || v.rfind("[::1]:", 0) == 0
                   ? std::string()
                   : std::string("--serve takes a loopback address (127.0.0.1:PORT): local mode serves plain text");
      });
  sub->add_option("--token-auth-file", flags->tokenAuthFile,
                  "Callers of the crypto API: CSV token,user,uid,\"group1,group2\" (kube-apiserver's --token-auth-file format)")
      ->check(CLI::ExistingFile);
  sub->callback([flags] {
    int rc = runLocal(*flags);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace keygate::cmd

// keygate kms-plugin: the Kubernetes KMS v2 provider for kube-apiserver (docs/kms-plugin.md).
// A client of the Keygate crypto API for one EncryptionKey; it holds no key and no HSM
// credential, only its own TLS client certificate (or a token file).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "cmd/daemon.h"
#include "cmd/subcommands.h"
#include "common/grpc_codes.h"
#include "common/log.h"
#include "dataplane/crypto_client.h"
#include "kms/grpc_server.h"
#include "kms/plugin.h"
#include "metrics/metrics.h"
#include "metrics/server.h"

namespace keygate::cmd {
namespace {

const log::Logger& logger() {
  static const log::Logger l("kms-plugin");
  return l;
}

struct KmsPluginFlags {
  std::string listen;
  std::string key;
  std::string server;
  std::string caFile;
  std::string serverName;
  std::string certFile;
  std::string keyFile;
  std::string tokenFile;
  bool insecure = false;
  int timeoutMs = 2000;
  int probeSeconds = 30;
  int healthTtlSeconds = 60;
  int certReloadSeconds = 60;
  std::string metricsAddr = "127.0.0.1:8095";
  std::string healthAddr = "127.0.0.1:8096";
  std::string logLevel = "info";
  std::string logFormat = "json";
};

int fail(const std::string& msg, int code = 2) {
  std::cerr << "keygate kms-plugin: " << msg << "\n";
  return code;
}

int runKmsPlugin(const KmsPluginFlags& f) {
  const sigset_t sigs = blockShutdownSignals();
  if (std::string bad = configureLogging(f.logLevel, f.logFormat); !bad.empty()) return fail(bad);

  kms::PluginOptions po;
  po.key = f.key;
  po.probeInterval = std::chrono::seconds(f.probeSeconds);
  po.healthTtl = std::chrono::seconds(f.healthTtlSeconds);
  if (Status st = kms::Plugin::validate(po); !st.ok()) return fail(st.error().message);
  if (auto p = kms::unixSocketPath(f.listen); !p.ok()) return fail(p.error().message);
  if (f.certFile.empty() && f.tokenFile.empty())
    return fail("no credentials: give --cert-file and --key-file (a client certificate, the way for static pods) or "
                "--token-file");
  if (!f.insecure && f.caFile.empty())
    return fail("--ca-file is required: the CA of the crypto API's serving certificate");

  dataplane::CryptoClientOptions co;
  co.target = f.server;
  co.insecure = f.insecure;
  co.caFile = f.caFile;
  co.serverName = f.serverName;
  co.certFile = f.certFile;
  co.keyFile = f.keyFile;
  co.tokenFile = f.tokenFile;
  co.timeout = std::chrono::milliseconds(f.timeoutMs);
  co.certReloadInterval = std::chrono::seconds(f.certReloadSeconds);
  auto client = dataplane::CryptoClient::connect(co);
  if (!client.ok()) return fail(client.error().message);
  std::shared_ptr<dataplane::CryptoClient> c = std::move(*client);

  metrics::Metrics metrics(KEYGATE_VERSION);
  kms::PluginObserver obs;
  obs.health = [&metrics](bool healthy, const std::string&, const std::string&) { metrics.kmsHealth(healthy); };
  obs.passed = [&metrics] { metrics.kmsRoundTripPassed(); };
  obs.keyIdChanged = [&metrics](const std::string&, const std::string& to, const std::string& version) {
    metrics.kmsKeyId(to, version);
  };
  kms::Upstream up;
  up.encrypt = [c](const v1::EncryptRequest& r) { return c->encrypt(r); };
  up.decrypt = [c](const v1::DecryptRequest& r) { return c->decrypt(r); };
  kms::Plugin plugin(po, up, obs);

  std::unique_ptr<metrics::MetricsServer> metricsServer;
  if (!f.metricsAddr.empty()) {
    auto m = metrics::MetricsServer::start(f.metricsAddr, metrics);
    if (!m.ok()) return fail(m.error().message);
    metricsServer = std::move(*m);
  }
  std::unique_ptr<metrics::HealthServer> health;
  if (!f.healthAddr.empty()) {
    auto h = metrics::HealthServer::start(f.healthAddr);
    if (!h.ok()) return fail(h.error().message);
    health = std::move(*h);
    // Ready only while a round trip passed (from the first /readyz on).
    health->addReadinessCheck("kms-round-trip", [&plugin]() -> Status {
      if (plugin.healthy()) return okStatus();
      return makeError(ErrorCode::kUnavailable, plugin.status().healthz());
    });
  }

  kms::KmsServerOptions so;
  so.listen = f.listen;
  so.observe = [&metrics](const char* method, ErrorCode code, double seconds) {
    metrics.kmsCall(method, grpcCodeName(code), seconds);
  };
  auto server = kms::KmsServer::start(so, plugin);
  if (!server.ok()) return fail(server.error().message);
  // Health after the socket exists: the first probe's answer is there for the first Status.
  plugin.start();
  logger().info("kms-plugin started", {{"key", f.key},
                                       {"socket", (*server)->socketPath()},
                                       {"server", f.server},
                                       {"clientCertificate", !f.certFile.empty()},
                                       {"metrics", metricsServer ? metricsServer->port() : 0}});
  int sig = waitForShutdownSignal(sigs);
  logger().info("shutting down", {{"signal", sig}});
  (*server)->stop(std::chrono::milliseconds(2000));
  plugin.stop();
  return 0;
}

}  // namespace

void registerKmsPlugin(CLI::App& app) {
  auto f = std::make_shared<KmsPluginFlags>();
  auto* sub = app.add_subcommand(
      "kms-plugin",
      "Kubernetes KMS v2 provider: kube-apiserver encrypts Secrets (its DEK seeds) with one EncryptionKey through the "
      "Keygate crypto API");
  sub->add_option("--listen", f->listen, "Unix socket for kube-apiserver, unix:///path/kms.sock (created 0600)")->required();
  sub->add_option("--key", f->key, "The EncryptionKey NAMESPACE/NAME (purpose Encrypt or Wrap, AES-256)")->required();
  sub->add_option("--server", f->server, "Crypto API address HOST:PORT")->required();
  sub->add_option("--ca-file", f->caFile, "CA certificate of the crypto API's serving certificate (PEM)");
  sub->add_option("--tls-server-name", f->serverName, "Name to verify in the server certificate (default: the host)");
  sub->add_option("--cert-file", f->certFile, "Client certificate (PEM), re-read when it changes");
  sub->add_option("--key-file", f->keyFile, "Private key of the client certificate (PEM), re-read when it changes");
  sub->add_option("--token-file", f->tokenFile, "File with a token (audience keygate.dev), re-read on every call");
  sub->add_flag("--insecure", f->insecure, "Plain text to a loopback crypto API (`keygate local --serve`, tests)");
  sub->add_option("--timeout-ms", f->timeoutMs, "Milliseconds per crypto API call (below kube-apiserver's kms timeout)")
      ->check(CLI::Range(100, 60000))
      ->capture_default_str();
  sub->add_option("--probe-interval", f->probeSeconds, "Seconds between health round trips while healthy")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  sub->add_option("--health-ttl", f->healthTtlSeconds, "Seconds a passed round trip keeps Status healthy")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  sub->add_option("--cert-reload-interval", f->certReloadSeconds, "Seconds between checks of the client certificate files")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  sub->add_option("--metrics-bind-address", f->metricsAddr, "Prometheus /metrics (\"\" = off)")->capture_default_str();
  sub->add_option("--health-probe-bind-address", f->healthAddr, "/healthz and /readyz (\"\" = off)")->capture_default_str();
  sub->add_option("--log-level", f->logLevel, "debug, info, warn or error")->capture_default_str();
  sub->add_option("--log-format", f->logFormat, "json or text")->capture_default_str();
  sub->callback([f] {
    int rc = runKmsPlugin(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace keygate::cmd

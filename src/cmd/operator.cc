// keygate operator: informers, controllers (leader only), metrics, health, leader election.
// SIGTERM/SIGINT: stop taking work, drain the queues within the deadline, release the Lease,
// exit 0. A lost Lease stops reconciling at once and exits 1 (the pod restarts as a standby).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "api/v1alpha1/codec.h"
#include "backends/file_secret_store.h"
#include "backends/pkcs11/cryptoki_dl.h"
#include "backends/registry.h"
#include "cmd/config.h"
#include "cmd/credentials_setup.h"
#include "cmd/daemon.h"
#include "cmd/gauge_index.h"
#include "cmd/subcommands.h"
#include "common/cpu_affinity.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/time.h"
#include "controllers/audit.h"
#include "controllers/audit_file.h"
#include "controllers/backend_set.h"
#include "controllers/controller.h"
#include "controllers/activation_request/reconciler.h"
#include "controllers/encryption_key/reconciler.h"
#include "controllers/role_binding/reconciler.h"
#include "controllers/indexes.h"
#include "controllers/credential_secrets.h"
#include "controllers/signing_key.h"
#include "dataplane/crypto_service.h"
#include "dataplane/grpc_server.h"
#include "dataplane/identity.h"
#include "dataplane/key_directory.h"
#include "kube/client_factory.h"
#include "kube/event_recorder.h"
#include "kube/informer.h"
#include "kube/kubeconfig.h"
#include "kube/leader_election.h"
#include "kube/transport.h"
#include "metrics/metrics.h"
#include "metrics/server.h"
#include "api/v1alpha1/approval_signing.h"
#include "webhook/admission.h"
#include "webhook/role_view.h"
#include "webhook/server.h"
#include "controllers/backend_prober.h"
#include "controllers/stray_sweeper.h"

namespace keygate::cmd {
namespace {

namespace fs = std::filesystem;

struct OperatorFlags {
  std::string config;
  std::string kubeconfig;
  std::string context;
  std::string ns;
  std::string metricsAddr;
  std::string healthAddr;
  std::string leaderElect;  // "", "true", "false"
  int workers = 0;
  std::string logLevel = "info";
  std::string logFormat = "json";
  std::string podName;
  int shutdownSeconds = 30;
  int httpThreads = static_cast<int>(webhook::kDefaultHttpThreads);
  std::string hsmCpus;  // "" = no CPUs set aside
  std::optional<int> kubeApiQps, kubeApiBurst;
};

const log::Logger& logger() {
  static const log::Logger l("operator");
  return l;
}

std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "keygate";
  return buf;
}

int fail(const std::string& msg, int code = 2) {
  std::cerr << "keygate operator: " << msg << "\n";
  return code;
}

int runOperator(const OperatorFlags& f) {
  // Signals are taken synchronously by the main thread; block them before any thread starts.
  const sigset_t sigs = blockShutdownSignals();
  if (std::string bad = configureLogging(f.logLevel, f.logFormat); !bad.empty()) return fail(bad);

  if (f.config.empty()) return fail("--config is required (see docs/configuration.md)");
  auto cfgOr = loadOperatorConfig(f.config);
  if (!cfgOr.ok()) return fail("invalid config\n" + cfgOr.error().message);
  OperatorConfig cfg = std::move(*cfgOr);
  if (!f.ns.empty()) cfg.operatorNamespace = f.ns;
  if (cfg.leaderElection.namespace_.empty()) cfg.leaderElection.namespace_ = cfg.operatorNamespace;
  if (!f.metricsAddr.empty()) cfg.metricsBindAddress = f.metricsAddr;
  if (!f.healthAddr.empty()) cfg.healthBindAddress = f.healthAddr;
  if (!f.leaderElect.empty()) cfg.leaderElection.enabled = f.leaderElect == "true";
  if (f.workers > 0) cfg.workers = f.workers;
  if (f.kubeApiQps) cfg.kubeApiQps = *f.kubeApiQps;
  if (f.kubeApiBurst) cfg.kubeApiBurst = *f.kubeApiBurst;
  const std::string identity = !f.podName.empty() ? f.podName : (std::getenv("POD_NAME") ? std::getenv("POD_NAME") : hostname());

  // Before the HTTP and worker threads start, so they inherit the remaining CPUs.
  if (!f.hsmCpus.empty()) {
    auto cpus = parseCpuList(f.hsmCpus);
    if (!cpus.ok()) return fail("--hsm-cpus: " + cpus.error().message);
    if (Status st = reserveCpus(*cpus); !st.ok()) return fail("--hsm-cpus: " + st.error().message);
    auto rest = allowedCpus();
    logger().info("CPUs reserved for HSM object creation",
                  {{"hsmCpus", formatCpuList(*cpus)}, {"otherThreads", rest.ok() ? formatCpuList(*rest) : ""}});
  }

  // Metrics and health come first so probes answer while the rest starts.
  metrics::Metrics metrics(KEYGATE_VERSION);
  auto metricsServer = metrics::MetricsServer::start(cfg.metricsBindAddress, metrics);
  if (!metricsServer.ok()) return fail(metricsServer.error().message);
  auto health = metrics::HealthServer::start(cfg.healthBindAddress);
  if (!health.ok()) return fail(health.error().message);
  // Not ready until start-up is done (API server checked, secret store and backends open,
  // servers listening): a /readyz with no checks yet would answer 200.
  (*health)->addReadinessCheck("startup", [] { return Status(makeError(ErrorCode::kUnavailable, "starting")); });

  // The API server.
  Result<kube::ClientConfig> kc = (!f.kubeconfig.empty() || std::getenv("KUBECONFIG"))
                                      ? kube::loadKubeconfig({f.kubeconfig, f.context})
                                      : kube::loadInCluster();
  if (!kc.ok()) return fail(kc.error().message);
  // The replica in the API server's audit log (userAgent), as client-go names its binary and version.
  kc->transport.userAgent = std::string("keygate/") + KEYGATE_VERSION + " (" + identity + ")";
  kube::ClientOptions co;
  co.qps = cfg.kubeApiQps;
  co.burst = cfg.kubeApiBurst;
  co.onServerFairness = [] {
    logger().info("the API server applies Priority and Fairness: client-side rate limit off");
  };
  logger().info("API client", {{"rateLimit", kube::describeRateLimit(co)}});
  co.rest.observe = [&metrics](const std::string& verb, const std::string& resource, int code) {
    metrics.kubeRequest(verb, resource, code);
  };
  co.rest.fieldManager = "keygate";
  co.rest.maxRetries = 2;
  auto clientOr = kube::makeClient(*kc, co);
  if (!clientOr.ok()) return fail(clientOr.error().message);
  kube::ClientPtr client = *clientOr;
  {
    kube::ListOptions probe;
    probe.limit = 1;
    auto r = client->list(kube::resources::encryptionKeys(), "", probe);
    if (!r.ok()) {
      std::string hint = r.error().code == ErrorCode::kNotFound ? " (are the CRDs in crds/ installed?)" : "";
      return fail("cannot use the API server at " + kc->transport.server + ": " + r.error().toString() + hint, 1);
    }
  }

  // Backends. SoftHSM2 keeps its tokens under stateDir unless SOFTHSM2_CONF says otherwise.
  if (!std::getenv("SOFTHSM2_CONF")) {
    std::error_code ec;
    fs::create_directories(cfg.stateDir + "/softhsm2/tokens", ec);
    const std::string conf = cfg.stateDir + "/softhsm2/softhsm2.conf";
    if (!fs::exists(conf))
      std::ofstream(conf) << "directories.tokendir = " << cfg.stateDir << "/softhsm2/tokens\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  }
  // Token PINs and the approval-signing keyring: one Secret per kind of credential, or
  // files on the state volume when kube-apiserver encrypts Secrets through Keygate (no
  // Secret read on the cold-start path).
  auto opened = openSecretStore(cfg, client);
  if (!opened.ok()) return fail(opened.error().message);
  if (opened->migrated > 0)
    logger().info("moved credentials out of the legacy Secret and deleted it",
                  {{"secret", cfg.operatorNamespace + "/" + controllers::kLegacyCredentialsSecretName},
                   {"values", opened->migrated}});
  backends::SecretStorePtr secrets = opened->store;
  const std::string secretsWhere = opened->where;
  auto registry = backends::BackendRegistry::withBuiltins();
  controllers::BackendSet backendSet;
  for (const auto& bc : cfg.backends) {
    auto b = registry.build(bc, {secrets});
    if (!b.ok()) return fail(b.error().message);
    backendSet.add(std::move(*b));
  }
  // keygate_backend_up follows a periodic probe of each backend (the first one now).
  controllers::BackendProber prober(
      backendSet, std::chrono::duration_cast<std::chrono::milliseconds>(cfg.backendProbeInterval),
      [&metrics](const std::string& backend, bool up) { metrics.backendUp(backend, up); });
  prober.start();
  cfg.policy.knownBackends = backendSet.names();

  // Informers (every replica keeps caches warm; only the leader reconciles).
  // Each reflector counts its re-established watches in keygate_watch_restarts_total.
  auto reflectorOptions = [&metrics](const kube::Resource& r) {
    kube::ReflectorOptions ro;
    ro.onWatchRestart = [&metrics, plural = r.plural] { metrics.watchRestart(plural); };
    return ro;
  };
  auto keys = std::make_unique<kube::Informer>(client, kube::resources::encryptionKeys(),
                                               reflectorOptions(kube::resources::encryptionKeys()));
  auto requests = std::make_unique<kube::Informer>(client, kube::resources::keyActivationRequests(),
                                                   reflectorOptions(kube::resources::keyActivationRequests()));
  auto bindings = std::make_unique<kube::Informer>(client, kube::resources::keyRoleBindings(),
                                                   reflectorOptions(kube::resources::keyRoleBindings()));
  // Namespaces: their keygate.dev/jurisdiction label (the platform team's) binds every key in them.
  auto namespaces = std::make_unique<kube::Informer>(client, kube::resources::namespaces(),
                                                     reflectorOptions(kube::resources::namespaces()));
  auto namespaceJurisdiction = [&namespaces](const std::string& ns) {
    return webhook::namespaceJurisdictionIn(namespaces->cache(), ns);
  };
  requests->addIndexer(controllers::kRequestsByKeyIndex, controllers::requestsByKey);
  // Gauges for /metrics follow the informers' events (no API calls, and a scrape does not
  // decode every cached object).
  cmd::GaugeIndex gauges;
  keys->addHandlers(gauges.keyHandlers());
  requests->addHandlers(gauges.requestHandlers());
  bindings->addHandlers(gauges.bindingHandlers());
  metrics.setSnapshotSource([&gauges] {
    auto s = gauges.snapshot();
    s.pkcs11SessionsOpen = backends::pkcs11::openSessionCount();
    return s;
  });

  kube::EventRecorderOptions eo;
  eo.reportingInstance = identity;
  auto events = std::make_shared<kube::ApiEventRecorder>(client, eo);
  auto stdoutAudit = std::make_shared<controllers::StreamAuditSink>(&std::cout, 100);
  stdoutAudit->observe = [&metrics](const std::string& e) { metrics.auditEvent(e); };
  // The durable copy: hash-chained, on the state volume (`keygate audit verify`).
  auto auditFile = controllers::FileAuditSink::open({cfg.auditFile, static_cast<uint64_t>(cfg.auditMaxFileBytes),
                                                     cfg.auditMaxFiles});
  if (!auditFile.ok()) return fail("audit.file: " + auditFile.error().message);
  auto audit = std::make_shared<controllers::TeeAuditSink>(
      std::vector<controllers::AuditSinkPtr>{std::shared_ptr<controllers::FileAuditSink>(std::move(*auditFile)), stdoutAudit});

  // The approval-signing key: generated on first start (by one replica, whichever stores it
  // first), kept in the secret store.
  auto loadedKeys = controllers::loadOrCreateSigningKeyring(*secrets, realClock().now());
  if (!loadedKeys.ok()) return fail("approval-signing keyring: " + loadedKeys.error().message);
  if (loadedKeys->generatedHere) logger().info("generated the approval-signing keyring", {{"secretStore", secretsWhere}});
  if (loadedKeys->fromUnversioned)
    logger().info("created the approval-signing keyring from the earlier single key", {{"secretStore", secretsWhere}});
  auto keyring = std::make_shared<api::v1alpha1::SigningKeyring>(controllers::kSigningKeyPropagation);
  keyring->set(std::move(loadedKeys->keys));
  auto signer = std::make_shared<const api::v1alpha1::ApprovalSigner>(keyring);
  // Every replica re-reads the keyring, so a rotation (`keygate signing-key rotate`) reaches
  // each of them before the new key signs anything.
  Periodic keyringRefresh(controllers::kSigningKeyringRefresh, [&secrets, &keyring, &secretsWhere] {
    auto change = controllers::refreshSigningKeyring(*secrets, *keyring);
    if (!change.ok())
      logger().warn("cannot re-read the approval-signing keyring", {{"secretStore", secretsWhere}, {"error", change.error().toString()}});
    else if (!change->empty())
      logger().info("approval-signing keyring changed", {{"change", *change}, {"secretStore", secretsWhere}});
  });
  keyringRefresh.start();

  controllers::EncryptionKeyReconcilerDeps deps;
  deps.keys = &keys->cache();
  deps.requests = &requests->cache();
  deps.client = client;
  deps.backends = &backendSet;
  deps.policy = cfg.policy;
  deps.namespaceJurisdiction = namespaceJurisdiction;
  deps.driftScanInterval = cfg.driftScanInterval;
  controllers::DescribeBudget firstDescribes(cfg.firstDescribeQps, cfg.firstDescribeBurst);
  deps.firstDescribeBudget = &firstDescribes;
  deps.onFirstDescribeScheduled = [&metrics](const std::string& b, int delta) { metrics.firstDescribeScheduled(b, delta); };
  deps.importWindow = cfg.importWindow;
  deps.events = events;
  deps.audit = audit;
  // Only approvals whose signature, spec hash, role and segregation of duties hold count.
  deps.verdicts = controllers::approvalVerdicts(&bindings->cache(), signer, cfg.policy);
  deps.onActivated = [&metrics](double seconds) { metrics.timeToActivation(seconds); };
  deps.onBackendOperation = [&metrics](const std::string& b, const std::string& op, const std::string& result, double s) {
    metrics.backendOperation(b, op, result, s);
  };
  // Objects in tenant storage that no key accounts for (a kill inside object creation).
  controllers::KeyAccountingIndex accounting;
  keys->addHandlers(accounting.handlers());
  controllers::StraySweeperOptions sso;
  sso.keys = &keys->cache();
  sso.accounting = &accounting;
  sso.backends = &backendSet;
  sso.audit = audit;
  sso.grace = cfg.strayGracePeriod;
  sso.interval = cfg.straySweepInterval;
  sso.counted = [&metrics](const std::string& b, const std::string& action) { metrics.strayObject(b, action); };
  sso.present = [&metrics](const std::string& b, size_t pending, size_t retained) {
    metrics.strayObjectsPresent(b, pending, retained);
  };
  sso.ready = [&keys] { return keys->hasSynced(); };
  controllers::StraySweeper straySweeper(sso);
  deps.onCreateFailed = [&straySweeper](const std::string& b, const std::string& ns) { straySweeper.request(b, ns); };
  controllers::ControllerOptions ctl;
  ctl.workers = cfg.workers;
  ctl.cachesSynced = [&keys, &requests, &bindings, &namespaces] {
    return keys->hasSynced() && requests->hasSynced() && bindings->hasSynced() && namespaces->hasSynced();
  };
  ctl.hooks.onReconcile = [&metrics](const std::string& c, const std::string& result, double s) { metrics.reconcile(c, result, s); };
  ctl.queue.metrics.onDepth = [&metrics](size_t d) { metrics.workqueueDepth("encryptionkey", d); };
  ctl.queue.metrics.onRetry = [&metrics] { metrics.workqueueRetry("encryptionkey"); };
  auto keyReconciler = std::make_shared<controllers::EncryptionKeyReconciler>(std::move(deps));
  controllers::Controller keyController(keyReconciler, ctl);
  keys->addHandlers(keyController.enqueueHandlers());
  // A Namespace's keygate.dev/jurisdiction label binds its keys: reconcile them when it changes.
  namespaces->addHandlers(
      controllers::keysOnJurisdictionChange(keys->cache(), [&keyController](const std::string& k) { keyController.enqueue(k); }));
  requests->addHandlers(keyController.mappedHandlers([](const kube::ObjectPtr& o) { return controllers::requestsByKey(*o); }));

  // The admission webhook: every replica serves it (leader or not) from its own caches.
  webhook::CacheRoleView roleView(bindings->cache(), keys->cache(), &namespaces->cache());
  webhook::AdmissionHandler admission(roleView, *signer, cfg.policy);
  // A delete has no object to stamp: the webhook's own audit record names who asked.
  admission.onKeyDeletion = [audit](const webhook::AdmissionRequest& r) {
    controllers::AuditRecord rec;
    rec.time = std::chrono::system_clock::now();
    rec.event = "KeyDeletionRequested";
    rec.ns = r.namespace_;
    rec.key = r.name;
    rec.keyUid = getString(r.oldObject, "metadata.uid");
    rec.backend = getString(r.oldObject, "spec.backend");
    rec.initiator = r.userInfo.username;
    rec.message = "delete requested; destruction policy " +
                  getString(r.oldObject, "spec.destruction.policy", "Retain");
    audit->write(rec);
  };
  auto webhookAddr = metrics::parseBindAddress(cfg.webhook.bindAddress);
  if (!webhookAddr.ok()) return fail("webhook.bindAddress: " + webhookAddr.error().message);
  webhook::ServerOptions wso;
  wso.host = webhookAddr->host.empty() ? "0.0.0.0" : webhookAddr->host;
  wso.port = webhookAddr->port;
  wso.certFile = cfg.webhook.certFile;
  wso.keyFile = cfg.webhook.keyFile;
  wso.clientCAFile = cfg.webhook.clientCAFile;
  wso.allowedClientNames = cfg.webhook.allowedClientNames;
  wso.threads = static_cast<size_t>(f.httpThreads);
  metrics.webhookClientAuth(!cfg.webhook.clientCAFile.empty());
  if (cfg.webhook.clientCAFile.empty())
    logger().warn(
        "SECURITY: the admission webhook does not authenticate its callers (webhook.clientCAFile is not set). Any "
        "pod that can reach its port can obtain approval signatures for made-up users. Set webhook.clientCAFile and "
        "give kube-apiserver a client certificate (docs/security.md), or restrict the port with a NetworkPolicy",
        {{"metric", "keygate_webhook_client_auth 0"}});
  wso.onRequest = [&metrics](const webhook::RequestRecord& r) {
    metrics.webhookRequest(r.kind, r.operation, r.allowed.value_or(false),
                           std::chrono::duration<double>(r.duration).count());
  };
  auto webhookServer = webhook::Server::start(wso, admission);
  if (!webhookServer.ok()) return fail(webhookServer.error().message);

  // The crypto API (off unless dataPlane.bindAddress is set).
  std::atomic<bool> leading{false};
  std::unique_ptr<dataplane::KeyDirectory> keyDirectory;
  std::unique_ptr<dataplane::TokenReviewAuthenticator> authenticator;
  std::unique_ptr<dataplane::CryptoService> cryptoService;
  std::unique_ptr<dataplane::GrpcServer> cryptoServer;
  if (!cfg.dataPlane.bindAddress.empty()) {
    const DataPlaneConfig& dp = cfg.dataPlane;
    keyDirectory = std::make_unique<dataplane::KeyDirectory>(keys->cache(), bindings->cache());
    dataplane::TokenReviewAuthenticatorOptions ao;
    ao.audience = dp.audience;
    ao.cacheTtl = std::chrono::duration_cast<std::chrono::seconds>(dp.tokenCacheTTL);
    ao.acceptCertificates = !dp.clientCAFile.empty();
    authenticator = std::make_unique<dataplane::TokenReviewAuthenticator>(
        [client](const Json& review) { return client->create(kube::resources::tokenReviews(), "", review); }, ao);
    dataplane::CryptoServiceDeps cd;
    cd.directory = keyDirectory.get();
    cd.backend = [&backendSet](const std::string& name) { return backendSet.find(name); };
    cd.audit = audit;
    cd.observe = [&metrics](const dataplane::CallRecord& r) {
      metrics.cryptoCall(r.ns, r.purpose, dataplane::operationName(r.operation), grpcCodeName(r.code), r.reason,
                         r.duration.count());
    };
    dataplane::CryptoServiceOptions cso;
    cso.maxInputBytes = static_cast<size_t>(dp.maxRequestBytes);
    cso.tenantQps = static_cast<double>(dp.tenantQps);
    cso.tenantBurst = static_cast<int>(dp.tenantBurst);
    cryptoService = std::make_unique<dataplane::CryptoService>(std::move(cd), cso);
    auto addr = metrics::parseBindAddress(dp.bindAddress);
    if (!addr.ok()) return fail("dataPlane.bindAddress: " + addr.error().message);
    dataplane::GrpcServerOptions go;
    go.address = (addr->host.empty() ? std::string("0.0.0.0") : addr->host) + ":" + std::to_string(addr->port);
    go.certFile = dp.certFile;
    go.keyFile = dp.keyFile;
    go.clientCaFile = dp.clientCAFile;
    go.maxMessageBytes = static_cast<size_t>(4 * dp.maxRequestBytes + 4096);
    const bool leaderOnly = dp.serveOn == "leader" && cfg.leaderElection.enabled;
    go.serving = [&, leaderOnly]() -> Status {
      if (leaderOnly && !leading)
        return makeError(ErrorCode::kUnavailable, "this replica is a standby (dataPlane.serveOn: leader); retry: the "
                                                  "Service routes to the leader once its readiness probe passes");
      if (!keys->hasSynced() || !bindings->hasSynced())
        return makeError(ErrorCode::kUnavailable, "the key and binding caches are not synced yet; retry");
      return okStatus();
    };
    auto started = dataplane::GrpcServer::start(go, *authenticator, *cryptoService);
    if (!started.ok()) return fail("crypto API: " + started.error().message);
    cryptoServer = std::move(*started);
  }
  // Allowed calls reach the audit trail aggregated: one KeyUsed record per caller, key
  // version and operation per interval.
  std::mutex usageMu;
  std::condition_variable usageCv;
  bool usageStop = false;
  std::thread usageFlusher;
  if (cryptoService) {
    usageFlusher = std::thread([&] {
      std::unique_lock<std::mutex> lock(usageMu);
      while (!usageCv.wait_for(lock, cfg.dataPlane.usageAuditInterval, [&] { return usageStop; })) {
        lock.unlock();
        cryptoService->flushUsage();
        lock.lock();
      }
    });
  }

  // KeyActivationRequest and KeyRoleBinding controllers.
  auto queueHooks = [&metrics](controllers::ControllerOptions o, const std::string& name) {
    o.queue.metrics.onDepth = [&metrics, name](size_t d) { metrics.workqueueDepth(name, d); };
    o.queue.metrics.onRetry = [&metrics, name] { metrics.workqueueRetry(name); };
    return o;
  };
  controllers::ActivationRequestReconcilerDeps rd;
  rd.requests = &requests->cache();
  rd.keys = &keys->cache();
  rd.bindings = &bindings->cache();
  rd.client = client;
  rd.policy = cfg.policy;
  rd.signer = signer;
  rd.events = events;
  rd.audit = audit;
  rd.enqueueKey = [&keyController](const std::string& k) { keyController.enqueue(k); };
  controllers::Controller requestController(std::make_shared<controllers::ActivationRequestReconciler>(std::move(rd)),
                                            queueHooks(ctl, "keyactivationrequest"));
  requests->addHandlers(requestController.enqueueHandlers());
  keys->addHandlers(requestController.mappedHandlers([&](const kube::ObjectPtr& o) {
    return requests->cache().keysByIndex(controllers::kRequestsByKeyIndex, kube::objectKey(*o));
  }));
  bindings->addHandlers(requestController.mappedHandlers([&](const kube::ObjectPtr& o) {
    return requests->cache().keysInNamespace(kube::namespaceOf(*o));
  }));
  controllers::RoleBindingReconcilerDeps bd;
  bd.bindings = &bindings->cache();
  bd.client = client;
  bd.events = events;
  controllers::Controller bindingController(std::make_shared<controllers::RoleBindingReconciler>(std::move(bd)),
                                            queueHooks(ctl, "keyrolebinding"));
  bindings->addHandlers(bindingController.mappedHandlers(
      [&](const kube::ObjectPtr& o) { return controllers::bindingsToRecheck(bindings->cache(), *o); }));
  auto startControllers = [&] {
    keyController.start();
    requestController.start();
    bindingController.start();
    straySweeper.start();  // the leader's: the only replica that writes to backends
  };
  auto stopControllers = [&](std::chrono::milliseconds drain) {
    straySweeper.stop();
    bool a = keyController.stop(drain), b = requestController.stop(drain), c = bindingController.stop(drain);
    return a && b && c;
  };

  (*health)->addReadinessCheck("webhook", [&]() -> Status { return (*webhookServer)->serving(); });
  (*health)->removeReadinessCheck("startup");
  (*health)->addReadinessCheck("informers-synced", [&]() -> Status {
    if (keys->hasSynced() && requests->hasSynced() && bindings->hasSynced() && namespaces->hasSynced()) return okStatus();
    return makeError(ErrorCode::kUnavailable, "informer caches not synced yet");
  });
  (*health)->addReadinessCheck("backends", [&]() -> Status {
    if (backendSet.names().empty()) return makeError(ErrorCode::kUnavailable, "no backend configured");
    return okStatus();
  });

  for (auto* inf : {keys.get(), requests.get(), bindings.get(), namespaces.get()}) inf->start();

  std::atomic<bool> lostLease{false};
  std::atomic<bool> shuttingDown{false};
  std::unique_ptr<kube::LeaderElector> elector;
  if (cfg.leaderElection.enabled) {
    kube::LeaderElectionOptions lo;
    lo.ns = cfg.leaderElection.namespace_;
    lo.leaseName = cfg.leaderElection.leaseName;
    lo.identity = identity;
    lo.leaseDuration = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.leaderElection.leaseDuration);
    lo.renewDeadline = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.leaderElection.renewDeadline);
    lo.retryPeriod = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.leaderElection.retryPeriod);
    lo.callbacks.onStartedLeading = [&] {
      logger().info("became leader; starting controllers", {{"identity", identity}});
      metrics.leader(true);
      leading = true;
      keyReconciler->setActiveSince(std::chrono::system_clock::now());
      startControllers();
    };
    lo.callbacks.onStoppedLeading = [&] {
      metrics.leader(false);
      leading = false;
      if (shuttingDown) return;
      logger().error("lost the leader lease; stopping reconcilers", {{"identity", identity}});
      stopControllers(std::chrono::milliseconds(0));
      lostLease = true;
      ::kill(::getpid(), SIGTERM);  // wake the main thread
    };
    auto e = kube::LeaderElector::create(client, lo);
    if (!e.ok()) return fail(e.error().message);
    elector = std::move(*e);
    elector->start();
  } else {
    metrics.leader(true);
    leading = true;
    startControllers();
  }
  logger().info("operator started", {{"identity", identity},
                                     {"metrics", (*metricsServer)->port()},
                                     {"health", (*health)->port()},
                                     {"leaderElection", cfg.leaderElection.enabled}});

  int sig = waitForShutdownSignal(sigs);
  shuttingDown = true;
  logger().info("shutting down", {{"signal", sig}, {"lostLease", lostLease.load()}});
  // The drain is bounded by --shutdown-timeout; everything after it should take a moment. Should
  // anything hang there, say so and leave rather than wait for the kubelet's SIGKILL (or, outside
  // a pod, forever). Default: 30 + 10 s, inside the manifests' 45 s grace period.
  std::thread([limit = std::chrono::seconds(f.shutdownSeconds) + std::chrono::seconds(10)] {
    std::this_thread::sleep_for(limit);
    logger().error("shutdown did not finish in time; exiting", {{"afterSeconds", static_cast<int>(limit.count())}});
    std::cerr.flush();
    _exit(2);
  }).detach();
  bool drained = stopControllers(std::chrono::seconds(f.shutdownSeconds));
  if (elector) elector->stop();  // releases the Lease when leading
  for (auto* inf : {keys.get(), requests.get(), bindings.get(), namespaces.get()}) inf->stop();
  (*webhookServer)->stop();
  prober.stop();
  if (cryptoServer) cryptoServer->stop(std::chrono::milliseconds(2000));
  if (usageFlusher.joinable()) {
    {
      std::lock_guard<std::mutex> lock(usageMu);
      usageStop = true;
    }
    usageCv.notify_all();
    usageFlusher.join();
    cryptoService->flushUsage();
  }
  events->shutDown(std::chrono::seconds(2));
  logger().info("stopped", {{"drained", drained}});
  std::cout.flush();
  std::cerr.flush();
  // Library threads (gRPC's, civetweb's) may still run while static destructors tear down
  // what they use: leave now, everything that matters is flushed.
  _exit(lostLease ? 1 : 0);
}

}  // namespace

void registerOperator(CLI::App& app) {
  auto f = std::make_shared<OperatorFlags>();
  auto* sub = app.add_subcommand("operator", "Run the Keygate operator (controllers, metrics, health, leader election)");
  sub->add_option("--config", f->config, "Operator configuration file (YAML)")->check(CLI::ExistingFile);
  sub->add_option("--kubeconfig", f->kubeconfig, "kubeconfig file (default: in-cluster, or $KUBECONFIG)");
  sub->add_option("--context", f->context, "kubeconfig context (default: current-context)");
  sub->add_option("--namespace", f->ns, "Operator namespace (Secrets with backend credentials, the Lease)");
  sub->add_option("--metrics-bind-address", f->metricsAddr, "Overrides metrics.bindAddress, e.g. :9090");
  sub->add_option("--health-probe-bind-address", f->healthAddr, "Overrides health.bindAddress, e.g. :8081");
  sub->add_option("--leader-elect", f->leaderElect, "Overrides leaderElection.enabled")->check(CLI::IsMember({"true", "false"}));
  sub->add_option("--workers", f->workers, "Reconcile workers per controller")->check(CLI::Range(1, kMaxWorkers));
  sub->add_option("--kube-api-qps", f->kubeApiQps,
                  "Overrides kubeAPI.qps: client-side requests/s to the API server; -1 = off, 0 = auto (off when "
                  "the server has API Priority and Fairness, else 50)")
      ->check(CLI::Range(-1, 100000));
  sub->add_option("--kube-api-burst", f->kubeApiBurst, "Overrides kubeAPI.burst")->check(CLI::Range(1, 100000));
  sub->add_option("--log-level", f->logLevel, "debug, info, warn or error")->capture_default_str();
  sub->add_option("--log-format", f->logFormat, "json or text")->capture_default_str();
  sub->add_option("--pod-name", f->podName, "Leader-election identity (default: $POD_NAME, then the host name)");
  sub->add_option("--http-threads", f->httpThreads,
                  "Threads for the admission webhook's asynchronous HTTPS I/O and handlers")
      ->check(CLI::Range(1, 64))
      ->default_val(f->httpThreads);
  sub->add_option("--hsm-cpus", f->hsmCpus,
                  "CPUs (e.g. 1 or 2-3) set aside for creating keys in PKCS#11 tokens; all other threads run on the "
                  "rest. Off by default; for nodes where the operator has exclusive CPUs");
  sub->add_option("--shutdown-timeout", f->shutdownSeconds, "Seconds to drain in-flight reconciles on SIGTERM")
      ->capture_default_str();
  sub->callback([f] {
    int rc = runOperator(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace keygate::cmd

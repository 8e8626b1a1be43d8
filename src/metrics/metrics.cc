#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string_view>
#include <tuple>

#include "metrics/metrics_impl.h"

namespace keygate::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Maps a label value outside its vocabulary to "other" (bounded cardinality).
std::string oneOf(const std::string& v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed)
    if (v == a) return v;
  return "other";
}

// Free-form names (controller, backend, resource, event) come from code, not from users;
// still cap their length so a bug cannot produce huge series.
std::string bounded(const std::string& v) {
  if (v.empty()) return "unknown";
  return v.size() <= 64 ? v : v.substr(0, 64);
}

std::vector<double> latencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

double unixSeconds(WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

ClientMetric gaugeMetric(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

}  // namespace

std::vector<double> timeToActivationBuckets() {
  constexpr double kMinute = 60, kHour = 3600, kDay = 86400;
  return {kMinute,      5 * kMinute, 15 * kMinute, 30 * kMinute, kHour,    3 * kHour,  6 * kHour,
          12 * kHour,   kDay,        2 * kDay,     3 * kDay,     7 * kDay, 14 * kDay,  30 * kDay};
}

// ---- SnapshotCollectable ----------------------------------------------------------------

void SnapshotCollectable::setSource(SnapshotFn fn) {
  std::lock_guard<std::mutex> lock(mu_);
  source_ = std::move(fn);
}

std::vector<MetricFamily> SnapshotCollectable::Collect() const {
  SnapshotFn fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn = source_;
  }
  Snapshot s;
  if (fn) s = fn();

  MetricFamily keys{"keygate_keys", "EncryptionKeys in the informer cache by namespace, state, purpose and backend.",
                    MetricType::Gauge, {}};
  MetricFamily preActive{"keygate_key_preactive_expiry_timestamp_seconds",
                         "Unix time at which a PreActive key expires unless it is activated.", MetricType::Gauge, {}};
  MetricFamily rotation{"keygate_key_rotation_due_timestamp_seconds",
                        "Unix time at which a key's next rotation is due.", MetricType::Gauge, {}};
  MetricFamily requests{"keygate_activation_requests",
                        "KeyActivationRequests in the informer cache by namespace and phase.", MetricType::Gauge, {}};
  MetricFamily reviews{"keygate_rolebinding_review_due_timestamp_seconds",
                       "Unix time from which a KeyRoleBinding is overdue for review and grants nothing.",
                       MetricType::Gauge, {}};

  // Aggregate in ordered maps: stable output and one series per label set.
  std::map<std::tuple<std::string, std::string, std::string, std::string>, double> keyCounts;
  std::map<std::pair<std::string, std::string>, double> expiry, rotationDue, reviewDue;
  for (const auto& k : s.keys) {
    std::string state = k.state.empty() ? "Pending" : k.state;
    keyCounts[{k.ns, state, k.purpose, k.backend}] += 1;
    if (k.preActiveExpiresAt && state == "PreActive") expiry[{k.ns, k.name}] = unixSeconds(*k.preActiveExpiresAt);
    if (k.rotationDueAt) rotationDue[{k.ns, k.name}] = unixSeconds(*k.rotationDueAt);
  }
  for (const auto& [l, v] : keyCounts)
    keys.metric.push_back(gaugeMetric({{"backend", std::get<3>(l)},
                                       {"namespace", std::get<0>(l)},
                                       {"purpose", std::get<2>(l)},
                                       {"state", std::get<1>(l)}},
                                      v));
  for (const auto& [l, v] : expiry) preActive.metric.push_back(gaugeMetric({{"key", l.second}, {"namespace", l.first}}, v));
  for (const auto& [l, v] : rotationDue)
    rotation.metric.push_back(gaugeMetric({{"key", l.second}, {"namespace", l.first}}, v));

  std::map<std::pair<std::string, std::string>, double> requestCounts;
  for (const auto& r : s.requests) requestCounts[{r.ns, r.phase.empty() ? "Pending" : r.phase}] += 1;
  for (const auto& [l, v] : requestCounts)
    requests.metric.push_back(gaugeMetric({{"namespace", l.first}, {"phase", l.second}}, v));

  for (const auto& b : s.bindings)
    if (b.reviewDueAt) reviewDue[{b.ns, b.name}] = unixSeconds(*b.reviewDueAt);
  for (const auto& [l, v] : reviewDue)
    reviews.metric.push_back(gaugeMetric({{"binding", l.second}, {"namespace", l.first}}, v));

  std::vector<MetricFamily> out{std::move(keys), std::move(preActive), std::move(requests), std::move(rotation),
                                std::move(reviews)};
  if (s.pkcs11SessionsOpen) {
    MetricFamily sessions{"keygate_pkcs11_sessions_open",
                          "PKCS#11 sessions the process holds open, over every module and token (pooled and in use).",
                          MetricType::Gauge, {}};
    sessions.metric.push_back(gaugeMetric({}, static_cast<double>(*s.pkcs11SessionsOpen)));
    out.push_back(std::move(sessions));
  }
  return out;
}

// ---- MetricsImpl -------------------------------------------------------------------------

MetricsImpl::MetricsImpl(const std::string& buildVersion)
    : registry(std::make_shared<prometheus::Registry>()),
      snapshot(std::make_shared<SnapshotCollectable>()),
      reconcileTotal(BuildCounter()
                         .Name("keygate_reconcile_total")
                         .Help("Reconciles by controller and result (success, requeue, error).")
                         .Register(*registry)),
      reconcileDuration(BuildHistogram()
                            .Name("keygate_reconcile_duration_seconds")
                            .Help("Duration of one reconcile.")
                            .Register(*registry)),
      workqueueDepth(BuildGauge()
                         .Name("keygate_workqueue_depth")
                         .Help("Items waiting in a controller's work queue.")
                         .Register(*registry)),
      workqueueRetries(BuildCounter()
                           .Name("keygate_workqueue_retries_total")
                           .Help("Items re-queued with backoff after a failed reconcile.")
                           .Register(*registry)),
      backendOperations(BuildCounter()
                            .Name("keygate_backend_operations_total")
                            .Help("Key backend operations by backend, operation and result.")
                            .Register(*registry)),
      backendDuration(BuildHistogram()
                          .Name("keygate_backend_operation_duration_seconds")
                          .Help("Duration of one key backend operation.")
                          .Register(*registry)),
      backendUp(BuildGauge()
                    .Name("keygate_backend_up")
                    .Help("1 when the backend's last periodic probe succeeded (health.backendProbeInterval), else 0.")
                    .Register(*registry)),
      strayObjects(BuildCounter()
                       .Name("keygate_backend_stray_objects_total")
                       .Help("Backend objects no key accounts for, by what the sweep did: Disabled (found, every "
                             "usage off) and Destroyed (grace period over, or could not be disabled).")
                       .Register(*registry)),
      strayObjectsPresent(BuildGauge()
                              .Name("keygate_backend_stray_objects")
                              .Help("After the latest sweep: strays disabled and awaiting destruction (state "
                                    "Pending) and whole versions of deleted keys kept by destruction.policy Retain "
                                    "(state Retained).")
                              .Register(*registry)),
      firstDescribesScheduled(BuildGauge()
                                  .Name("keygate_backend_first_describes_scheduled")
                                  .Help("Keys whose first describe since the operator started waits for its slot "
                                        "(health.firstDescribeRateLimit); it falls to 0 once every key was verified "
                                        "against its backend.")
                                  .Register(*registry)),
      webhookRequests(BuildCounter()
                          .Name("keygate_webhook_requests_total")
                          .Help("Admission reviews by kind, operation and whether they were allowed.")
                          .Register(*registry)),
      webhookClientAuth(BuildGauge()
                            .Name("keygate_webhook_client_auth")
                            .Help("1 when the admission webhook requires a client certificate from its callers "
                                  "(webhook.clientCAFile); 0 when any caller that reaches its port is served.")
                            .Register(*registry)),
      webhookDuration(BuildHistogram()
                          .Name("keygate_webhook_duration_seconds")
                          .Help("Time to answer one admission review.")
                          .Register(*registry)
                          .Add({}, latencyBuckets())),
      kubeRequests(BuildCounter()
                       .Name("keygate_kube_requests_total")
                       .Help("Kubernetes API requests by verb, resource and HTTP status (0: no response).")
                       .Register(*registry)),
      watchRestarts(BuildCounter()
                        .Name("keygate_watch_restarts_total")
                        .Help("Watch streams re-established (dropped stream, timeout or 410 relist).")
                        .Register(*registry)),
      leader(BuildGauge()
                 .Name("keygate_leader")
                 .Help("1 while this replica holds the leader lease and runs the reconcilers.")
                 .Register(*registry)
                 .Add({})),
      auditEvents(BuildCounter()
                      .Name("keygate_audit_events_total")
                      .Help("Audit records written, by lifecycle event.")
                      .Register(*registry)),
      timeToActivation(BuildHistogram()
                           .Name("keygate_key_time_to_activation_seconds")
                           .Help("Time from a key version's creation to its activation.")
                           .Register(*registry)
                           .Add({}, timeToActivationBuckets())),
      buildInfo(BuildGauge()
                    .Name("keygate_build_info")
                    .Help("Always 1; the version label identifies the running build.")
                    .Register(*registry)),
      cryptoRequests(BuildCounter()
                         .Name("keygate_crypto_requests_total")
                         .Help("Crypto API calls by key namespace, key purpose, operation and gRPC status code.")
                         .Register(*registry)),
      cryptoDenied(BuildCounter()
                       .Name("keygate_crypto_denied_total")
                       .Help("Refused key uses (audited as KeyUseDenied) by namespace, operation and reason.")
                       .Register(*registry)),
      cryptoDuration(BuildHistogram()
                         .Name("keygate_crypto_request_duration_seconds")
                         .Help("Time to serve one crypto API call, authentication to answer.")
                         .Register(*registry)),
      kmsLatency(BuildHistogram()
                     .Name("keygate_kms_operations_latency_seconds")
                     .Help("KMS v2 plugin calls from kube-apiserver by method and gRPC status code (as "
                           "apiserver_envelope_encryption_kms_operations_latency_seconds sees them).")
                     .Register(*registry)),
      kmsHealthy(BuildGauge()
                     .Name("keygate_kms_healthy")
                     .Help("1 while the KMS v2 plugin's last encrypt+decrypt round trip through the crypto API passed.")
                     .Register(*registry)),
      kmsLastHealthy(BuildGauge()
                         .Name("keygate_kms_health_check_last_success_timestamp_seconds")
                         .Help("Unix time of the KMS v2 plugin's last passed round trip.")
                         .Register(*registry)),
      kmsKeyIdChanges(BuildCounter()
                          .Name("keygate_kms_key_id_changes_total")
                          .Help("Times the KMS v2 plugin's key_id changed (rotation to a new Active version).")
                          .Register(*registry)),
      kmsKeyIdInfo(BuildGauge()
                       .Name("keygate_kms_key_id_info")
                       .Help("Always 1; the labels name the KMS v2 plugin's current key_id and key version.")
                       .Register(*registry)) {
  if (!buildVersion.empty()) {
    buildInfoGauge = &buildInfo.Add({{"version", buildVersion}});
    buildInfoGauge->Set(1);
  }
}

// ---- Metrics -----------------------------------------------------------------------------

Metrics::Metrics(std::string buildVersion) : impl_(std::make_unique<MetricsImpl>(buildVersion)) {}
Metrics::~Metrics() = default;

void Metrics::setSnapshotSource(SnapshotFn fn) { impl_->snapshot->setSource(std::move(fn)); }

void Metrics::reconcile(const std::string& controller, const std::string& result, double seconds) {
  const std::string c = bounded(controller);
  impl_->reconcileTotal.Add({{"controller", c}, {"result", oneOf(result, {"success", "requeue", "error"})}})
      .Increment();
  impl_->reconcileDuration.Add({{"controller", c}}, latencyBuckets()).Observe(std::max(0.0, seconds));
}

void Metrics::workqueueDepth(const std::string& controller, size_t depth) {
  impl_->workqueueDepth.Add({{"controller", bounded(controller)}}).Set(static_cast<double>(depth));
}

void Metrics::workqueueRetry(const std::string& controller) {
  impl_->workqueueRetries.Add({{"controller", bounded(controller)}}).Increment();
}

void Metrics::backendOperation(const std::string& backend, const std::string& operation, const std::string& result,
                               double seconds) {
  const std::string b = bounded(backend);
  const std::string op = oneOf(operation, {"generate", "importWrapped", "activate", "deactivate", "markCompromised",
                                           "destroy", "describe", "selfTest", "wrappingKey", "open"});
  impl_->backendOperations.Add({{"backend", b}, {"operation", op}, {"result", oneOf(result, {"success", "error"})}})
      .Increment();
  impl_->backendDuration.Add({{"backend", b}, {"operation", op}}, latencyBuckets()).Observe(std::max(0.0, seconds));
}

void Metrics::backendUp(const std::string& backend, bool up) {
  impl_->backendUp.Add({{"backend", bounded(backend)}}).Set(up ? 1 : 0);
}

void Metrics::webhookClientAuth(bool required) { impl_->webhookClientAuth.Add({}).Set(required ? 1 : 0); }

void Metrics::webhookRequest(const std::string& kind, const std::string& operation, bool allowed, double seconds) {
  impl_->webhookRequests
      .Add({{"kind", oneOf(kind, {"EncryptionKey", "KeyActivationRequest", "KeyRoleBinding"})},
            {"operation", oneOf(operation, {"CREATE", "UPDATE", "DELETE", "CONNECT"})},
            {"allowed", allowed ? "true" : "false"}})
      .Increment();
  impl_->webhookDuration.Observe(std::max(0.0, seconds));
}

void Metrics::cryptoCall(const std::string& ns, const std::string& purpose, const std::string& operation,
                         const std::string& code, const std::string& denyReason, double seconds) {
  static const std::initializer_list<std::string_view> kOps = {"Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt", "Sign",
                                                               "Verify", "Mac", "VerifyMac", "GetPublicKey"};
  const std::string op = oneOf(operation, kOps);
  const std::string n = bounded(ns);
  impl_->cryptoRequests
      .Add({{"namespace", n},
            {"purpose", purpose.empty() ? "unknown" : oneOf(purpose, {"Encrypt", "Sign", "Wrap", "MAC"})},
            {"operation", op},
            {"code", bounded(code)}})
      .Increment();
  if (!denyReason.empty()) impl_->cryptoDenied.Add({{"namespace", n}, {"operation", op}, {"reason", bounded(denyReason)}}).Increment();
  // Crypto calls take tens of microseconds to milliseconds: finer buckets than the rest.
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.025,   0.05,   0.1,   0.25,   1};
  impl_->cryptoDuration.Add({{"operation", op}}, kBuckets).Observe(std::max(0.0, seconds));
}

void Metrics::kmsCall(const std::string& method, const std::string& code, double seconds) {
  // KMS round trips cross the crypto API and the HSM: 100 µs to seconds.
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                               0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5};
  impl_->kmsLatency.Add({{"method_name", oneOf(method, {"Status", "Encrypt", "Decrypt"})}, {"grpc_status_code", bounded(code)}},
                        kBuckets)
      .Observe(std::max(0.0, seconds));
}

void Metrics::kmsHealth(bool healthy) {
  impl_->kmsHealthy.Add({}).Set(healthy ? 1 : 0);
}

void Metrics::kmsRoundTripPassed() {
  impl_->kmsLastHealthy.Add({}).SetToCurrentTime();
}

void Metrics::kmsKeyId(const std::string& keyId, const std::string& version) {
  std::lock_guard<std::mutex> lock(impl_->kmsKeyIdMu);
  auto& changes = impl_->kmsKeyIdChanges.Add({});
  if (impl_->kmsKeyIdGauge) {
    impl_->kmsKeyIdInfo.Remove(impl_->kmsKeyIdGauge);
    changes.Increment();
  }
  impl_->kmsKeyIdGauge = &impl_->kmsKeyIdInfo.Add({{"key_id", bounded(keyId)}, {"key_version", bounded(version)}});
  impl_->kmsKeyIdGauge->Set(1);
}

void Metrics::kubeRequest(const std::string& verb, const std::string& resource, int code) {
  const std::string c = (code >= 100 && code <= 599) ? std::to_string(code) : "0";
  impl_->kubeRequests
      .Add({{"verb", oneOf(verb, {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"})},
            {"resource", bounded(resource)},
            {"code", c}})
      .Increment();
}

void Metrics::watchRestart(const std::string& resource) {
  impl_->watchRestarts.Add({{"resource", bounded(resource)}}).Increment();
}

void Metrics::leader(bool isLeader) { impl_->leader.Set(isLeader ? 1 : 0); }

void Metrics::strayObject(const std::string& backend, const std::string& action) {
  const std::string a = action == "Disabled" || action == "Destroyed" ? action : "other";
  impl_->strayObjects.Add({{"backend", bounded(backend)}, {"action", a}}).Increment();
}

void Metrics::firstDescribeScheduled(const std::string& backend, int delta) {
  auto& g = impl_->firstDescribesScheduled.Add({{"backend", bounded(backend)}});
  g.Increment(static_cast<double>(delta));
}

void Metrics::strayObjectsPresent(const std::string& backend, size_t pending, size_t retained) {
  impl_->strayObjectsPresent.Add({{"backend", bounded(backend)}, {"state", "Pending"}}).Set(static_cast<double>(pending));
  impl_->strayObjectsPresent.Add({{"backend", bounded(backend)}, {"state", "Retained"}}).Set(static_cast<double>(retained));
}

void Metrics::auditEvent(const std::string& event) { impl_->auditEvents.Add({{"event", bounded(event)}}).Increment(); }

void Metrics::timeToActivation(double seconds) { impl_->timeToActivation.Observe(std::max(0.0, seconds)); }

void Metrics::buildInfo(const std::string& version) {
  std::lock_guard<std::mutex> lock(impl_->buildInfoMu);
  if (impl_->buildInfoGauge) impl_->buildInfo.Remove(impl_->buildInfoGauge);
  impl_->buildInfoGauge = &impl_->buildInfo.Add({{"version", bounded(version)}});
  impl_->buildInfoGauge->Set(1);
}

std::string Metrics::scrapeText() const {
  auto families = impl_->registry->Collect();
  auto more = impl_->snapshot->Collect();
  families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace keygate::metrics

#pragma once
// Keygate's Prometheus metrics (names and labels are part of the API: architecture.md).
//
// Two sources:
//  - counters, histograms and process gauges, updated through the plain methods below by
//    controllers, the webhook, the kube client and the backends;
//  - gauges about objects (keys by state, expiry and due timestamps, requests by phase,
//    binding review dates), computed at scrape time from a snapshot callback that reads
//    the informer cache. A scrape never calls the API server.
//
// Labels are bounded: label values with a known vocabulary (results, verbs, operations)
// are mapped to "other" when unknown, so a caller bug cannot explode cardinality. Object
// labels (namespace, key, binding) follow the objects in the cache.
//
// No global registry: main() owns one Metrics and passes it down; tests make their own.
// Every method is thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace keygate::metrics {

// One EncryptionKey as the cache sees it. state/purpose/backend use the API's wire
// spelling ("PreActive", "Encrypt", "softhsm"); empty state reads as "Pending".
struct KeyGauge {
  std::string ns;
  std::string name;
  std::string state;
  std::string purpose;
  std::string backend;
  std::optional<WallTime> preActiveExpiresAt;  // status.preActiveExpiresAt while PreActive
  std::optional<WallTime> rotationDueAt;       // next rotation, for keys with spec.rotation
};

// One KeyActivationRequest; empty phase reads as "Pending".
struct RequestGauge {
  std::string ns;
  std::string phase;
};

// One KeyRoleBinding; reviewDueAt is the first instant the binding is overdue.
struct BindingGauge {
  std::string ns;
  std::string name;
  std::optional<WallTime> reviewDueAt;
};

struct Snapshot {
  std::vector<KeyGauge> keys;
  std::vector<RequestGauge> requests;
  std::vector<BindingGauge> bindings;
  // keygate_pkcs11_sessions_open: PKCS#11 sessions the process holds (absent: not exported).
  std::optional<int64_t> pkcs11SessionsOpen;
};

// Called on the exposer's threads at every scrape: must be thread-safe, fast and must not
// block on the network (read the informer cache only).
using SnapshotFn = std::function<Snapshot()>;

class MetricsImpl;  // private: holds the prometheus-cpp registry (metrics_impl.h)

class Metrics {
 public:
  // buildVersion fills keygate_build_info{version}; empty leaves it unset until buildInfo().
  explicit Metrics(std::string buildVersion = "");
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Replaces the source of the cache-derived gauges (none: those families are empty).
  void setSnapshotSource(SnapshotFn fn);

  // result: "success" | "requeue" | "error" (anything else counts as "other").
  void reconcile(const std::string& controller, const std::string& result, double seconds);
  void workqueueDepth(const std::string& controller, size_t depth);
  void workqueueRetry(const std::string& controller);
  // operation: generate, importWrapped, activate, ... ; result: "success" | "error".
  void backendOperation(const std::string& backend, const std::string& operation, const std::string& result,
                        double seconds);
  void backendUp(const std::string& backend, bool up);
  // The stray-object sweep (controllers/stray_sweeper.h): one Disabled or Destroyed object,
  // and the counts a sweep of every tenant of `backend` left.
  void strayObject(const std::string& backend, const std::string& action);
  void strayObjectsPresent(const std::string& backend, size_t pending, size_t retained);
  // A key's first describe after start was put off to its slot (+1), or ran / its key went (-1).
  void firstDescribeScheduled(const std::string& backend, int delta);
  // kind: EncryptionKey | KeyActivationRequest | KeyRoleBinding; operation: CREATE | UPDATE | DELETE | CONNECT.
  void webhookRequest(const std::string& kind, const std::string& operation, bool allowed, double seconds);
  // keygate_webhook_client_auth: whether the webhook authenticates its callers.
  void webhookClientAuth(bool required);
  // verb: get, list, watch, create, update, patch, delete; code: HTTP status, 0 = no response.
  void kubeRequest(const std::string& verb, const std::string& resource, int code);
  void watchRestart(const std::string& resource);
  void leader(bool isLeader);
  // event: the audit event name (KeyCreated, KeyActivated, ...).
  void auditEvent(const std::string& event);
  // Seconds from a key version's creation to its activation; observed when activation completes.
  void timeToActivation(double seconds);
  void buildInfo(const std::string& version);
  // One crypto API call: keygate_crypto_requests_total{namespace,purpose,operation,code}
  // (code: the gRPC status name, OK for success), keygate_crypto_request_duration_seconds
  // {operation}, and for a refused use keygate_crypto_denied_total{namespace,operation,reason}.
  // No key names or callers in labels (bounded cardinality); those are in the audit trail.
  void cryptoCall(const std::string& ns, const std::string& purpose, const std::string& operation,
                  const std::string& code, const std::string& denyReason, double seconds);

  // The KMS v2 plugin (`keygate kms-plugin`): one call from kube-apiserver
  // (keygate_kms_operations_latency_seconds{method_name,grpc_status_code}); its health
  // (keygate_kms_healthy, keygate_kms_health_check_last_success_timestamp_seconds); its
  // key_id (keygate_kms_key_id_info{key_id,key_version} = 1 for the current one only;
  // keygate_kms_key_id_changes_total counts switches after the first).
  void kmsCall(const std::string& method, const std::string& code, double seconds);
  void kmsHealth(bool healthy);
  void kmsRoundTripPassed();  // sets keygate_kms_health_check_last_success_timestamp_seconds to now
  void kmsKeyId(const std::string& keyId, const std::string& version);

  // The whole exposition (registry + snapshot gauges) in the Prometheus text format, as a
  // scrape would see it. For `keygate local` and tests.
  std::string scrapeText() const;

  MetricsImpl& impl() { return *impl_; }

 private:
  std::unique_ptr<MetricsImpl> impl_;
};

// Bucket bounds of keygate_key_time_to_activation_seconds: one minute to 30 days.
std::vector<double> timeToActivationBuckets();

}  // namespace keygate::metrics

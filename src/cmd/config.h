#pragma once
// The operator configuration file (`keygate operator --config FILE`, api.md "Operator
// configuration"; every field is documented in docs/configuration.md).
//
// Parsed with yaml-cpp and validated field by field. A bad file yields ONE InvalidArgument
// error whose message has every problem on its own line, in file order:
//   config.yaml:7: backends[0].isolation: unsupported value "shared": supported values: "tokenPerNamespace"
// Unknown fields are errors (a typo must not silently fall back to a default). Scalars are
// typed as YAML 1.1 plain scalars (yes/on are booleans, 0123 is octal): a string field
// given `on` or `0123` unquoted is refused with a hint to quote it; a boolean or integer
// field given a quoted value is refused with a hint to remove the quotes.
//
// Parsing is pure: no file other than the config itself is opened (module, certificate
// and key paths are checked when the operator opens them).

#include <string>
#include <string_view>
#include <vector>

#include "api/v1alpha1/policy.h"
#include "backends/registry.h"
#include "common/clock.h"
#include "common/result.h"

namespace keygate::cmd {

struct WebhookConfig {
  std::string bindAddress = ":9443";
  std::string certFile = "/etc/keygate/webhook/tls.crt";  // PEM certificate chain
  std::string keyFile = "/etc/keygate/webhook/tls.key";   // PEM private key
  // Non-empty: callers must present a TLS client certificate from this CA (kube-apiserver
  // does, given an AdmissionConfiguration; docs/security.md). Empty: unauthenticated callers
  // are served, with a warning at start and keygate_webhook_client_auth 0.
  std::string clientCAFile;
  std::vector<std::string> allowedClientNames;  // client certificate CNs; empty: any from the CA
};

// The crypto API (docs/crypto-api.md). Off unless bindAddress is set.
struct DataPlaneConfig {
  std::string bindAddress;                                 // "" = off; e.g. ":8443"
  std::string certFile = "/etc/keygate/crypto/tls.crt";    // PEM chain; re-read when it changes
  std::string keyFile = "/etc/keygate/crypto/tls.key";
  std::string clientCAFile;                                // "" = no client certificates
  std::string audience = "keygate.dev";                    // required in callers' tokens
  Duration tokenCacheTTL = std::chrono::seconds(30);       // TokenReview verdict cache
  int64_t maxRequestBytes = 65536;                         // plaintext/aad/data/digest limit
  int64_t tenantQps = 2000;                                // per namespace; 0 = unlimited
  int64_t tenantBurst = 4000;
  std::string serveOn = "leader";                          // leader | all
  Duration usageAuditInterval = std::chrono::seconds(60);  // KeyUsed aggregation period
};

// client-go's rules apply: leaseDuration > renewDeadline > retryPeriod.
struct LeaderElectionConfig {
  bool enabled = true;
  std::string namespace_;  // default: operatorNamespace
  std::string leaseName = "keygate-leader";
  Duration leaseDuration = std::chrono::seconds(15);
  Duration renewDeadline = std::chrono::seconds(10);
  Duration retryPeriod = std::chrono::seconds(2);
};

inline constexpr int kMaxWorkers = 64;

struct OperatorConfig {
  // At least one. settings holds the whole entry (name, type, module, isolation, ...) for
  // backends::BackendRegistry::build.
  std::vector<backends::BackendConfig> backends;
  api::v1alpha1::Policy policy;                    // defaults: see api/v1alpha1/policy.h
  std::string metricsBindAddress = ":9090";        // metrics.bindAddress
  std::string healthBindAddress = ":8081";         // health.bindAddress
  // health.backendProbeInterval: how often each backend is probed (keygate_backend_up);
  // a failing backend is re-probed every min(this, 5s).
  Duration backendProbeInterval = std::chrono::seconds(30);
  // health.driftScanInterval: every key version is described in its backend once per
  // interval (each key at its own offset, so the describes are spread out); a changed usage
  // attribute is repaired and audited as DriftRepaired. 0 = only at start and on request.
  Duration driftScanInterval = std::chrono::hours(1);
  // health.firstDescribeRateLimit: each key's first describe after start, per backend: `burst`
  // at once, then `qps` per second (each key gets its slot). qps 0 = no limit.
  double firstDescribeQps = 50;
  int firstDescribeBurst = 100;
  // health.straySweepInterval: how often every tenant's storage is searched for objects no key
  // accounts for (controllers/stray_sweeper.h); also at start and after a failed create.
  // 0 = only then. health.strayGracePeriod: a stray is disabled when found and destroyed
  // this long after.
  Duration straySweepInterval = std::chrono::hours(1);
  Duration strayGracePeriod = std::chrono::hours(24);
  // byok.importWindow: how long a published BYOK wrapping key accepts material (1m to 720h).
  Duration importWindow = std::chrono::hours(24);
  WebhookConfig webhook;
  DataPlaneConfig dataPlane;
  LeaderElectionConfig leaderElection;
  std::string operatorNamespace = "keygate-system";  // Secrets with token PINs, the Lease
  std::string stateDir = "/var/lib/keygate";         // absolute; SoftHSM token dirs etc.
  // secretStore: where token PINs and the approval signing key live. "kubernetes" (default):
  // the Secret keygate-backend-credentials in operatorNamespace. "file": 0600 files under
  // secretStoreDir (default <stateDir>/secrets) on the state volume, so the operator reads no
  // Secret at all: required when kube-apiserver encrypts Secrets with a Keygate key through
  // `keygate kms-plugin` (docs/kms-plugin.md, "Cold start").
  std::string secretStoreType = "kubernetes";
  std::string secretStoreDir;                        // absolute; "" = <stateDir>/secrets
  // audit: the durable, hash-chained audit file (docs/security.md "Audit trail"), besides
  // stdout. file "" = <stateDir>/audit/audit.log.
  std::string auditFile;
  int64_t auditMaxFileBytes = 10 * 1024 * 1024;
  int auditMaxFiles = 10;
  int workers = 4;                                   // reconcile workers per controller, 1..64
  // kubeAPI.qps / kubeAPI.burst: the client-side rate limit to the API server
  // (kube::ClientOptions): 0 = auto (off once the server shows API Priority and Fairness),
  // -1 = off, N = N requests/s. burst 0 = the default for the mode.
  int kubeApiQps = 0;
  int kubeApiBurst = 0;
};

// `file` prefixes every error line. An empty document yields an error (backends are required).
Result<OperatorConfig> parseOperatorConfig(std::string_view yaml, std::string_view file);
// Reads and parses `path`; an unreadable file is `path: cannot read: <reason>`.
Result<OperatorConfig> loadOperatorConfig(const std::string& path);

}  // namespace keygate::cmd

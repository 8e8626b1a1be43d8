#pragma once
// HTTP endpoints of the operator process:
//  - MetricsServer: GET /metrics (prometheus-cpp Exposer) on --metrics-bind-address;
//  - HealthServer:  GET /healthz (always 200 "ok": the process serves HTTP) and GET /readyz
//    (200 when every named readiness check passes, else 503 listing the failing ones) on
//    --health-probe-bind-address.
// Both start in their factory and stop in their destructor. A bind failure (port in use,
// permission denied) is a Result error, never an exception out of a constructor.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "metrics/metrics.h"

namespace keygate::metrics {

// ":9090" (all interfaces), "127.0.0.1:9090", "0.0.0.0:9090", "localhost:9090"; port 0 asks
// the kernel for a free port (tests). IPv4 only.
struct BindAddress {
  std::string host;  // "" = all interfaces
  int port = 0;
};
// InvalidArgument: `invalid bind address "x": <reason> (want [host]:port, e.g. ":9090")`.
Result<BindAddress> parseBindAddress(std::string_view text);

class MetricsServer {
 public:
  // Serves `metrics` (which must outlive the server) on bindAddress. Error, e.g.
  // `metrics bind address :9090: address already in use`.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& bindAddress, Metrics& metrics);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const;  // the port actually bound (useful with ":0")

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A readiness check: ok, or an error whose message says why it is not ready yet.
using ReadinessCheck = std::function<Status()>;

class HealthServer {
 public:
  // Error, e.g. `health probe bind address :8081: address already in use`.
  static Result<std::unique_ptr<HealthServer>> start(const std::string& bindAddress);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  // Adds or replaces a named check (e.g. "informers-synced", "backend-softhsm",
  // "webhook-cert"). Checks run on the server's threads at every /readyz request: keep them
  // cheap and non-blocking. With no checks, /readyz is 200.
  void addReadinessCheck(const std::string& name, ReadinessCheck check);
  void removeReadinessCheck(const std::string& name);

  // What /readyz answers: {200 or 503, body}. Body lines "[+]name ok" / "[-]name failed: why",
  // then "readyz check passed" or "readyz check failed".
  std::pair<int, std::string> readiness() const;

  int port() const;

  struct Impl;

 private:
  explicit HealthServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keygate::metrics

#pragma once
// Private to the metrics layer (includes prometheus-cpp): the registry and the
// cache-derived collectable behind Metrics. server.cc registers both with the Exposer.

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>

#include "metrics/metrics.h"

namespace keygate::metrics {

// Computes the object gauges from the snapshot callback on every Collect() (scrape time).
class SnapshotCollectable final : public prometheus::Collectable {
 public:
  void setSource(SnapshotFn fn);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable std::mutex mu_;
  SnapshotFn source_;
};

class MetricsImpl {
 public:
  explicit MetricsImpl(const std::string& buildVersion);

  // Both are kept alive here for the process lifetime: the Exposer holds weak pointers.
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<SnapshotCollectable> snapshot;

  prometheus::Family<prometheus::Counter>& reconcileTotal;
  prometheus::Family<prometheus::Histogram>& reconcileDuration;
  prometheus::Family<prometheus::Gauge>& workqueueDepth;
  prometheus::Family<prometheus::Counter>& workqueueRetries;
  prometheus::Family<prometheus::Counter>& backendOperations;
  prometheus::Family<prometheus::Histogram>& backendDuration;
  prometheus::Family<prometheus::Gauge>& backendUp;
  prometheus::Family<prometheus::Counter>& strayObjects;
  prometheus::Family<prometheus::Gauge>& strayObjectsPresent;
  prometheus::Family<prometheus::Gauge>& firstDescribesScheduled;
  prometheus::Family<prometheus::Counter>& webhookRequests;
  prometheus::Family<prometheus::Gauge>& webhookClientAuth;
  prometheus::Histogram& webhookDuration;
  prometheus::Family<prometheus::Counter>& kubeRequests;
  prometheus::Family<prometheus::Counter>& watchRestarts;
  prometheus::Gauge& leader;
  prometheus::Family<prometheus::Counter>& auditEvents;
  prometheus::Histogram& timeToActivation;
  prometheus::Family<prometheus::Gauge>& buildInfo;
  prometheus::Family<prometheus::Counter>& cryptoRequests;
  prometheus::Family<prometheus::Counter>& cryptoDenied;
  prometheus::Family<prometheus::Histogram>& cryptoDuration;
  prometheus::Family<prometheus::Histogram>& kmsLatency;
  // Families without children until the plugin reports (the operator exposes none of them).
  prometheus::Family<prometheus::Gauge>& kmsHealthy;
  prometheus::Family<prometheus::Gauge>& kmsLastHealthy;
  prometheus::Family<prometheus::Counter>& kmsKeyIdChanges;
  prometheus::Family<prometheus::Gauge>& kmsKeyIdInfo;

  std::mutex kmsKeyIdMu;
  prometheus::Gauge* kmsKeyIdGauge = nullptr;

  std::mutex buildInfoMu;
  prometheus::Gauge* buildInfoGauge = nullptr;
};

}  // namespace keygate::metrics

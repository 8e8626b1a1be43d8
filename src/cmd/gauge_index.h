#pragma once
// The cache-derived gauges of /metrics, kept up to date by informer events instead of being
// computed from every cached object at each scrape: with 100k keys a scrape that decoded
// every key cost ~3 s of CPU; this one copies one small row per object. Rows are compact
// (label values interned: states, purposes, backends and phases are small sets).

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/informer.h"
#include "metrics/metrics.h"

namespace keygate::cmd {

class GaugeIndex {
 public:
  kube::EventHandlers keyHandlers();
  kube::EventHandlers requestHandlers();
  kube::EventHandlers bindingHandlers();
  metrics::Snapshot snapshot() const;

 private:
  static constexpr int64_t kNone = INT64_MIN;
  struct KeyRow {
    uint16_t state, purpose, backend;
    int64_t preActiveExpiresAt, rotationDueAt;  // ns since the epoch, kNone if absent
  };
  struct BindingRow {
    int64_t reviewDueAt;
  };
  uint16_t intern(const std::string& v);  // caller holds mu_

  mutable std::mutex mu_;
  std::vector<std::string> values_;
  std::unordered_map<std::string, uint16_t> valueIds_;
  // Keyed by "namespace/name".
  std::unordered_map<std::string, KeyRow> keys_;
  std::unordered_map<std::string, uint16_t> requests_;  // phase
  std::unordered_map<std::string, BindingRow> bindings_;
};

}  // namespace keygate::cmd

#pragma once
// The reconcile contract shared by every controller: given a cache key ("namespace/name"),
// bring the world closer to the object's spec and say when to look again.
//   - ok + requeueAfter: come back then (the next timed transition); no busy requeue.
//   - ok without requeueAfter: done until the object (or something it watches) changes.
//   - error: retried with per-key exponential backoff; permanent problems must be reported
//     in the object's status instead of being returned as errors (no hot loop).

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"

namespace keygate::controllers {

struct ReconcileResult {
  std::optional<Duration> requeueAfter;
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual const std::string& name() const = 0;
  virtual Result<ReconcileResult> reconcile(const std::string& key) = 0;
};
using ReconcilerPtr = std::shared_ptr<Reconciler>;

}  // namespace keygate::controllers

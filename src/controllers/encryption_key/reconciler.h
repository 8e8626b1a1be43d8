#pragma once
// EncryptionKey reconciler: cache -> decide() (pure, api/) -> backend actions (idempotent)
// -> one status write when it changed -> finalizer change -> Events + audit lines ->
// requeueAfter for the next timed transition.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <map>
#include <set>
#include <string>

#include "api/v1alpha1/lifecycle.h"
#include "api/v1alpha1/policy.h"
#include "controllers/audit.h"
#include "controllers/backend_set.h"
#include "controllers/encryption_key/describe_budget.h"
#include "controllers/own_writes.h"
#include "controllers/reconciler.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/event_recorder.h"

namespace keygate::controllers {

struct EncryptionKeyReconcilerDeps {
  const kube::ObjectReader* keys = nullptr;      // EncryptionKeys (informer cache or local store)
  const kube::ObjectReader* requests = nullptr;  // KeyActivationRequests, index kRequestsByKeyIndex
  kube::ClientPtr client;                        // status writes, finalizer patches, request status
  const BackendSet* backends = nullptr;
  api::v1alpha1::Policy policy;
  kube::EventRecorderPtr events;                 // may be null
  AuditSinkPtr audit;                            // may be null
  const Clock* clock = nullptr;                  // null = real clock
  // Metrics hook per backend call: backend, operation, "success"|"error", seconds.
  std::function<void(const std::string&, const std::string&, const std::string&, double)> onBackendOperation;
  // Metrics hook: a version became Active, `seconds` after it was created (time to activation).
  std::function<void(double seconds)> onActivated;
  // A backend create failed (it may have left a half-made object): the stray sweeper looks at
  // the tenant soon (controllers/stray_sweeper.h).
  std::function<void(const std::string& backend, const std::string& ns)> onCreateFailed;
  // Which approvals of the key's requests are valid (signature, specHash, role now,
  // segregation of duties): activation_request/reconciler.h approvalVerdicts(). Unset:
  // decide() trusts a request's status (phase Approved, approvalsReceived) as before — only
  // for `keygate local` and tests that stand in for the request controller.
  // The namespace's keygate.dev/jurisdiction label ("" = none). When set, it is the key's
  // jurisdiction for the policy check, whatever the spec says (the webhook refuses a spec
  // that contradicts it; this holds when the webhook was bypassed).
  std::function<std::string(const std::string& ns)> namespaceJurisdiction;
  // Periodic drift scan: each key's versions are described again once per interval, at an
  // offset of its own within the interval (spread from its uid), and drift is repaired and
  // audited. Zero: described only when first seen and when asked (reconcile-requested-at).
  Duration driftScanInterval{0};
  // Paces each key's first describe after start (health.firstDescribeRateLimit). Null: every
  // key is described as soon as it is first seen.
  DescribeBudget* firstDescribeBudget = nullptr;
  // Metrics hook: a key's first describe was put off to a later slot (+1), or ran or its key
  // went away (-1): keygate_backend_first_describes_scheduled{backend}.
  std::function<void(const std::string& backend, int delta)> onFirstDescribeScheduled;
  // BYOK: how long a published wrapping key accepts material (byok.importWindow); after it a
  // new wrapping key replaces it and the old private half is destroyed.
  Duration importWindow = std::chrono::hours(24);
  std::function<std::vector<api::v1alpha1::ApprovalVerdict>(const api::v1alpha1::EncryptionKey&,
                                                            const std::vector<api::v1alpha1::KeyActivationRequest>&,
                                                            WallTime)>
      verdicts;
};

// When a key last described at `last` is next due for a drift scan: the first moment after
// `last` at the key's own offset (from its uid) within each interval, so that each key is
// described once per interval and the keys of a cluster are spread across it.
WallTime nextDriftScan(std::string_view uid, WallTime last, Duration interval);

class EncryptionKeyReconciler final : public Reconciler {
 public:
  explicit EncryptionKeyReconciler(EncryptionKeyReconcilerDeps deps);
  const std::string& name() const override { return name_; }
  Result<ReconcileResult> reconcile(const std::string& key) override;
  // Keys whose cache is still behind a write of ours (own_writes.h); bounded by the keys that
  // exist, for tests and leak checks.
  size_t ownWritesPending() { return ownWrites_.size(); }
  // When this process started acting on keys (it became leader). Keys created after it,
  // whose version was never recorded and never attempted here, cannot exist in the backend
  // yet: generation then skips the backend's find-before-create (O(objects) in SoftHSM2).
  void setActiveSince(WallTime t) { activeSinceSec_ = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(); }

 private:
  Result<ReconcileResult> reconcileKey(const kube::ObjectPtr& obj);
  // Both return the object as stored after the write (its new resourceVersion).
  Result<Json> writeStatus(const Json& obj, const api::v1alpha1::EncryptionKeyStatus& status);
  Result<Json> setFinalizer(const Json& obj, bool present);
  // Audit records are written ahead of the status write that records their transition, so a
  // crash between the two repeats a record (at least once; duplicates share event, keyUid and
  // version) instead of losing it (bench/chaos_bench lost 11 in 200 kills before). The Events
  // follow the status write.
  struct Emitted {
    AuditRecord record;
    kube::ObjectPtr request;  // the activation request the record names, if any
    api::v1alpha1::AuditEvent event;
  };
  Emitted auditAhead(const api::v1alpha1::EncryptionKey& key, const api::v1alpha1::AuditEvent& ev,
                     const std::string& backendKeyId, const std::string& result);
  void recordEvents(const Json& obj, const Emitted& e);
  template <typename F>
  auto timed(const std::string& backend, const std::string& op, F&& f) -> decltype(f());

  std::string name_ = "encryptionkey";
  EncryptionKeyReconcilerDeps deps_;
  const Clock& clock_;
  // Keys seen since start: the first reconcile of each describes the backend so that work
  // interrupted by a crash (generated but status not written, half-applied usage) is found.
  std::mutex mu_;
  std::map<std::string, WallTime> describedAt_;  // last successful describe of each key
  struct Slot {
    std::string backend;
    WallTime at;
  };
  std::map<std::string, Slot> firstDescribeAt_;  // keys whose first describe waits for its slot
  void forgetSlotLocked(const std::string& cacheKey);
  OwnWrites ownWrites_;  // see own_writes.h
  std::set<std::string> generateAttempted_;         // "<uid>/v<n>" tried by this process
  std::atomic<int64_t> activeSinceSec_;
};

}  // namespace keygate::controllers

#include "api/v1alpha1/lifecycle.h"

#include <algorithm>

#include "api/v1alpha1/defaults.h"
#include "common/time.h"

namespace keygate::api::v1alpha1 {

std::string_view toString(ActionType t) {
  switch (t) {
    case ActionType::kAddFinalizer: return "AddFinalizer";
    case ActionType::kRemoveFinalizer: return "RemoveFinalizer";
    case ActionType::kGenerateVersion: return "GenerateVersion";
    case ActionType::kImportVersion: return "ImportVersion";
    case ActionType::kActivateVersion: return "ActivateVersion";
    case ActionType::kSelfTest: return "SelfTest";
    case ActionType::kDeactivateVersion: return "DeactivateVersion";
    case ActionType::kMarkCompromised: return "MarkCompromised";
    case ActionType::kDestroyVersion: return "DestroyVersion";
    case ActionType::kRepairDrift: return "RepairDrift";
  }
  return "";
}

UsageState expectedUsage(KeyState state) {
  switch (state) {
    case KeyState::kPreActive:
    case KeyState::kCompromised:
    case KeyState::kDestroyScheduled: return UsageState::kNone;
    case KeyState::kActive: return UsageState::kPurpose;
    case KeyState::kDeactivated: return UsageState::kProcessOnly;
    default: return UsageState::kUnknown;
  }
}

bool describeRequested(const EncryptionKey& key) {
  auto it = key.metadata.annotations.find(std::string(kReconcileRequestedAtAnnotation));
  return it != key.metadata.annotations.end() && it->second != key.status.observedReconcileRequest;
}

namespace {

bool isLive(KeyState s) {
  return s == KeyState::kPreActive || s == KeyState::kActive || s == KeyState::kDeactivated ||
         s == KeyState::kCompromised || s == KeyState::kDestroyScheduled;
}

bool hasFinalizer(const ObjectMeta& m) {
  return std::find(m.finalizers.begin(), m.finalizers.end(), kBackendCleanupFinalizer) != m.finalizers.end();
}

std::string readyReason(const EncryptionKeyStatus& st) {
  const Condition* c = findCondition(st.conditions, "Ready");
  return c ? c->reason : "";
}

// Everything decide() needs while it walks the transitions.
class Decider {
 public:
  Decider(const EncryptionKey& key, const std::vector<KeyActivationRequest>& requests, const Policy& policy,
          const BackendView& backend, WallTime now, const std::vector<ApprovalVerdict>* verdicts)
      : key_(key), requests_(requests), policy_(policy), backend_(backend), now_(now), verdicts_(verdicts) {
    spec_ = key.spec;
    EncryptionKey defaulted = key;
    applySchemaDefaults(defaulted);
    spec_ = defaulted.spec;
    st_ = key.status;
    gen_ = key.metadata.generation;
    ttl_ = effectivePreActiveTtl(spec_, policy);
    window_ = effectivePendingWindow(spec_);
    required_ = effectiveRequiredApprovals(spec_, policy);
  }

  Plan run() {
    st_.observedGeneration = gen_;
    if (backend_.described) {
      auto it = key_.metadata.annotations.find(std::string(kReconcileRequestedAtAnnotation));
      if (it != key_.metadata.annotations.end()) st_.observedReconcileRequest = it->second;
    }
    const bool deleting = key_.metadata.deletionTimestamp.has_value();
    if (!deleting && !hasFinalizer(key_.metadata)) act(ActionType::kAddFinalizer);

    steps(deleting);
    finishStatus();

    plan_.status = st_;
    plan_.statusChanged = !(st_ == key_.status);
    return std::move(plan_);
  }

 private:
  void steps(bool deleting) {
    // Policy (jurisdiction, purpose fit) re-checked here: a bypassed webhook cannot slip a
    // non-compliant key into the backend.
    std::string violation = policyViolation();
    setCond("PolicyCompliant", violation.empty(), violation.empty() ? "Compliant" : "PolicyViolation",
            violation.empty() ? "key complies with the operator policy" : violation);
    if (deleting) return handleDeletion();
    if (st_.state == KeyState::kFailed) {
      if (readyReason(st_) != "PolicyViolation" || !violation.empty()) return;  // sticky: no hot loop
      st_.state = KeyState::kUnspecified;  // the policy allows the key again
    }
    if (!violation.empty() && st_.versions.empty()) {
      st_.state = KeyState::kFailed;
      failedReason_ = "PolicyViolation";
      failedMessage_ = violation;
      audit("KeyFailed", 0, violation);
      return;
    }
    if (!backend_.reachable) {
      setCond("BackendReady", false, "Unavailable", "backend " + spec_.backend + " is unreachable");
      if (st_.state == KeyState::kUnspecified) st_.state = KeyState::kPending;
      return;
    }
    setCond("BackendReady", true, "Available", "backend " + spec_.backend + " is reachable");

    if (st_.state == KeyState::kDestroyed) return;
    if (spec_.scheduleDestruction) {
      if (anyActive()) {
        blocked_ = "spec.scheduleDestruction: key is Active: deactivate first";
      } else {
        return handleScheduled();
      }
    } else if (st_.state == KeyState::kDestroyScheduled) {
      cancelDestruction();
      return;
    }

    if (spec_.isCompromised()) return handleCompromise();
    if (backend_.described && !checkDrift()) return;
    if (spec_.deactivate) deactivateAll();
    if (st_.versions.empty()) return createFirstVersion();
    requestImports();
    handleActivationAndExpiry();
    handleRotation();
    repairDrift();
  }

  // ---- deletion and destruction ----------------------------------------------------

  void handleDeletion() {
    if (!hasFinalizer(key_.metadata)) return;
    if (effectiveDestructionPolicy(spec_) == DestructionPolicy::kRetain) {
      act(ActionType::kRemoveFinalizer);
      audit("KeyRetained", st_.currentVersion, "resource deleted; backend object retained (destruction.policy Retain)");
      return;
    }
    if (anyActive()) {
      blocked_ = "metadata.deletionTimestamp: key is Active and destruction.policy is Destroy: deactivate first";
      return;
    }
    if (liveVersions().empty()) {
      act(ActionType::kRemoveFinalizer);
      audit("KeyDeleted", st_.currentVersion, "resource deleted; no backend material left");
      return;
    }
    if (st_.state != KeyState::kDestroyScheduled) return scheduleDestruction("resource deleted with destruction.policy Destroy");
    if (destroyDue()) {
      destroyScheduled();
      act(ActionType::kRemoveFinalizer);
    }
  }

  void handleScheduled() {
    if (st_.state == KeyState::kDestroyScheduled) {
      if (destroyDue()) destroyScheduled();
      return;
    }
    if (liveVersions().empty()) return;
    scheduleDestruction("spec.scheduleDestruction set");
  }

  std::vector<KeyVersionStatus*> liveVersions() {
    std::vector<KeyVersionStatus*> out;
    for (auto& v : st_.versions)
      if (isLive(v.state)) out.push_back(&v);
    return out;
  }

  void scheduleDestruction(const std::string& why) {
    WallTime at = now_ + std::chrono::duration_cast<WallTime::duration>(window_);
    for (auto* v : liveVersions()) {
      v->state = KeyState::kDestroyScheduled;
      v->destroyAt = at;
    }
    st_.state = KeyState::kDestroyScheduled;
    audit("DestructionScheduled", st_.currentVersion,
          why + "; material destroyed after " + formatGoDuration(window_) + " unless cancelled");
    requeue(at);
  }

  // Returns true when the window is over; otherwise requeues for its end.
  bool destroyDue() {
    std::optional<WallTime> at;
    for (const auto& v : st_.versions)
      if (v.state == KeyState::kDestroyScheduled && v.destroyAt) at = at ? std::min(*at, *v.destroyAt) : *v.destroyAt;
    if (!at || now_ >= *at) return true;
    requeue(*at);
    return false;
  }

  void destroyScheduled() {
    for (auto& v : st_.versions) {
      if (v.state != KeyState::kDestroyScheduled) continue;
      act(ActionType::kDestroyVersion, v.version);
      v.state = KeyState::kDestroyed;
      audit("KeyDestroyed", v.version, "destruction window ended; backend material destroyed");
    }
    st_.state = KeyState::kDestroyed;
    st_.preActiveExpiresAt.reset();
  }

  void cancelDestruction() {
    for (auto& v : st_.versions) {
      if (v.state != KeyState::kDestroyScheduled) continue;
      if (spec_.isCompromised()) v.state = KeyState::kCompromised;
      else if (v.deactivatedAt) v.state = KeyState::kDeactivated;
      else v.state = KeyState::kPreActive;
      v.destroyAt.reset();
    }
    st_.state = KeyState::kUnspecified;  // re-derived below
    audit("DestructionCancelled", st_.currentVersion, "spec.scheduleDestruction cleared inside the window");
    requeue(now_);  // a PreActive version may be past its TTL by now
  }

  // ---- compromise, drift, deactivation -----------------------------------------------

  void handleCompromise() {
    for (auto& v : st_.versions) {
      if (v.state != KeyState::kPreActive && v.state != KeyState::kActive && v.state != KeyState::kDeactivated)
        continue;
      act(ActionType::kMarkCompromised, v.version);
      v.state = KeyState::kCompromised;
      audit("KeyCompromised", v.version, "compromised: " + spec_.compromised->reason);
    }
    st_.state = KeyState::kCompromised;
    st_.preActiveExpiresAt.reset();
  }

  // Returns false when the key cannot go on (material missing → Failed).
  bool checkDrift() {
    for (auto& v : st_.versions) {
      auto it = backend_.versions.find(v.version);
      VersionView view = it == backend_.versions.end() ? VersionView{} : it->second;
      bool live = v.state == KeyState::kPreActive || v.state == KeyState::kActive ||
                  v.state == KeyState::kDeactivated || v.state == KeyState::kCompromised;
      if (live && !view.exists) {
        st_.state = KeyState::kFailed;
        failedReason_ = "BackendObjectMissing";
        failedMessage_ = "version " + std::to_string(v.version) + " is " + std::string(toString(v.state)) +
                         " but its backend object is missing";
        audit("KeyFailed", v.version, failedMessage_);
        return false;
      }
      if ((v.state == KeyState::kExpired || v.state == KeyState::kDestroyed) && view.exists) {
        act(ActionType::kDestroyVersion, v.version);
        audit("DriftRepaired", v.version, "backend object of a " + std::string(toString(v.state)) +
                                              " version still existed; destroyed");
        continue;
      }
      UsageState want = expectedUsage(v.state);
      if (live && view.usage != UsageState::kUnknown && view.usage != want) drifted_.push_back({v.version, v.state});
    }
    return true;
  }

  // Usage drift is repaired after the lifecycle steps, and only where they left the version
  // in the state it had: a version those steps move (activation, deactivation, expiry) gets
  // its backend usage from that step's own action. This is what finishes an activation or a
  // rotation interrupted between its backend calls and its status write (the leader killed
  // there): the backend already shows the new usage, the approved request is still unspent,
  // and a "repair" back to the old state first would be wrong — on KMIP, whose states only
  // move forward, it revoked a PreActive-but-activated object as compromised for good.
  void repairDrift() {
    for (const auto& [version, stateSeen] : drifted_) {
      const KeyVersionStatus* v = st_.findVersion(version);
      if (!v || v->state != stateSeen) continue;
      act(ActionType::kRepairDrift, version, expectedUsage(v->state));
      audit("DriftRepaired", version,
            "usage attributes differed from state " + std::string(toString(v->state)) + "; restored");
    }
  }

  // The backend already gives this version the usage an activation would: an activation
  // interrupted after its backend call, finished now (said in the audit record).
  bool alreadyUsable(int64_t version) const {
    if (!backend_.described) return false;
    auto it = backend_.versions.find(version);
    return it != backend_.versions.end() && it->second.usage == UsageState::kPurpose;
  }

  void deactivateAll() {
    for (auto& v : st_.versions) {
      if (v.state != KeyState::kActive) continue;
      act(ActionType::kDeactivateVersion, v.version);
      v.state = KeyState::kDeactivated;
      v.deactivatedAt = now_;
      audit("KeyDeactivated", v.version, "spec.deactivate set: the key may still process but never protect");
    }
  }

  // ---- creation, activation, expiry, rotation ----------------------------------------

  // A generated version is PreActive at once. An imported one (origin External) stays
  // Pending until the tenant's wrapped material is imported: the reconciler publishes a
  // wrapping key, imports, sets it PreActive (its TTL starts then) and audits KeyImported.
  KeyVersionStatus& newVersion(int64_t number) {
    KeyVersionStatus v;
    v.version = number;
    v.createdAt = now_;
    if (external()) {
      v.state = KeyState::kPending;
      st_.versions.push_back(v);
      act(ActionType::kImportVersion, number);
      return st_.versions.back();
    }
    act(ActionType::kGenerateVersion, number);
    v.state = KeyState::kPreActive;
    st_.versions.push_back(v);
    audit("KeyGenerated", number,
          "version " + std::to_string(number) + " created PreActive (no operation permitted until activation)");
    requeue(now_);  // an approval may already be waiting
    return st_.versions.back();
  }

  bool external() const { return spec_.origin == Origin::kExternal; }

  // Every reconcile of an External key with a version still waiting for its material asks
  // the reconciler to import (or to keep the wrapping key published and wait).
  void requestImports() {
    if (!external()) return;
    for (const auto& v : st_.versions)
      if (v.state == KeyState::kPending) act(ActionType::kImportVersion, v.version);
  }

  void createFirstVersion() {
    newVersion(1);
    st_.currentVersion = 1;
  }

  WallTime expiryOf(const KeyVersionStatus& v) const {
    return v.createdAt.value_or(now_) + std::chrono::duration_cast<WallTime::duration>(ttl_);
  }

  // The version a request without keyRef.version means: the newest PreActive one, else
  // the current version when Deactivated (re-activation).
  int64_t defaultTarget() const {
    int64_t target = 0;
    for (const auto& v : st_.versions)
      if (v.state == KeyState::kPreActive) target = std::max(target, v.version);
    if (target == 0) {
      const KeyVersionStatus* cur = st_.findVersion(st_.currentVersion);
      if (cur && cur->state == KeyState::kDeactivated) target = cur->version;
    }
    return target;
  }

  struct Approved {
    const KeyActivationRequest* request = nullptr;
    std::vector<std::string> approvers;
  };

  std::optional<Approved> approvedRequestFor(int64_t version) const {
    std::vector<const KeyActivationRequest*> candidates;
    for (const auto& r : requests_) {
      if (r.metadata.namespace_ != key_.metadata.namespace_ || r.spec.keyRef.name != key_.metadata.name) continue;
      if (!r.spec.keyRef.namespace_.empty() && r.spec.keyRef.namespace_ != key_.metadata.namespace_) continue;
      int64_t target = r.spec.keyRef.version ? r.spec.keyRef.version : defaultTarget();
      if (target != version) continue;
      if (r.metadata.deletionTimestamp) continue;
      if (approvalSpent(r, st_.findVersion(version))) continue;
      candidates.push_back(&r);
    }
    std::sort(candidates.begin(), candidates.end(), [](const auto* a, const auto* b) {
      auto ta = a->metadata.creationTimestamp.value_or(WallTime{});
      auto tb = b->metadata.creationTimestamp.value_or(WallTime{});
      return ta != tb ? ta < tb : a->metadata.name < b->metadata.name;
    });
    for (const auto* r : candidates) {
      if (verdicts_) {
        if (r->status.phase == RequestPhase::kActivated || r->status.phase == RequestPhase::kDenied ||
            r->status.phase == RequestPhase::kExpired || r->status.phase == RequestPhase::kFailed)
          continue;
        for (const auto& v : *verdicts_)
          if (v.request == r->metadata.name && v.validApprovals >= requiredApprovalsFor(*r, spec_, policy_))
            return Approved{r, v.approvers};
        continue;
      }
      if (r->status.phase != RequestPhase::kApproved ||
          r->status.approvalsReceived < requiredApprovalsFor(*r, spec_, policy_))
        continue;
      Approved a{r, {}};
      for (const auto& ap : r->spec.approvals)
        if (ap.decision == Decision::kApprove) a.approvers.push_back(ap.approver);
      return a;
    }
    return std::nullopt;
  }

  void activate(KeyVersionStatus& target, const KeyActivationRequest* request, std::vector<std::string> approvers) {
    for (auto& other : st_.versions) {
      if (other.version == target.version || other.state != KeyState::kActive) continue;
      act(ActionType::kDeactivateVersion, other.version);
      other.state = KeyState::kDeactivated;
      other.deactivatedAt = now_;
      audit("KeyDeactivated", other.version, "superseded by version " + std::to_string(target.version));
    }
    act(ActionType::kActivateVersion, target.version);
    act(ActionType::kSelfTest, target.version);
    target.state = KeyState::kActive;
    target.activatedAt = now_;
    target.deactivatedAt.reset();
    st_.currentVersion = target.version;
    AuditEvent e;
    e.event = "KeyActivated";
    e.version = target.version;
    e.approvers = approvers;
    e.affectedSystems = spec_.affectedSystems;
    if (request) {
      e.request = request->metadata.name;
      e.changeReference = request->spec.changeReference;
      for (const auto& s : request->spec.affectedSystems)
        if (std::find(e.affectedSystems.begin(), e.affectedSystems.end(), s) == e.affectedSystems.end())
          e.affectedSystems.push_back(s);
      e.message = "activated by request " + request->metadata.name;
      if (alreadyUsable(target.version))
        e.message += " (the backend object was already usable: an activation interrupted after its backend call, finished)";
      plan_.requestUpdates.push_back({request->metadata.name, RequestPhase::kActivated});
      st_.activatedBy = ActivatedBy{request->metadata.name, std::move(approvers)};
    } else {
      e.message = "rotated version activated without approval (rotation.requireApproval false)";
      st_.activatedBy = ActivatedBy{"", {}};
    }
    plan_.audit.push_back(std::move(e));
  }

  void handleActivationAndExpiry() {
    std::optional<WallTime> notBefore;
    if (!spec_.activation.notBefore.empty()) {
      auto t = parseRfc3339(spec_.activation.notBefore);
      if (t.ok()) notBefore = *t;
    }
    waitingForNotBefore_ = false;
    for (size_t i = 0; i < st_.versions.size(); ++i) {
      KeyVersionStatus& v = st_.versions[i];
      if (v.state != KeyState::kPreActive && v.state != KeyState::kDeactivated) continue;
      std::optional<Approved> approved;
      // rotation.requireApproval: false counts only where the policy allows it: a spec
      // written around the webhook cannot skip approvals.
      const bool rotatedAuto = v.state == KeyState::kPreActive && v.version > 1 && spec_.rotation &&
                               !spec_.rotation->requireApproval && policy_.allowUnapprovedRotation && anyActive();
      if (!spec_.deactivate) approved = approvedRequestFor(v.version);
      if ((approved || rotatedAuto) && !spec_.deactivate) {
        // An approval stops the TTL clock: an approved key waits for notBefore.
        if (notBefore && now_ < *notBefore) {
          waitingForNotBefore_ = true;
          requeue(*notBefore);
          continue;
        }
        KeyVersionStatus& target = st_.versions[i];
        activate(target, approved ? approved->request : nullptr, approved ? approved->approvers : std::vector<std::string>{});
        continue;
      }
      if (v.state != KeyState::kPreActive) continue;
      WallTime expiry = expiryOf(v);
      if (now_ >= expiry) {
        act(ActionType::kDestroyVersion, v.version);
        v.state = KeyState::kExpired;
        v.destroyAt = now_;
        audit("KeyExpired", v.version,
              "not activated within preActiveTTL " + formatGoDuration(ttl_) + "; material destroyed");
      } else {
        requeue(expiry);
      }
    }
  }

  void handleRotation() {
    // On demand (kubectl keygate rotate): acted on once per annotation value.
    auto asked = key_.metadata.annotations.find(std::string(kRotateRequestedAtAnnotation));
    if (asked != key_.metadata.annotations.end() && !asked->second.empty() && asked->second != st_.observedRotateRequest) {
      st_.observedRotateRequest = asked->second;
      rotateNow();
      return;
    }
    if (!spec_.rotation || spec_.deactivate) return;
    auto period = parseGoDuration(spec_.rotation->period);
    if (!period.ok() || *period <= Duration::zero()) return;
    const KeyVersionStatus* cur = st_.findVersion(st_.currentVersion);
    if (!cur || cur->state != KeyState::kActive || !cur->activatedAt) return;
    int64_t newest = 0;
    WallTime base = *cur->activatedAt;
    for (const auto& v : st_.versions) {
      newest = std::max(newest, v.version);
      if (v.version > cur->version) {
        // A rotation is already waiting for activation (or, imported keys, for its material).
        if (v.state == KeyState::kPreActive || v.state == KeyState::kPending) return;
        if (v.createdAt) base = std::max(base, *v.createdAt);  // a failed (expired) rotation restarts the clock
      }
    }
    WallTime due = base + std::chrono::duration_cast<WallTime::duration>(*period);
    if (now_ < due) {
      requeue(due);
      return;
    }
    newVersion(newest + 1);
    audit("KeyRotationStarted", newest + 1,
          "rotation period " + spec_.rotation->period + " elapsed; new version awaits activation");
  }

  // A rotation a KeyAdministrator asked for: a new PreActive version, unless the key has no
  // Active version to rotate or a rotation already waits for activation.
  void rotateNow() {
    const KeyVersionStatus* cur = st_.findVersion(st_.currentVersion);
    int64_t newest = 0;
    bool waiting = false;
    for (const auto& v : st_.versions) {
      newest = std::max(newest, v.version);
      if (cur && v.version > cur->version && (v.state == KeyState::kPreActive || v.state == KeyState::kPending)) waiting = true;
    }
    if (spec_.deactivate || !cur || cur->state != KeyState::kActive || waiting) {
      AuditEvent e;
      e.event = "KeyRotationRefused";
      e.message = waiting ? "rotation requested, but version " + std::to_string(newest) + " already awaits activation"
                          : "rotation requested, but the key has no Active version to rotate";
      e.requestedByPerson = true;
      e.affectedSystems = spec_.affectedSystems;
      plan_.audit.push_back(e);
      return;
    }
    newVersion(newest + 1);
    AuditEvent e;
    e.event = "KeyRotationStarted";
    e.version = newest + 1;
    e.message = "rotation requested (" + std::string(kRotateRequestedAtAnnotation) + "); new version awaits activation";
    e.requestedByPerson = true;
    e.affectedSystems = spec_.affectedSystems;
    plan_.audit.push_back(e);
  }

  // ---- status ------------------------------------------------------------------------

  void finishStatus() {
    if (st_.state != KeyState::kFailed && st_.state != KeyState::kDestroyScheduled &&
        st_.state != KeyState::kDestroyed) {
      st_.state = deriveState();
    }
    if (st_.state == KeyState::kDestroyScheduled || st_.state == KeyState::kDestroyed) {
      // keep
    }
    // preActiveExpiresAt: the newest PreActive version's expiry.
    st_.preActiveExpiresAt.reset();
    if (st_.state != KeyState::kDestroyScheduled && st_.state != KeyState::kDestroyed &&
        st_.state != KeyState::kCompromised && st_.state != KeyState::kFailed)
      for (const auto& v : st_.versions)
        if (v.state == KeyState::kPreActive) st_.preActiveExpiresAt = expiryOf(v);

    const bool active = anyActive();
    const bool preActive = std::any_of(st_.versions.begin(), st_.versions.end(),
                                       [](const auto& v) { return v.state == KeyState::kPreActive; });
    std::string state(toString(st_.state));
    if (st_.state == KeyState::kFailed) {
      std::string reason = failedReason_.empty() ? readyReason(st_) : failedReason_;
      const Condition* c = findCondition(st_.conditions, "Ready");
      std::string message = failedMessage_.empty() ? (c ? c->message : "") : failedMessage_;
      setCond("Ready", false, reason.empty() ? "Failed" : reason, message);
    } else if (!blocked_.empty()) {
      setCond("Ready", active, "DestructionBlocked", blocked_);
    } else {
      setCond("Ready", active, state, readyMessage());
    }
    {
      const Condition* ready = findCondition(st_.conditions, "Ready");
      Progress progress = Progress::kDone;
      switch (st_.state) {
        case KeyState::kFailed:
        case KeyState::kCompromised:
        case KeyState::kExpired: progress = Progress::kStalled; break;
        case KeyState::kActive:
        case KeyState::kDeactivated:
        case KeyState::kDestroyed: progress = blocked_.empty() ? Progress::kDone : Progress::kReconciling; break;
        default: progress = Progress::kReconciling; break;  // Pending, PreActive (waits for approvals), DestroyScheduled
      }
      // Copies: setting the conditions may reallocate the vector `ready` points into.
      const std::string reason = ready ? ready->reason : state, message = ready ? ready->message : "";
      setProgressConditions(st_.conditions, progress, reason, message, gen_, now_);
    }
    setCond("PreActivated", preActive, preActive ? "PreActive" : "NoPreActiveVersion",
            preActive ? "a version exists in the backend with no operation permitted" : "no PreActive version");
    if (waitingForNotBefore_) {
      setCond("Activated", active, "WaitingForNotBefore",
              "approved; activation waits for spec.activation.notBefore " + spec_.activation.notBefore);
    } else {
      setCond("Activated", active, active ? "Activated" : "NotActivated",
              active ? "version " + std::to_string(st_.currentVersion) + " is Active" : "no Active version");
    }
    const bool expired = st_.state == KeyState::kExpired;
    setCond("Expired", expired, expired ? "PreActiveTTLElapsed" : "NotExpired",
            expired ? "not activated within preActiveTTL; material destroyed" : "not expired");
    if (!findCondition(st_.conditions, "BackendReady"))
      setCond("BackendReady", backend_.reachable, backend_.reachable ? "Available" : "Unavailable",
              "backend " + spec_.backend);
  }

  std::string readyMessage() const {
    switch (st_.state) {
      case KeyState::kActive: return "key is Active for purpose " + std::string(toString(spec_.purpose));
      case KeyState::kPending:
        return external() ? "waiting for the tenant's wrapped key material (see the ImportPending condition)"
                          : "waiting for the backend";
      case KeyState::kPreActive: return "key exists but no operation is permitted until an approved activation";
      case KeyState::kDeactivated: return "key may process (decrypt/verify/unwrap) but never protect";
      case KeyState::kCompromised: return "key is compromised: no operation permitted";
      case KeyState::kExpired: return "not activated within preActiveTTL; material destroyed";
      case KeyState::kDestroyScheduled: return "backend material will be destroyed when the window ends";
      case KeyState::kDestroyed: return "backend material destroyed; this resource is the record";
      default: return "";
    }
  }

  KeyState deriveState() const {
    if (st_.versions.empty()) return spec_.isCompromised() ? KeyState::kCompromised : KeyState::kPending;
    if (anyActive()) return KeyState::kActive;
    if (spec_.isCompromised()) return KeyState::kCompromised;
    const KeyVersionStatus* cur = st_.findVersion(st_.currentVersion);
    if (!cur) cur = &st_.versions.back();
    return cur->state;
  }

  bool anyActive() const {
    return std::any_of(st_.versions.begin(), st_.versions.end(),
                       [](const auto& v) { return v.state == KeyState::kActive; });
  }

  std::string policyViolation() const {
    if (spec_.purpose != Purpose::kUnspecified && spec_.algorithm != Algorithm::kUnspecified &&
        !algorithmServesPurpose(spec_.algorithm, spec_.purpose))
      return "spec.algorithm: " + std::string(toString(spec_.algorithm)) + " cannot serve purpose " +
             std::string(toString(spec_.purpose));
    if (spec_.jurisdiction.empty())
      return policy_.requireJurisdiction ? "spec.jurisdiction: required by the operator policy" : "";
    auto it = policy_.jurisdictions.find(spec_.jurisdiction);
    if (it == policy_.jurisdictions.end())
      return policy_.jurisdictions.empty() ? "" : "spec.jurisdiction: unknown jurisdiction \"" + spec_.jurisdiction + "\"";
    const auto& j = it->second;
    if (!j.backends.empty() && std::find(j.backends.begin(), j.backends.end(), spec_.backend) == j.backends.end())
      return "spec.backend: " + spec_.backend + " is not allowed in jurisdiction " + spec_.jurisdiction;
    if (!j.algorithms.empty() && std::find(j.algorithms.begin(), j.algorithms.end(), spec_.algorithm) == j.algorithms.end())
      return "spec.algorithm: " + std::string(toString(spec_.algorithm)) + " is not allowed in jurisdiction " +
             spec_.jurisdiction;
    return "";
  }

  // ---- plan helpers ----------------------------------------------------------------

  void act(ActionType t, int64_t version = 0, UsageState usage = UsageState::kUnknown) {
    plan_.actions.push_back(Action{t, version, usage});
  }

  void audit(std::string event, int64_t version, std::string message) {
    AuditEvent e;
    e.event = std::move(event);
    e.version = version;
    e.message = std::move(message);
    e.affectedSystems = spec_.affectedSystems;
    plan_.audit.push_back(std::move(e));
  }

  void requeue(WallTime at) {
    Duration d = at <= now_ ? Duration::zero() : std::chrono::duration_cast<Duration>(at - now_);
    if (!plan_.requeueAfter || d < *plan_.requeueAfter) plan_.requeueAfter = d;
  }

  void setCond(std::string_view type, bool status, std::string_view reason, std::string_view message) {
    setCondition(st_.conditions, type, status, reason, message, gen_, now_);
  }

  const EncryptionKey& key_;
  const std::vector<KeyActivationRequest>& requests_;
  const Policy& policy_;
  const BackendView& backend_;
  const WallTime now_;
  const std::vector<ApprovalVerdict>* verdicts_;

  EncryptionKeySpec spec_;
  EncryptionKeyStatus st_;
  int64_t gen_ = 0;
  Duration ttl_{};
  Duration window_{};
  int64_t required_ = 1;
  std::string blocked_;
  std::string failedReason_;
  std::string failedMessage_;
  std::vector<std::pair<int64_t, KeyState>> drifted_;  // (version, state when found drifted)
  bool waitingForNotBefore_ = false;
  Plan plan_;
};

}  // namespace

bool approvalSpent(const KeyActivationRequest& request, const KeyVersionStatus* target) {
  if (!target || !target->activatedAt || !request.metadata.creationTimestamp) return false;
  using std::chrono::floor;
  using std::chrono::seconds;
  return floor<seconds>(*request.metadata.creationTimestamp) <= floor<seconds>(*target->activatedAt);
}

Plan decide(const EncryptionKey& key, const std::vector<KeyActivationRequest>& requests, const Policy& policy,
            const BackendView& backend, WallTime now) {
  return Decider(key, requests, policy, backend, now, nullptr).run();
}

Plan decide(const EncryptionKey& key, const std::vector<KeyActivationRequest>& requests, const Policy& policy,
            const BackendView& backend, WallTime now, const std::vector<ApprovalVerdict>& verdicts) {
  return Decider(key, requests, policy, backend, now, &verdicts).run();
}

EncryptionKey applyPlan(const EncryptionKey& key, const Plan& plan) {
  EncryptionKey out = key;
  out.status = plan.status;
  for (const auto& a : plan.actions) {
    auto& f = out.metadata.finalizers;
    if (a.type == ActionType::kAddFinalizer && !hasFinalizer(out.metadata)) f.emplace_back(kBackendCleanupFinalizer);
    if (a.type == ActionType::kRemoveFinalizer) f.erase(std::remove(f.begin(), f.end(), kBackendCleanupFinalizer), f.end());
  }
  return out;
}

EncryptionKeyStatus markFailed(const EncryptionKey& key, std::string_view reason, std::string_view message,
                               WallTime now) {
  EncryptionKeyStatus st = key.status;
  st.state = KeyState::kFailed;
  st.observedGeneration = key.metadata.generation;
  setCondition(st.conditions, "Ready", false, reason, message, key.metadata.generation, now);
  setProgressConditions(st.conditions, Progress::kStalled, reason, message, key.metadata.generation, now);
  return st;
}

EncryptionKeyStatus markSelfTestFailed(const EncryptionKey& key, EncryptionKeyStatus st, int64_t version,
                                       std::string_view message, WallTime now) {
  if (auto* v = st.findVersion(version)) v->state = KeyState::kFailed;
  st.state = KeyState::kFailed;
  st.observedGeneration = key.metadata.generation;
  st.selfTest = SelfTestStatus{"Failed", now};
  const std::string msg = "version " + std::to_string(version) + " failed its known-answer test: " + std::string(message) +
                          "; its usage was removed in the backend";
  setCondition(st.conditions, "SelfTestFailed", true, "KnownAnswerTestFailed", msg, key.metadata.generation, now);
  setCondition(st.conditions, "Ready", false, "SelfTestFailed", msg, key.metadata.generation, now);
  setCondition(st.conditions, "Activated", false, "SelfTestFailed", msg, key.metadata.generation, now);
  setProgressConditions(st.conditions, Progress::kStalled, "SelfTestFailed", msg, key.metadata.generation, now);
  return st;
}

}  // namespace keygate::api::v1alpha1

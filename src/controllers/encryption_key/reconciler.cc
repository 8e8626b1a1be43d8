#include "controllers/encryption_key/reconciler.h"

#include "controllers/backend_spec.h"
#include "controllers/encryption_key/key_import.h"

#include <algorithm>
#include <set>

#include "api/v1alpha1/codec.h"
#include "common/log.h"
#include "common/time.h"
#include "controllers/indexes.h"
#include "kube/meta_scan.h"
#include "kube/resource.h"

namespace keygate::controllers {
namespace v1 = keygate::api::v1alpha1;

namespace {

const log::Logger& logger() {
  static const log::Logger l("controller.encryptionkey");
  return l;
}

v1::UsageState toApiUsage(backends::BackendKeyState s) {
  switch (s) {
    case backends::BackendKeyState::kAbsent: return v1::UsageState::kUnknown;
    case backends::BackendKeyState::kNoUsage: return v1::UsageState::kNone;
    case backends::BackendKeyState::kActive: return v1::UsageState::kPurpose;
    case backends::BackendKeyState::kDeactivated: return v1::UsageState::kProcessOnly;
    case backends::BackendKeyState::kDrifted: return v1::UsageState::kOther;
  }
  return v1::UsageState::kUnknown;
}

backends::UsageState toBackendUsage(v1::UsageState s) {
  switch (s) {
    case v1::UsageState::kPurpose: return backends::UsageState::kFull;
    case v1::UsageState::kProcessOnly: return backends::UsageState::kProcessOnly;
    default: return backends::UsageState::kNone;
  }
}

// Errors worth retrying with backoff; everything else is a permanent condition on the key.
std::string resourceVersionOfJson(const Json& o) { return getString(o, "metadata.resourceVersion"); }

bool transient(const Error& e) {
  return e.isTransient() || e.code == ErrorCode::kInternal || e.code == ErrorCode::kUnavailable ||
         e.code == ErrorCode::kNotFound;
}

}  // namespace

EncryptionKeyReconciler::EncryptionKeyReconciler(EncryptionKeyReconcilerDeps deps)
    : deps_(std::move(deps)), clock_(deps_.clock ? *deps_.clock : realClock()) {
  setActiveSince(std::chrono::system_clock::now());
}

WallTime nextDriftScan(std::string_view uid, WallTime last, Duration interval) {
  // FNV-1a of the uid picks the key's offset within the interval: keys described together
  // at start-up are scanned at different moments afterwards.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : uid) h = (h ^ c) * 1099511628211ull;
  const int64_t period = std::chrono::duration_cast<std::chrono::milliseconds>(interval).count();
  if (period <= 0) return last;
  const int64_t offset = static_cast<int64_t>(h % static_cast<uint64_t>(period));
  const int64_t l = std::chrono::duration_cast<std::chrono::milliseconds>(last.time_since_epoch()).count();
  const int64_t sincePhase = ((l - offset) % period + period) % period;
  return WallTime(std::chrono::milliseconds(l - sincePhase + period));
}

template <typename F>
auto EncryptionKeyReconciler::timed(const std::string& backend, const std::string& op, F&& f) -> decltype(f()) {
  auto start = std::chrono::steady_clock::now();
  auto r = f();
  if (deps_.onBackendOperation)
    deps_.onBackendOperation(backend, op, r.ok() ? "success" : "error",
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return r;
}

Result<ReconcileResult> EncryptionKeyReconciler::reconcile(const std::string& key) {
  kube::ObjectPtr obj = deps_.keys->get(key);
  if (!obj) {
    std::lock_guard<std::mutex> l(mu_);
    describedAt_.erase(key);
    forgetSlotLocked(key);
    ownWrites_.forget(key);  // a write whose watch event was coalesced with the deletion: nothing to wait for
    return ReconcileResult{};  // gone: its finalizer (if any) was handled while it was deleting
  }
  return reconcileKey(obj);
}

void EncryptionKeyReconciler::forgetSlotLocked(const std::string& cacheKey) {
  auto it = firstDescribeAt_.find(cacheKey);
  if (it == firstDescribeAt_.end()) return;
  if (deps_.onFirstDescribeScheduled) deps_.onFirstDescribeScheduled(it->second.backend, -1);
  firstDescribeAt_.erase(it);
}

Result<ReconcileResult> EncryptionKeyReconciler::reconcileKey(const kube::ObjectPtr& obj) {
  const std::string cacheKey = kube::objectKey(*obj);
  auto decoded = v1::decodeEncryptionKey(*obj);
  if (!decoded.ok()) {
    // The API server validated the object against the CRD, so this is a schema/operator
    // version skew: report it once on the object, never hot-loop.
    logger().error("cannot decode EncryptionKey", {{"key", cacheKey}, {"error", decoded.error().toString()}});
    if (deps_.events)
      deps_.events->record(*obj, kube::EventType::kWarning, "InvalidSpec", decoded.error().message);
    return ReconcileResult{};
  }
  v1::EncryptionKey ek = std::move(*decoded);
  if (deps_.namespaceJurisdiction)
    if (std::string j = deps_.namespaceJurisdiction(ek.metadata.namespace_); !j.empty()) ek.spec.jurisdiction = j;
  const WallTime now = clock_.now();
  if (ownWrites_.cacheIsBehind(cacheKey, *obj)) return ReconcileResult{};
  Json current = *obj;  // advances with each write we make in this reconcile
  // Whatever path this reconcile leaves by (success, a later error), once we wrote the
  // object the cache is behind until our write's watch event arrives.
  struct RememberOnExit {
    EncryptionKeyReconciler* self;
    const std::string& key;
    const Json& before;
    const Json& after;
    ~RememberOnExit() {
      if (resourceVersionOfJson(after) != resourceVersionOfJson(before)) self->ownWrites_.remember(key, before);
    }
  } rememberOnExit{this, cacheKey, *obj, current};

  // Related activation requests.
  std::vector<v1::KeyActivationRequest> requests;
  if (deps_.requests) {
    for (const auto& r : deps_.requests->byIndex(kRequestsByKeyIndex, ek.metadata.namespace_ + "/" + ek.metadata.name)) {
      auto req = v1::decodeKeyActivationRequest(*r);
      if (req.ok()) requests.push_back(std::move(*req));
    }
  }

  backends::KeyBackend* backend = deps_.backends ? deps_.backends->find(ek.spec.backend) : nullptr;
  if (!backend && !ek.metadata.deletionTimestamp) {
    // A configuration mismatch, not an outage: Failed with reason PolicyViolation, which
    // decide() lifts by itself once the backend is configured.
    std::string known;
    if (deps_.backends)
      for (const auto& n : deps_.backends->names()) known += (known.empty() ? "" : ", ") + n;
    std::string msg = "spec.backend: unknown backend \"" + ek.spec.backend + "\" (configured: " + known + ")";
    v1::EncryptionKeyStatus failed = v1::markFailed(ek, "PolicyViolation", msg, now);
    if (!(failed == ek.status)) {
      ASSIGN_OR_RETURN(current, writeStatus(current, failed));
      if (deps_.events) deps_.events->record(*obj, kube::EventType::kWarning, "UnknownBackend", msg);
    }
    return ReconcileResult{};
  }
  v1::BackendView view;
  bool describeDue;
  std::optional<WallTime> firstDescribeSlot;  // set: this key's first describe waits until then
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = describedAt_.find(cacheKey);
    const bool firstSight = it == describedAt_.end();
    describeDue = firstSight || (deps_.driftScanInterval > Duration::zero() &&
                                 now >= nextDriftScan(ek.metadata.uid, it->second, deps_.driftScanInterval));
    // A key first seen after a restart is described at its slot in the backend's budget;
    // until then decide() trusts its status (as for a backend it cannot reach, nothing is
    // concluded about drift). Keys without versions have nothing to describe; a describe
    // asked for (reconcile-requested-at) is not put off.
    if (firstSight && backend && deps_.firstDescribeBudget && !ek.status.versions.empty() &&
        !v1::describeRequested(ek)) {
      auto slot = firstDescribeAt_.find(cacheKey);
      // The clock is read again under mu_, so reservations see time move forward: with the
      // reconcile's earlier `now`, a worker that reserved after another one (but had read the
      // clock before it) got a burst slot a moment in its own future and counted as put off.
      const WallTime reservedAt = clock_.now();
      WallTime at = slot != firstDescribeAt_.end() ? slot->second.at
                                                   : deps_.firstDescribeBudget->reserve(ek.spec.backend, reservedAt);
      if (at > reservedAt) {
        firstDescribeSlot = at;
        describeDue = false;
        if (slot == firstDescribeAt_.end()) {
          firstDescribeAt_[cacheKey] = {ek.spec.backend, at};
          if (deps_.onFirstDescribeScheduled) deps_.onFirstDescribeScheduled(ek.spec.backend, +1);
        }
      }
    }
  }
  if (!backend) {
    view.reachable = false;
  } else if (describeDue || v1::describeRequested(ek)) {
    view.described = true;
    for (const auto& v : ek.status.versions) {
      auto spec = backendSpec(ek, v.version);
      if (!spec.ok()) break;
      auto d = timed(ek.spec.backend, "describe", [&] { return backend->describe(*spec); });
      if (!d.ok()) {
        if (transient(d.error())) {
          view.reachable = false;
          view.described = false;
          break;
        }
        continue;
      }
      view.versions[v.version] = {d->state != backends::BackendKeyState::kAbsent, toApiUsage(d->state)};
    }
    if (view.described) {
      std::lock_guard<std::mutex> l(mu_);
      describedAt_[cacheKey] = now;
      forgetSlotLocked(cacheKey);
    }
  }

  v1::Plan plan = deps_.verdicts ? v1::decide(ek, requests, deps_.policy, view, now, deps_.verdicts(ek, requests, now))
                                 : v1::decide(ek, requests, deps_.policy, view, now);
  v1::EncryptionKeyStatus status = plan.status;

  if (!backend && !plan.actions.empty()) {
    bool needsBackend = std::any_of(plan.actions.begin(), plan.actions.end(), [](const v1::Action& a) {
      return a.type != v1::ActionType::kAddFinalizer && a.type != v1::ActionType::kRemoveFinalizer;
    });
    if (needsBackend) {
      // decide() already reports an unknown backend in status; nothing to perform.
      plan.actions.clear();
    }
  }

  std::optional<bool> finalizerWanted;
  std::map<int64_t, std::string> backendKeyIds;
  struct SelfTestFailure {
    int64_t version;
    std::string message;
  };
  std::optional<SelfTestFailure> selfTestFailed;
  std::optional<Duration> importRequeue;  // an import waiting for the tenant's Secret
  std::set<int64_t> versionsActedOn;       // versions with a backend action done in this pass
  for (const auto& action : plan.actions) {
    Status st;
    std::string op(v1::toString(action.type));
    if (action.type == v1::ActionType::kAddFinalizer) {
      // Before any backend object exists, so a delete can never skip cleanup.
      ASSIGN_OR_RETURN(current, setFinalizer(current, true));
      finalizerWanted = true;
      continue;
    }
    if (action.type == v1::ActionType::kRemoveFinalizer) {
      finalizerWanted = false;
      continue;
    }
    auto spec = backendSpec(ek, action.version);
    if (!spec.ok()) {
      st = spec.takeError();
    } else {
      backendKeyIds[action.version] = spec->ref.backendKeyId();
      switch (action.type) {
        case v1::ActionType::kGenerateVersion: {
          backends::GenerateOptions gen;
          {
            const std::string attempt = ek.metadata.uid + "/v" + std::to_string(action.version);
            std::lock_guard<std::mutex> l(mu_);
            bool firstAttempt = generateAttempted_.insert(attempt).second;
            bool created = ek.metadata.creationTimestamp.has_value() &&
                           std::chrono::duration_cast<std::chrono::seconds>(
                               ek.metadata.creationTimestamp->time_since_epoch()).count() > activeSinceSec_.load();
            gen.knownAbsent = firstAttempt && created && ek.status.findVersion(action.version) == nullptr;
          }
          auto g = timed(ek.spec.backend, "generate", [&] { return backend->generate(*spec, gen); });
          if (!g.ok()) {
            if (deps_.onCreateFailed) deps_.onCreateFailed(ek.spec.backend, ek.metadata.namespace_);
            st = g.takeError();
            break;
          }
          if (auto* v = status.findVersion(action.version)) {
            v->backendKeyId = g->backendKeyId;
            v->fingerprint = g->fingerprint;
          }
          break;
        }
        case v1::ActionType::kImportVersion: {
          ImportContext ic;
          ic.key = &ek;
          ic.version = action.version;
          ic.backend = backend;
          ic.spec = *spec;
          ic.client = deps_.client.get();
          ic.now = now;
          ic.importWindow = deps_.importWindow;
          auto r = timed(ek.spec.backend, "importWrapped", [&] { return importVersion(ic, status); });
          if (!r.ok()) {
            st = r.takeError();
            break;
          }
          if (r->requeueAfter && (!importRequeue || *r->requeueAfter < *importRequeue)) importRequeue = r->requeueAfter;
          if (r->audit) plan.audit.push_back(*r->audit);  // also the Event (emit below)
          break;
        }
        case v1::ActionType::kActivateVersion:
          st = timed(ek.spec.backend, "activate", [&] { return backend->activate(*spec); });
          break;
        case v1::ActionType::kSelfTest: {
          auto t = timed(ek.spec.backend, "selfTest", [&] { return backend->selfTest(*spec); });
          if (!t.ok()) {
            st = t.takeError();
            break;
          }
          status.selfTest = v1::SelfTestStatus{t->passed ? "Passed" : "Failed", now};
          if (!t->passed) {
            // Fail closed: the version's usage goes first (in the backend, where it counts
            // even if Keygate's own checks were bypassed), then the status says Failed.
            logger().error("self test failed; removing the version's usage",
                           {{"key", cacheKey}, {"mechanism", t->mechanism}, {"detail", t->detail}});
            st = timed(ek.spec.backend, "revokeAfterSelfTest",
                       [&] { return backend->applyUsage(*spec, backends::UsageState::kNone); });
            if (!st.ok()) break;  // transient: retried; permanent: the key is marked Failed below
            selfTestFailed = SelfTestFailure{action.version, t->mechanism + ": " + t->detail};
          }
          break;
        }
        case v1::ActionType::kDeactivateVersion:
          st = timed(ek.spec.backend, "deactivate", [&] { return backend->deactivate(*spec); });
          break;
        case v1::ActionType::kMarkCompromised:
          st = timed(ek.spec.backend, "markCompromised", [&] { return backend->markCompromised(*spec); });
          break;
        case v1::ActionType::kDestroyVersion:
          st = timed(ek.spec.backend, "destroy", [&] { return backend->destroy(spec->ref); });
          break;
        case v1::ActionType::kRepairDrift:
          st = timed(ek.spec.backend, "repair", [&] { return backend->applyUsage(*spec, toBackendUsage(action.usage)); });
          break;
        default:
          break;
      }
    }
    if (!st.ok()) {
      const Error& e = st.error();
      if (transient(e)) {
        logger().warn("backend action failed, will retry",
                      {{"key", cacheKey}, {"action", op}, {"version", action.version}, {"error", e.toString()}});
        return e;
      }
      // Permanent: record Failed with the reason; no retry loop.
      v1::EncryptionKeyStatus failed = v1::markFailed(ek, "BackendError", op + " failed: " + e.message, now);
      v1::AuditEvent fe;
      fe.event = "KeyFailed";
      fe.version = action.version;
      fe.message = op + " failed: " + e.message;
      // What this pass already did in the backend to other versions (a superseded version
      // deactivated, a drift repaired) happened: audited too, though the status says Failed.
      std::vector<Emitted> done;
      for (const auto& ev : plan.audit)
        if (ev.version != 0 && ev.version != action.version && versionsActedOn.count(ev.version))
          done.push_back(auditAhead(ek, ev, backendKeyIds[ev.version], "Success"));
      Emitted audited = auditAhead(ek, fe, backendKeyIds[action.version], "Failure");
      if (!(failed == ek.status)) {
        ASSIGN_OR_RETURN(current, writeStatus(current, failed));
      }
      if (deps_.events)
        deps_.events->record(*obj, kube::EventType::kWarning, "BackendError", op + " failed: " + e.message);
      for (const Emitted& e : done) recordEvents(current, e);
      recordEvents(current, audited);
      return ReconcileResult{};
    }
    if (action.type != v1::ActionType::kSelfTest) versionsActedOn.insert(action.version);
  }

  if (selfTestFailed) {
    status = v1::markSelfTestFailed(ek, std::move(status), selfTestFailed->version, selfTestFailed->message, now);
    // The request that asked for this activation did not get a usable key.
    for (auto& u : plan.requestUpdates)
      if (u.phase == v1::RequestPhase::kActivated) u.phase = v1::RequestPhase::kFailed;
    v1::AuditEvent fe;
    fe.event = "KeySelfTestFailed";
    fe.version = selfTestFailed->version;
    fe.message = "known-answer test failed (" + selfTestFailed->message + "); usage removed, key Failed";
    plan.audit.push_back(fe);
  }
  bool deleting = ek.metadata.deletionTimestamp.has_value();
  std::vector<Emitted> audited;  // ahead of the status write (see Emitted)
  for (const auto& ev : plan.audit) {
    std::string id = backendKeyIds.count(ev.version) ? backendKeyIds[ev.version] : "";
    if (id.empty())
      if (const auto* v = status.findVersion(ev.version)) id = v->backendKeyId;
    const bool failure = ev.event == "KeySelfTestFailed" || ev.event == "KeyRotationRefused" || ev.event == "KeyImportRefused";
    audited.push_back(auditAhead(ek, ev, id, failure ? "Failure" : "Success"));
  }
  if (!(status == ek.status) && !(deleting && finalizerWanted == false)) {
    ASSIGN_OR_RETURN(current, writeStatus(current, status));
  }
  // Approved -> Activated is this reconciler's transition (the request reconciler owns the
  // others): patched right after the key's status records the activation. If the patch is
  // lost, the request reconciler mirrors status.activatedBy on its next pass.
  for (const auto& u : plan.requestUpdates) {
    Json reqStatus = {{"phase", std::string(v1::toString(u.phase))}};
    if (u.phase == v1::RequestPhase::kActivated) reqStatus["activatedAt"] = formatRfc3339(now);
    Json patch = {{"status", reqStatus}};
    auto r = deps_.client->patch(kube::resources::keyActivationRequests(), ek.metadata.namespace_, u.request,
                                 kube::PatchType::kMerge, dumpJson(patch), {"", false, "status"});
    if (!r.ok()) logger().warn("cannot update activation request", {{"request", u.request}, {"error", r.error().toString()}});
  }
  for (const Emitted& e : audited) {
    if (e.event.event == "KeyActivated" && deps_.onActivated) {
      const auto* v = status.findVersion(e.event.version);
      if (v && v->createdAt) deps_.onActivated(std::chrono::duration<double>(now - *v->createdAt).count());
    }
    recordEvents(current, e);
  }
  if (finalizerWanted == false) {
    ASSIGN_OR_RETURN(current, setFinalizer(current, false));
  }
  ReconcileResult result{plan.requeueAfter};
  if (importRequeue && (!result.requeueAfter || *importRequeue < *result.requeueAfter)) result.requeueAfter = importRequeue;
  // Come back for the next drift scan (a requeue, not a timer per key: it goes away with the key).
  if (backend && !deleting && deps_.driftScanInterval > Duration::zero() && !status.versions.empty()) {
    std::optional<WallTime> last;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (auto it = describedAt_.find(cacheKey); it != describedAt_.end()) last = it->second;
    }
    if (last) {
      Duration wait = std::max(Duration::zero(), nextDriftScan(ek.metadata.uid, *last, deps_.driftScanInterval) - now);
      if (!result.requeueAfter || wait < *result.requeueAfter) result.requeueAfter = wait;
    }
  }
  if (firstDescribeSlot && !deleting) {
    Duration wait = std::max(Duration::zero(), *firstDescribeSlot - now);
    if (!result.requeueAfter || wait < *result.requeueAfter) result.requeueAfter = wait;
  }
  return result;
}

Result<Json> EncryptionKeyReconciler::writeStatus(const Json& obj, const v1::EncryptionKeyStatus& status) {
  Json body = obj;
  body["status"] = v1::encodeStatus(status);
  // Conflict: someone else changed the object; retried with backoff on fresh cache data.
  ASSIGN_OR_RETURN(std::string answer, deps_.client->updateRaw(kube::resources::encryptionKeys(),
                                                               getString(obj, "metadata.namespace"), body, "status"));
  // What follows in this reconcile (Events, a request's patch) needs the object as written: the
  // body sent with the server's new resourceVersion. The full object (managedFields, anything
  // the server set) arrives through the watch; decoding the answer here was a seventh of the
  // workers' CPU per key (docs/scale.md).
  if (auto rv = kube::scanObjectResourceVersion(answer)) {
    body["metadata"]["resourceVersion"] = std::move(*rv);
    return body;
  }
  return kube::decodeResponseBody(answer);
}

Result<Json> EncryptionKeyReconciler::setFinalizer(const Json& obj, bool present) {
  // A JSON patch with a `test` on resourceVersion-free content: the finalizer list is
  // replaced only if it is what we read, so a concurrent edit is never lost.
  std::vector<std::string> fins;
  if (const Json* f = findPath(obj, "metadata.finalizers"); f && f->is_array())
    for (const auto& x : *f)
      if (x.is_string()) fins.push_back(x.get<std::string>());
  const std::string mine(v1::kBackendCleanupFinalizer);
  bool has = std::find(fins.begin(), fins.end(), mine) != fins.end();
  if (has == present) return obj;
  Json ops = Json::array();
  if (present) {
    if (fins.empty()) ops.push_back({{"op", "add"}, {"path", "/metadata/finalizers"}, {"value", Json::array({mine})}});
    else ops.push_back({{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", mine}});
  } else {
    auto idx = std::find(fins.begin(), fins.end(), mine) - fins.begin();
    ops.push_back({{"op", "test"}, {"path", "/metadata/finalizers/" + std::to_string(idx)}, {"value", mine}});
    ops.push_back({{"op", "remove"}, {"path", "/metadata/finalizers/" + std::to_string(idx)}});
  }
  auto r = deps_.client->patch(kube::resources::encryptionKeys(), getString(obj, "metadata.namespace"),
                               getString(obj, "metadata.name"), kube::PatchType::kJson, dumpJson(ops));
  if (!r.ok() && !present && r.error().code == ErrorCode::kNotFound) return obj;  // already gone
  return r;
}


EncryptionKeyReconciler::Emitted EncryptionKeyReconciler::auditAhead(const v1::EncryptionKey& key, const v1::AuditEvent& ev,
                                                                     const std::string& backendKeyId,
                                                                     const std::string& result) {
  AuditRecord rec;
  rec.time = clock_.now();
  rec.event = ev.event;
  rec.ns = key.metadata.namespace_;
  rec.key = key.metadata.name;
  rec.keyUid = key.metadata.uid;
  rec.version = ev.version;
  rec.backend = key.spec.backend;
  rec.backendKeyId = backendKeyId;
  rec.initiator = "system:keygate";
  // Transitions a KeyAdministrator asked for carry that person (stamped by the webhook), but
  // only when the spec field behind the event is the one set: a version superseded by an
  // activation, or a destruction scheduled by a delete, is not that person's doing.
  if (ev.request.empty()) {
    const auto& s = key.spec;
    const bool adminCause = (ev.event == "KeyDeactivated" && s.deactivate) ||
                            (ev.event == "KeyCompromised" && s.isCompromised()) ||
                            ((ev.event == "DestructionScheduled" || ev.event == "KeyDestroyed") &&
                             s.scheduleDestruction) ||
                            (ev.event == "DestructionCancelled" && !s.scheduleDestruction) || ev.requestedByPerson;
    auto it = key.metadata.annotations.find(std::string(v1::kRequestedByAnnotation));
    if (adminCause && it != key.metadata.annotations.end() && !it->second.empty()) rec.initiator = it->second;
  }
  rec.approvers = ev.approvers;
  rec.changeReference = ev.changeReference;
  rec.affectedSystems = ev.affectedSystems.empty() ? key.spec.affectedSystems : ev.affectedSystems;
  rec.request = ev.request;
  rec.result = result;
  rec.message = ev.message;
  kube::ObjectPtr requestObj;
  if (!ev.request.empty() && deps_.requests) {
    // The requester initiated an activation.
    requestObj = deps_.requests->get(key.metadata.namespace_ + "/" + ev.request);
    if (requestObj) rec.initiator = getString(*requestObj, "spec.requester", rec.initiator);
  }
  if (deps_.audit) deps_.audit->write(rec);
  return Emitted{std::move(rec), std::move(requestObj), ev};
}

void EncryptionKeyReconciler::recordEvents(const Json& obj, const Emitted& e) {
  const AuditRecord& rec = e.record;
  const v1::AuditEvent& ev = e.event;
  const kube::ObjectPtr& requestObj = e.request;
  const std::string& result = rec.result;
  if (deps_.events) {
    std::string msg = ev.message.empty() ? ev.event : ev.message;
    if (!ev.request.empty()) {
      // The Event carries who and why, like the audit line (CEK-15 auditing guideline 6).
      auto join = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
        return out;
      };
      msg += "; requester " + rec.initiator;
      if (!rec.approvers.empty()) msg += ", approvers " + join(rec.approvers);
      if (!rec.changeReference.empty()) msg += ", change " + rec.changeReference;
      if (!rec.affectedSystems.empty()) msg += ", affected systems " + join(rec.affectedSystems);
    }
    // A repaired drift succeeded, but somebody changed the key outside Keygate: a Warning.
    auto type = result == "Success" && ev.event != "DriftRepaired" ? kube::EventType::kNormal : kube::EventType::kWarning;
    deps_.events->record(obj, type, ev.event, msg);
    if (requestObj) deps_.events->record(*requestObj, type, ev.event, msg);  // on both objects
  }
}

}  // namespace keygate::controllers

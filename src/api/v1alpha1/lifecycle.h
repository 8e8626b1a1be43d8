#pragma once
// The pure lifecycle decision for one EncryptionKey (api.md "Key states"). No I/O: the
// reconciler gathers the inputs (key from the cache, related requests, policy, what the
// backend's describe() said) and performs the returned Plan: backend actions in order,
// finalizer changes, one status write if the status changed, audit events, and a requeue
// for the next timed transition (notBefore, preActiveTTL expiry, destruction window end,
// rotation due).
//
// Contract: the plan's status assumes every action succeeds. If an action fails the
// reconciler writes nothing (transient: retry with backoff) or writes markFailed(...)
// (permanent). Idempotent: decide() on applyPlan(key, plan) with the same inputs and `now`
// returns no actions, no audit events and an identical status.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "api/v1alpha1/policy.h"
#include "common/clock.h"

namespace keygate::api::v1alpha1 {

// Usage attributes of one backend object as describe() reports them.
enum class UsageState {
  kUnknown,      // not described
  kNone,         // no operation permitted (PreActive, Compromised)
  kPurpose,      // exactly the purpose's operations (Active)
  kProcessOnly,  // decrypt / verify / unwrap only (Deactivated)
  kOther,        // anything else: drift
};

struct VersionView {
  bool exists = false;
  UsageState usage = UsageState::kUnknown;
  bool operator==(const VersionView&) const = default;
};

struct BackendView {
  bool reachable = true;   // false: the backend cannot be reached right now
  bool described = false;  // describe() ran this reconcile: versions below are authoritative
  std::map<int64_t, VersionView> versions;
  bool operator==(const BackendView&) const = default;
};

// Approval validity is decided by the activation-request reconciler (signatures, roles,
// segregation of duties). Without explicit verdicts, a request in phase Approved counts
// with status.approvalsReceived valid approvals and its Approve entries as approvers.
struct ApprovalVerdict {
  std::string request;
  int64_t validApprovals = 0;
  std::vector<std::string> approvers;
};

enum class ActionType {
  kAddFinalizer,
  kRemoveFinalizer,
  kGenerateVersion,
  kImportVersion,  // origin External: unwrap the tenant's material into the backend
  kActivateVersion,
  kSelfTest,
  kDeactivateVersion,
  kMarkCompromised,
  kDestroyVersion,
  kRepairDrift,  // set the version's usage back to `usage`
};
std::string_view toString(ActionType t);

struct Action {
  ActionType type = ActionType::kGenerateVersion;
  int64_t version = 0;
  UsageState usage = UsageState::kUnknown;  // kRepairDrift: the expected usage
  bool operator==(const Action&) const = default;
};

// One lifecycle event; the reconciler adds time, namespace, key, uid, backend,
// backendKeyId, initiator and result when it writes the audit line and the Event.
struct AuditEvent {
  std::string event;  // KeyGenerated, KeyImported, KeyActivated, KeyDeactivated, KeyCompromised,
                      // KeyExpired, KeyRotationStarted, DestructionScheduled, DestructionCancelled,
                      // KeyDestroyed, KeyRetained, KeyDeleted, DriftRepaired, KeyFailed,
                      // KeySelfTestFailed, KeyRotationRefused; BYOK (the reconciler's import):
                      // WrappingKeyPublished, KeyImported, KeyImportRefused
  int64_t version = 0;
  std::string message;
  std::string request;
  std::vector<std::string> approvers;
  std::string changeReference;
  std::vector<std::string> affectedSystems;
  // The event follows a person's request (keygate.dev/requested-by names them), not a field
  // of the spec (a rotation asked for with keygate.dev/rotate-requested-at).
  bool requestedByPerson = false;
  bool operator==(const AuditEvent&) const = default;
};

struct RequestUpdate {
  std::string request;
  RequestPhase phase = RequestPhase::kActivated;
  bool operator==(const RequestUpdate&) const = default;
};

struct Plan {
  std::vector<Action> actions;
  EncryptionKeyStatus status;
  bool statusChanged = false;
  std::vector<AuditEvent> audit;
  std::vector<RequestUpdate> requestUpdates;  // requests consumed by an activation
  std::optional<Duration> requeueAfter;       // next timed transition; zero = run again now
};

// An approval activates once: a request made no later (in whole seconds, as timestamps are
// stored) than the last activation of the version it targets was spent by that activation or
// made moot by it, even when the patch that marks it Activated was lost. Activating that
// version again takes a new request. False when either time is unknown.
bool approvalSpent(const KeyActivationRequest& request, const KeyVersionStatus* target);

Plan decide(const EncryptionKey& key, const std::vector<KeyActivationRequest>& requests, const Policy& policy,
            const BackendView& backend, WallTime now);
Plan decide(const EncryptionKey& key, const std::vector<KeyActivationRequest>& requests, const Policy& policy,
            const BackendView& backend, WallTime now, const std::vector<ApprovalVerdict>& verdicts);

// The key as it is after the plan was performed: new status, finalizer added/removed.
EncryptionKey applyPlan(const EncryptionKey& key, const Plan& plan);

// Status for a permanent error (bad import material, algorithm the backend lacks): state
// Failed, Ready=False with `reason`. decide() leaves a Failed key alone (no hot loop) except
// for deletion, and except reason PolicyViolation once the policy allows the key again.
EncryptionKeyStatus markFailed(const EncryptionKey& key, std::string_view reason, std::string_view message,
                               WallTime now);

// Status after version `version` failed its known-answer test right after activation (the
// reconciler has already taken the version's usage away in the backend): the version and
// the key Failed, conditions SelfTestFailed=True (reason KnownAnswerTestFailed) and
// Ready=False (reason SelfTestFailed), selfTest.result Failed. Failed is sticky (see
// markFailed): nothing uses or re-activates the key until a person looks.
EncryptionKeyStatus markSelfTestFailed(const EncryptionKey& key, EncryptionKeyStatus status, int64_t version,
                                       std::string_view message, WallTime now);

// True when the reconcile-requested-at annotation carries a value not yet acted on: the
// reconciler should call describe() and pass BackendView{.described = true}.
bool describeRequested(const EncryptionKey& key);

// The usage the backend object of a version in `state` must have.
UsageState expectedUsage(KeyState state);

}  // namespace keygate::api::v1alpha1

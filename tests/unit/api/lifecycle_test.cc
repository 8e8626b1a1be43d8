#include "api/v1alpha1/lifecycle.h"

#include <gtest/gtest.h>

#include "support/api_builders.h"

namespace keygate::api::v1alpha1 {
namespace {

using namespace keygate::testing::gen;
using std::chrono::hours;
using std::chrono::minutes;

Action A(ActionType t, int64_t v = 0, UsageState u = UsageState::kUnknown) { return Action{t, v, u}; }
constexpr auto kAdd = ActionType::kAddFinalizer;
constexpr auto kRemove = ActionType::kRemoveFinalizer;
constexpr auto kGen = ActionType::kGenerateVersion;
constexpr auto kImport = ActionType::kImportVersion;
constexpr auto kActivate = ActionType::kActivateVersion;
constexpr auto kSelfTest = ActionType::kSelfTest;
constexpr auto kDeactivate = ActionType::kDeactivateVersion;
constexpr auto kCompromise = ActionType::kMarkCompromised;
constexpr auto kDestroy = ActionType::kDestroyVersion;
constexpr auto kRepair = ActionType::kRepairDrift;

const WallTime T = t0();
const WallTime kCreated = T - hours(1);  // v1 created an hour before "now"

struct Row {
  std::string name;
  EncryptionKey key;
  std::vector<KeyActivationRequest> requests;
  BackendView backend;
  WallTime now;
  std::vector<Action> actions;
  KeyState state;
  std::vector<std::string> audit;
  std::optional<Duration> requeue;
  std::vector<RequestUpdate> requestUpdates = {};
  std::optional<std::vector<ApprovalVerdict>> verdicts = {};
  Policy policy = {};
};

// gtest prints the row name instead of a byte dump (ctest shows it too).
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

BackendView up() { return BackendView(); }
BackendView unreachable() {
  BackendView b;
  b.reachable = false;
  return b;
}
BackendView described(std::map<int64_t, VersionView> versions) {
  BackendView b;
  b.described = true;
  b.versions = std::move(versions);
  return b;
}
Policy euPolicy() {
  Policy p;
  p.jurisdictions["EU"] = Policy::Jurisdiction{{"kmip"}, {}};
  return p;
}

std::vector<std::string> events(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& e : p.audit) out.push_back(e.event);
  return out;
}

std::vector<Row> rows() {
  const auto active1 = withVersion(1, KeyState::kActive, kCreated - hours(48), kCreated - hours(24));
  const auto deactivated1 = [](EncryptionKey& k) {
    withVersion(1, KeyState::kDeactivated, kCreated - hours(48), kCreated - hours(24))(k);
    k.status.versions[0].deactivatedAt = kCreated;
  };
  const auto scheduled1 = [](EncryptionKey& k) {
    withVersion(1, KeyState::kDestroyScheduled, kCreated - hours(48), kCreated - hours(24))(k);
    k.status.versions[0].deactivatedAt = kCreated - hours(2);
    k.status.versions[0].destroyAt = T + hours(2);
    k.status.state = KeyState::kDestroyScheduled;
  };
  const auto preActive1 = withVersion(1, KeyState::kPreActive, kCreated);
  const auto fin = withFinalizer();
  std::vector<Row> r;
  // Pending → PreActive: a new key gets its finalizer and a generated version 1.
  r.push_back({"PendingGeneratesVersion1", key("k"), {}, up(), T, {A(kAdd), A(kGen, 1)}, KeyState::kPreActive,
               {"KeyGenerated"}, Duration::zero()});
  // Backend down: the key is Pending, nothing is attempted.
  r.push_back({"BackendUnreachableStaysPending", key("k", fin), {}, unreachable(), T, {}, KeyState::kPending, {},
               std::nullopt});
  // BYOK: origin External imports instead of generating. The version is Pending until the
  // reconciler has imported the tenant's material (it then audits KeyImported).
  r.push_back({"ExternalOriginImports", key("k", fin, withExternalOrigin()), {}, up(), T, {A(kImport, 1)},
               KeyState::kPending, {}, std::nullopt});
  // PreActive → Active with an Approved request meeting requiredApprovals.
  r.push_back({"ApprovedRequestActivates", key("k", fin, preActive1), {request("r1", "k", approved(1))}, up(), T,
               {A(kActivate, 1), A(kSelfTest, 1)}, KeyState::kActive, {"KeyActivated"}, std::nullopt,
               {{"r1", RequestPhase::kActivated}}});
  // Too few valid approvals: stays PreActive, requeued at the TTL expiry.
  r.push_back({"TooFewApprovalsWaits", key("k", fin, withRequiredApprovals(2), preActive1),
               {request("r1", "k", approved(1, 2))}, up(), T, {}, KeyState::kPreActive, {}, hours(167)});
  // Policy raises requiredApprovals: a Sign key needs 2 under {Sign: 2}.
  {
    Row row{"PolicyMinimumApprovalsApplies",
            key("k", fin, withPurpose(Purpose::kSign), withAlgorithm(Algorithm::kEcP256), preActive1),
            {request("r1", "k", approved(1))}, up(), T, {}, KeyState::kPreActive, {}, hours(167)};
    row.policy.minApprovals.perPurpose[Purpose::kSign] = 2;
    r.push_back(row);
  }
  // Approved but notBefore in the future: waits, requeued exactly at notBefore.
  r.push_back({"NotBeforeInFutureWaits", key("k", fin, withNotBefore("2027-01-15T10:00:00Z"), preActive1),
               {request("r1", "k", approved(1))}, up(), T, {}, KeyState::kPreActive, {}, hours(2)});
  // notBefore reached: activates.
  r.push_back({"NotBeforeReachedActivates", key("k", fin, withNotBefore("2027-01-15T08:00:00Z"), preActive1),
               {request("r1", "k", approved(1))}, up(), T, {A(kActivate, 1), A(kSelfTest, 1)}, KeyState::kActive,
               {"KeyActivated"}, std::nullopt, {{"r1", RequestPhase::kActivated}}});
  // PreActive → Expired at preActiveTTL: material destroyed.
  r.push_back({"PreActiveTtlExpires", key("k", fin, withPreActiveTTL("1h"), preActive1), {}, up(), T,
               {A(kDestroy, 1)}, KeyState::kExpired, {"KeyExpired"}, std::nullopt});
  // Policy caps preActiveTTL: 9999h is capped to 720h.
  r.push_back({"PreActiveTtlCappedByPolicy", key("k", fin, withPreActiveTTL("9999h"), preActive1), {}, up(), T, {},
               KeyState::kPreActive, {}, hours(719)});
  // Active → Deactivated on spec.deactivate.
  r.push_back({"DeactivateActiveKey", key("k", fin, withDeactivate(), active1), {}, up(), T, {A(kDeactivate, 1)},
               KeyState::kDeactivated, {"KeyDeactivated"}, std::nullopt});
  // Active / PreActive / Deactivated → Compromised.
  r.push_back({"CompromiseActive", key("k", fin, withCompromised("leaked"), active1), {}, up(), T,
               {A(kCompromise, 1)}, KeyState::kCompromised, {"KeyCompromised"}, std::nullopt});
  r.push_back({"CompromisePreActive", key("k", fin, withCompromised("leaked"), preActive1),
               {request("r1", "k", approved(1))}, up(), T, {A(kCompromise, 1)}, KeyState::kCompromised,
               {"KeyCompromised"}, std::nullopt});
  r.push_back({"CompromiseDeactivated", key("k", fin, withCompromised("leaked"), deactivated1), {}, up(), T,
               {A(kCompromise, 1)}, KeyState::kCompromised, {"KeyCompromised"}, std::nullopt});
  // Rotation: period elapsed since activation → version 2 PreActive, key stays Active.
  r.push_back({"RotationDueGeneratesVersion2",
               key("k", fin, withRotation("24h"), active1), {}, up(), T, {A(kGen, 2)}, KeyState::kActive,
               {"KeyGenerated", "KeyRotationStarted"}, Duration::zero()});
  // Rotation not yet due: requeued for the due time.
  r.push_back({"RotationNotDueRequeues", key("k", fin, withRotation("48h"), active1), {}, up(), T, {},
               KeyState::kActive, {}, hours(23)});
  // Rotated version 2 approved: v2 Active, v1 Deactivated (still processes).
  r.push_back({"RotatedVersionActivationSupersedes",
               key("k", fin, withRotation("2160h"), active1, withVersion(2, KeyState::kPreActive, kCreated)),
               {request("r2", "k", forVersion(2), approved(1))}, up(), T,
               {A(kDeactivate, 1), A(kActivate, 2), A(kSelfTest, 2)}, KeyState::kActive,
               {"KeyDeactivated", "KeyActivated"}, hours(2160), {{"r2", RequestPhase::kActivated}}});
  // rotation.requireApproval false, where policy.allowUnapprovedRotation allows it: the new
  // version activates on its own.
  {
    Row row{"RotationWithoutApprovalAutoActivates",
            key("k", fin, withRotation("2160h", false), active1, withVersion(2, KeyState::kPreActive, kCreated)),
            {}, up(), T, {A(kDeactivate, 1), A(kActivate, 2), A(kSelfTest, 2)}, KeyState::kActive,
            {"KeyDeactivated", "KeyActivated"}, hours(2160)};
    row.policy.allowUnapprovedRotation = true;
    r.push_back(row);
  }
  // Under the default policy (security finding 5) the same spec, written around the webhook,
  // activates nothing: the new version waits for an approved request like any other.
  r.push_back({"RotationWithoutApprovalWaitsUnderDefaultPolicy",
               key("k", fin, withRotation("2160h", false), active1, withVersion(2, KeyState::kPreActive, kCreated)),
               {}, up(), T, {}, KeyState::kActive, {}, hours(167)});  // v2's preActiveTTL
  // scheduleDestruction on a Deactivated key → DestroyScheduled for pendingWindow.
  r.push_back({"ScheduleDestruction", key("k", fin, withScheduleDestruction(), deactivated1), {}, up(), T, {},
               KeyState::kDestroyScheduled, {"DestructionScheduled"}, hours(168)});
  // scheduleDestruction on an Active key is refused: deactivate first.
  r.push_back({"ScheduleDestructionOfActiveBlocked", key("k", fin, withScheduleDestruction(), active1), {}, up(), T, {},
               KeyState::kActive, {}, std::nullopt});
  // Inside the window: wait for its end.
  r.push_back({"DestroyScheduledWaitsForWindow", key("k", fin, withScheduleDestruction(), scheduled1), {}, up(), T, {},
               KeyState::kDestroyScheduled, {}, hours(2)});
  // Window over → Destroyed; the CR stays as the record.
  r.push_back({"WindowOverDestroys", key("k", fin, withScheduleDestruction(), scheduled1), {}, up(), T + hours(3),
               {A(kDestroy, 1)}, KeyState::kDestroyed, {"KeyDestroyed"}, std::nullopt});
  // scheduleDestruction back to false inside the window cancels: back to Deactivated.
  r.push_back({"CancelDestructionInsideWindow", key("k", fin, scheduled1), {}, up(), T, {}, KeyState::kDeactivated,
               {"DestructionCancelled"}, Duration::zero()});
  // Delete with policy Retain: no backend action, finalizer removed, audit line.
  r.push_back({"DeleteRetainRemovesFinalizer", key("k", fin, active1, deletedAt(T)), {}, up(), T, {A(kRemove)},
               KeyState::kActive, {"KeyRetained"}, std::nullopt});
  // Delete with policy Destroy: the finalizer holds the CR through the window.
  r.push_back({"DeleteDestroySchedules",
               key("k", fin, withDestruction(DestructionPolicy::kDestroy, "2h"), deactivated1, deletedAt(T)), {}, {},
               T, {}, KeyState::kDestroyScheduled, {"DestructionScheduled"}, hours(2)});
  // ... then destroys and releases the CR when the window ends.
  r.push_back({"DeleteDestroyAfterWindow",
               key("k", fin, withDestruction(DestructionPolicy::kDestroy, "2h"), scheduled1, deletedAt(T)), {}, {},
               T + hours(2), {A(kDestroy, 1), A(kRemove)}, KeyState::kDestroyed, {"KeyDestroyed"}, std::nullopt});
  // Delete with Destroy of an Active key: blocked (never destroy an Active key).
  r.push_back({"DeleteDestroyOfActiveBlocked",
               key("k", fin, withDestruction(DestructionPolicy::kDestroy), active1, deletedAt(T)), {}, up(), T, {},
               KeyState::kActive, {}, std::nullopt});
  // Delete with Destroy of an Expired key: nothing left to destroy, finalizer goes.
  r.push_back({"DeleteDestroyNothingLeft",
               key("k", fin, withDestruction(DestructionPolicy::kDestroy), withState(KeyState::kExpired),
                   withVersion(1, KeyState::kExpired, kCreated), deletedAt(T)),
               {}, up(), T, {A(kRemove)}, KeyState::kExpired, {"KeyDeleted"}, std::nullopt});
  // Failed is sticky: no retry in a hot loop.
  {
    EncryptionKey k = key("k", fin);
    k.status = markFailed(k, "UnsupportedAlgorithm", "backend lacks EC-P384", T - hours(1));
    r.push_back({"FailedIsSticky", k, {}, up(), T, {}, KeyState::kFailed, {}, std::nullopt});
  }
  // A jurisdiction that forbids the backend: Failed before anything reaches the backend.
  {
    Row row{"PolicyViolationFails", key("k", fin, withJurisdiction("EU")), {}, up(), T, {}, KeyState::kFailed,
            {"KeyFailed"}, std::nullopt};
    row.policy = euPolicy();
    r.push_back(row);
  }
  // Drift: someone enabled usage on a PreActive key; the reconcile-requested describe repairs it.
  r.push_back({"DriftRepairedOnPreActive",
               key("k", fin, preActive1, withAnnotation(std::string(kReconcileRequestedAtAnnotation), "1")), {},
               described({{1, {true, UsageState::kPurpose}}}), T, {A(kRepair, 1, UsageState::kNone)},
               KeyState::kPreActive, {"DriftRepaired"}, hours(167)});
  // An activation interrupted after the backend call (the leader killed before its status
  // write): the backend object is already usable and the approved request is still unspent.
  // The activation is finished, not "repaired" — a KMIP object revoked there can never
  // become Active again (it used to end Compromised, the key Failed).
  r.push_back({"InterruptedActivationIsFinished",
               key("k", fin, preActive1), {request("r1", "k", approved(1))},
               described({{1, {true, UsageState::kPurpose}}}), T, {A(kActivate, 1), A(kSelfTest, 1)},
               KeyState::kActive, {"KeyActivated"}, std::nullopt, {{"r1", RequestPhase::kActivated}}});
  // The same for a rotation: version 1 already Deactivated and version 2 usable in the backend.
  r.push_back({"InterruptedRotationIsFinished",
               key("k", fin, withRotation("2160h"), active1, withVersion(2, KeyState::kPreActive, kCreated)),
               {request("r2", "k", forVersion(2), approved(1))},
               described({{1, {true, UsageState::kProcessOnly}}, {2, {true, UsageState::kPurpose}}}), T,
               {A(kDeactivate, 1), A(kActivate, 2), A(kSelfTest, 2)}, KeyState::kActive,
               {"KeyDeactivated", "KeyActivated"}, hours(2160), {{"r2", RequestPhase::kActivated}}});
  // Half of that rotation: only version 1's deactivation reached the backend.
  r.push_back({"InterruptedRotationAfterTheDeactivationIsFinished",
               key("k", fin, withRotation("2160h"), active1, withVersion(2, KeyState::kPreActive, kCreated)),
               {request("r2", "k", forVersion(2), approved(1))},
               described({{1, {true, UsageState::kProcessOnly}}, {2, {true, UsageState::kNone}}}), T,
               {A(kDeactivate, 1), A(kActivate, 2), A(kSelfTest, 2)}, KeyState::kActive,
               {"KeyDeactivated", "KeyActivated"}, hours(2160), {{"r2", RequestPhase::kActivated}}});
  // Usable in the backend with no approved request: drift, repaired as before.
  r.push_back({"UsablePreActiveWithoutApprovalIsRepaired", key("k", fin, withRequiredApprovals(2), preActive1),
               {request("r1", "k", approved(1, 2))}, described({{1, {true, UsageState::kPurpose}}}), T,
               {A(kRepair, 1, UsageState::kNone)}, KeyState::kPreActive, {"DriftRepaired"}, hours(167)});
  // Material of an Active version missing in the backend: Failed, nothing destroyed.
  r.push_back({"MissingMaterialFails",
               key("k", fin, active1, withAnnotation(std::string(kReconcileRequestedAtAnnotation), "1")), {},
               described({}), T, {}, KeyState::kFailed, {"KeyFailed"}, std::nullopt});
  // Re-activation of a Deactivated key with a new approved request.
  r.push_back({"ReactivateDeactivatedWithNewRequest", key("k", fin, deactivated1),
               {request("old", "k", withPhase(RequestPhase::kActivated)), request("new", "k", approved(1))}, up(), T,
               {A(kActivate, 1), A(kSelfTest, 1)}, KeyState::kActive, {"KeyActivated"}, std::nullopt,
               {{"new", RequestPhase::kActivated}}});
  // A request in another namespace never activates this key.
  r.push_back({"CrossNamespaceRequestIgnored", key("k", fin, preActive1),
               {request("r1", "k", approved(1), withNamespace("tenant-b"))}, up(), T, {}, KeyState::kPreActive, {},
               hours(167)});
  // Precomputed verdicts: the request reconciler's count of valid approvals decides.
  {
    Row row{"VerdictsDecideActivation", key("k", fin, withRequiredApprovals(2), preActive1),
            {request("r1", "k", withApproval("bob"), withApproval("carol"))}, up(), T,
            {A(kActivate, 1), A(kSelfTest, 1)}, KeyState::kActive, {"KeyActivated"}, std::nullopt,
            {{"r1", RequestPhase::kActivated}}};
    row.verdicts = std::vector<ApprovalVerdict>{{"r1", 2, {"bob", "carol"}}};
    r.push_back(row);
  }
  // ... and a verdict with an approval voided (bad signature) does not.
  {
    Row row{"InvalidApprovalNotCounted", key("k", fin, withRequiredApprovals(2), preActive1),
            {request("r1", "k", withApproval("bob"), withApproval("mallory"))}, up(), T, {}, KeyState::kPreActive, {},
            hours(167)};
    row.verdicts = std::vector<ApprovalVerdict>{{"r1", 1, {"bob"}}};
    r.push_back(row);
  }
  return r;
}

Plan run(const Row& row, const EncryptionKey& key, const BackendView& backend) {
  return row.verdicts ? decide(key, row.requests, row.policy, backend, row.now, *row.verdicts)
                      : decide(key, row.requests, row.policy, backend, row.now);
}

class DecideTable : public ::testing::TestWithParam<Row> {};

// Every transition of api.md's state diagram, with injected times.
TEST_P(DecideTable, Transition) {
  const Row& row = GetParam();
  Plan p = run(row, row.key, row.backend);
  EXPECT_EQ(p.actions, row.actions);
  EXPECT_EQ(p.status.state, row.state) << toString(p.status.state);
  EXPECT_EQ(events(p), row.audit);
  EXPECT_EQ(p.requeueAfter, row.requeue);
  EXPECT_EQ(p.requestUpdates, row.requestUpdates);
  EXPECT_EQ(p.status.observedGeneration, row.key.metadata.generation);
  for (const auto& c : p.status.conditions) EXPECT_EQ(c.observedGeneration, row.key.metadata.generation) << c.type;
}

// decide() on its own output with the same `now` does nothing and changes nothing.
TEST_P(DecideTable, Idempotent) {
  const Row& row = GetParam();
  Plan first = run(row, row.key, row.backend);
  EncryptionKey next = applyPlan(row.key, first);
  BackendView backend = row.backend;
  if (!describeRequested(next)) {
    backend = BackendView();
    backend.reachable = row.backend.reachable;
  }
  Plan second = run(row, next, backend);
  // A version waiting for its imported material asks the reconciler to look again each time
  // (the only action that repeats by design).
  std::erase_if(second.actions, [](const Action& a) { return a.type == ActionType::kImportVersion; });
  EXPECT_TRUE(second.actions.empty()) << toString(second.actions.front().type);
  EXPECT_TRUE(second.audit.empty()) << second.audit.front().event;
  EXPECT_FALSE(second.statusChanged);
  EXPECT_EQ(second.status, first.status);
  for (size_t i = 0; i < std::min(first.status.conditions.size(), second.status.conditions.size()); ++i)
    EXPECT_EQ(first.status.conditions[i], second.status.conditions[i])
        << first.status.conditions[i].type << " " << first.status.conditions[i].reason << "/" << first.status.conditions[i].message
        << " vs " << second.status.conditions[i].type << " " << second.status.conditions[i].reason << "/"
        << second.status.conditions[i].message;
}

INSTANTIATE_TEST_SUITE_P(Lifecycle, DecideTable, ::testing::ValuesIn(rows()),
                         [](const auto& info) { return info.param.name; });

// lastTransitionTime moves only when a condition's status changes; time passing alone
// writes nothing.
TEST(DecideTest, ConditionsDoNotChurn) {
  Policy policy;
  EncryptionKey k = applyPlan(key("k"), decide(key("k"), {}, policy, up(), T));
  const Condition* ready = findCondition(k.status.conditions, "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, "False");
  EXPECT_EQ(ready->lastTransitionTime, T);

  Plan later = decide(k, {}, policy, up(), T + hours(5));
  EXPECT_FALSE(later.statusChanged);

  Plan act = decide(k, {request("r1", "k", approved(1))}, policy, up(), T + hours(6));
  const Condition* r2 = findCondition(act.status.conditions, "Ready");
  EXPECT_EQ(r2->status, "True");
  EXPECT_EQ(r2->lastTransitionTime, T + hours(6));
  const Condition* backend = findCondition(act.status.conditions, "BackendReady");
  EXPECT_EQ(backend->lastTransitionTime, T);  // unchanged status keeps its time
}

// The activation audit record carries the request, approvers, change reference and the
// union of affected systems.
TEST(DecideTest, ActivationAuditCarriesApprovers) {
  EncryptionKey k = key("k", withFinalizer(), withVersion(1, KeyState::kPreActive, kCreated),
                        [](EncryptionKey& e) { e.spec.affectedSystems = {"inference-gateway"}; });
  auto r = request("r1", "k", withApproval("bob"), withApproval("carol"), approved(2),
                   [](KeyActivationRequest& q) { q.spec.affectedSystems = {"model-store"}; });
  Plan p = decide(k, {r}, Policy{}, up(), T);
  ASSERT_EQ(p.audit.size(), 1u);
  EXPECT_EQ(p.audit[0].request, "r1");
  EXPECT_EQ(p.audit[0].changeReference, "CHG-1234");
  EXPECT_EQ(p.audit[0].approvers, (std::vector<std::string>{"bob", "carol"}));
  EXPECT_EQ(p.audit[0].affectedSystems, (std::vector<std::string>{"inference-gateway", "model-store"}));
  ASSERT_TRUE(p.status.activatedBy);
  EXPECT_EQ(p.status.activatedBy->approvers, (std::vector<std::string>{"bob", "carol"}));
  EXPECT_EQ(p.status.versions[0].activatedAt, T);
}

// keygate.dev/rotate-requested-at: one new version per annotation value, attributed to the
// person who asked; refused (audited) while a rotation waits or with nothing Active.
TEST(DecideTest, RotationOnRequest) {
  auto asked = [](const std::string& v) {
    return [v](EncryptionKey& e) { e.metadata.annotations[std::string(kRotateRequestedAtAnnotation)] = v; };
  };
  EncryptionKey k = key("k", withFinalizer(), withVersion(1, KeyState::kActive, kCreated), asked("t1"));
  k.status.currentVersion = 1;
  k.status.versions[0].activatedAt = kCreated;
  Plan p = decide(k, {}, Policy{}, up(), T);
  EXPECT_NE(std::find(p.actions.begin(), p.actions.end(), A(kGen, 2)), p.actions.end());
  EXPECT_EQ(p.status.observedRotateRequest, "t1");
  ASSERT_EQ(events(p), (std::vector<std::string>{"KeyGenerated", "KeyRotationStarted"}));
  EXPECT_TRUE(p.audit[1].requestedByPerson);
  EXPECT_EQ(p.audit[1].version, 2);

  // The same value again: nothing (the request was acted on).
  k.status.observedRotateRequest = "t1";
  Plan again = decide(k, {}, Policy{}, up(), T);
  EXPECT_EQ(std::find(again.actions.begin(), again.actions.end(), A(kGen, 2)), again.actions.end());
  EXPECT_TRUE(events(again).empty());

  // A new value while v2 waits for activation: refused, not stacked.
  EncryptionKey waiting = key("k", withFinalizer(), withVersion(1, KeyState::kActive, kCreated),
                              withVersion(2, KeyState::kPreActive, kCreated), asked("t2"));
  waiting.status.currentVersion = 1;
  waiting.status.versions[0].activatedAt = kCreated;
  waiting.status.observedRotateRequest = "t1";
  Plan refused = decide(waiting, {}, Policy{}, up(), T);
  EXPECT_EQ(std::find(refused.actions.begin(), refused.actions.end(), A(kGen, 3)), refused.actions.end());
  EXPECT_EQ(events(refused), (std::vector<std::string>{"KeyRotationRefused"}));
  EXPECT_EQ(refused.status.observedRotateRequest, "t2");

  // Nothing Active to rotate (a PreActive first version).
  EncryptionKey fresh = key("k", withFinalizer(), withVersion(1, KeyState::kPreActive, kCreated), asked("t3"));
  EXPECT_EQ(events(decide(fresh, {}, Policy{}, up(), T)), (std::vector<std::string>{"KeyRotationRefused"}));
}

// Security (found by chaos_bench --faults): an approval activates once. The patch that marks a
// request Activated can be lost (a dropped connection, a 500); once a rotation has moved
// status.activatedBy on, nothing mirrors it, and the old request still reads Approved. It
// must not bring its version back: that re-activated v1 and deactivated v2 with nobody's new
// approval. A request made after the version's last activation (a re-activation) still works.
TEST(DecideTest, AnApprovalIsSpentByTheActivationItMade) {
  EncryptionKey k = key("k", withFinalizer(), withVersion(1, KeyState::kDeactivated, kCreated),
                        withVersion(2, KeyState::kActive, kCreated));
  k.status.currentVersion = 2;
  k.status.versions[0].activatedAt = T - minutes(10);
  k.status.versions[0].deactivatedAt = T - minutes(5);
  k.status.versions[1].activatedAt = T - minutes(5);
  k.status.activatedBy = ActivatedBy{"act-v2", {"bob"}};
  KeyActivationRequest old = request("act-v1", "k", approved(1), forVersion(1));
  old.metadata.creationTimestamp = T - minutes(11);
  Plan p = decide(k, {old}, Policy{}, up(), T);
  EXPECT_TRUE(p.actions.empty()) << ::testing::PrintToString(p.actions.size());
  EXPECT_TRUE(events(p).empty());
  EXPECT_EQ(p.status.currentVersion, 2);
  EXPECT_TRUE(p.requestUpdates.empty());
  // Made in the second of that activation: spent too (timestamps have whole seconds).
  old.metadata.creationTimestamp = T - minutes(10);
  EXPECT_TRUE(decide(k, {old}, Policy{}, up(), T).actions.empty());
  // The same through the signed verdicts the reconciler passes.
  EXPECT_TRUE(decide(k, {old}, Policy{}, up(), T, {ApprovalVerdict{"act-v1", 1, {"bob"}}}).actions.empty());

  KeyActivationRequest fresh = request("react-v1", "k", approved(1), forVersion(1));
  fresh.metadata.creationTimestamp = T - minutes(1);
  Plan again = decide(k, {old, fresh}, Policy{}, up(), T);
  EXPECT_EQ(again.actions, (std::vector<Action>{A(kDeactivate, 2), A(kActivate, 1), A(kSelfTest, 1)}));
  ASSERT_EQ(again.requestUpdates.size(), 1u);
  EXPECT_EQ(again.requestUpdates[0].request, "react-v1");
}

// A full timed life: create, wait, approve at notBefore, rotate, deactivate, destroy.
// kstatus: Reconciling=True while the key waits (PreActive: for people; DestroyScheduled: for
// its window), both False when it is settled, Stalled=True on an outcome a person must act on.
std::string progress(const EncryptionKey& k) {
  std::string out;
  for (const char* t : {"Reconciling", "Stalled"}) {
    const Condition* c = findCondition(k.status.conditions, t);
    out += std::string(out.empty() ? "" : " ") + t + "=" + (c ? c->status + "/" + c->reason : "absent");
  }
  return out;
}

TEST(DecideTest, FullLifeWithInjectedClock) {
  Policy policy;
  EncryptionKey k = key("k", withNotBefore("2027-01-16T00:00:00Z"), withRotation("720h"));
  WallTime now = T;
  auto step = [&](std::vector<KeyActivationRequest> reqs = {}) {
    Plan p = decide(k, reqs, policy, {}, now);
    k = applyPlan(k, p);
    return p;
  };
  step();
  EXPECT_EQ(k.status.state, KeyState::kPreActive);
  EXPECT_EQ(progress(k), "Reconciling=True/PreActive Stalled=False/NotStalled");
  EXPECT_EQ(k.status.preActiveExpiresAt, T + hours(168));
  auto req = request("r1", "k", approved(1));
  Plan wait = step({req});
  EXPECT_EQ(wait.requeueAfter, hours(16));
  now = *parseRfc3339("2027-01-16T00:00:00Z");
  step({req});
  EXPECT_EQ(k.status.state, KeyState::kActive);
  EXPECT_EQ(progress(k), "Reconciling=False/Settled Stalled=False/NotStalled");
  now += hours(720);
  step();
  EXPECT_EQ(k.status.versions.size(), 2u);
  EXPECT_EQ(k.status.versions[1].state, KeyState::kPreActive);
  k.spec.deactivate = true;
  step();
  EXPECT_EQ(k.status.state, KeyState::kDeactivated);
  k.spec.scheduleDestruction = true;
  step();
  EXPECT_EQ(k.status.state, KeyState::kDestroyScheduled);
  EXPECT_EQ(progress(k), "Reconciling=True/DestroyScheduled Stalled=False/NotStalled");
  now += hours(168);
  Plan destroy = step();
  EXPECT_EQ(k.status.state, KeyState::kDestroyed);
  EXPECT_EQ(progress(k), "Reconciling=False/Settled Stalled=False/NotStalled");
  EXPECT_EQ(destroy.actions, (std::vector<Action>{A(kDestroy, 1), A(kDestroy, 2)}));
}

TEST(DecideTest, CompromisedAndFailedKeysAreStalled) {
  Policy policy;
  EncryptionKey k = key("k");
  k = applyPlan(k, decide(k, {}, policy, {}, T));
  k.spec.compromised = CompromisedSpec{"leaked"};
  k = applyPlan(k, decide(k, {}, policy, {}, T + hours(1)));
  EXPECT_EQ(k.status.state, KeyState::kCompromised);
  EXPECT_EQ(progress(k), "Reconciling=False/Settled Stalled=True/Compromised");
  EncryptionKey failed = key("f");
  failed = applyPlan(failed, decide(failed, {}, policy, {}, T));
  failed.status = markSelfTestFailed(failed, failed.status, 1, "KAT mismatch", T + hours(1));
  EXPECT_EQ(progress(failed), "Reconciling=False/Settled Stalled=True/SelfTestFailed");
}

// BYOK: an External key's version waits Pending (the reconciler is asked to import on every
// pass), counts no TTL and cannot be activated; once the reconciler has imported it
// (PreActive) it is activated like any other; a rotation waits Pending for new material
// while the old version stays Active.
TEST(DecideTest, ExternalKeyWaitsForItsMaterialThenActivatesLikeAnyOther) {
  Policy policy;
  EncryptionKey k = key("k", withExternalOrigin());
  auto step = [&](WallTime now, std::vector<KeyActivationRequest> reqs = {}) {
    Plan p = decide(k, reqs, policy, {}, now);
    k = applyPlan(k, p);
    return p;
  };
  step(T);
  Plan waiting = step(T + hours(1), {request("r1", "k", approved(1))});
  EXPECT_EQ(k.status.state, KeyState::kPending);
  EXPECT_EQ(k.status.versions[0].state, KeyState::kPending);
  EXPECT_FALSE(k.status.preActiveExpiresAt.has_value()) << "no TTL before the material is there";
  EXPECT_EQ(waiting.actions, (std::vector<Action>{A(kImport, 1)})) << "an approval cannot activate what is not imported";
  EXPECT_EQ(findCondition(k.status.conditions, "Ready")->message,
            "waiting for the tenant's wrapped key material (see the ImportPending condition)");
  // The reconciler imported it.
  k.status.versions[0].state = KeyState::kPreActive;
  k.status.versions[0].createdAt = T + hours(2);
  step(T + hours(2));
  EXPECT_EQ(k.status.state, KeyState::kPreActive);
  EXPECT_EQ(k.status.preActiveExpiresAt, T + hours(2 + 168));
  step(T + hours(3), {request("r1", "k", approved(1))});
  EXPECT_EQ(k.status.state, KeyState::kActive);
  k.metadata.annotations[std::string(kRotateRequestedAtAnnotation)] = "2027-02-01T00:00:00Z";
  Plan rotate = step(T + hours(4));
  EXPECT_EQ(rotate.actions, (std::vector<Action>{A(kImport, 2)}));
  EXPECT_EQ(k.status.state, KeyState::kActive);
  EXPECT_EQ(k.status.versions[1].state, KeyState::kPending);
}

}  // namespace
}  // namespace keygate::api::v1alpha1

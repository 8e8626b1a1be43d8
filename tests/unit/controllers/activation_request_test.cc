// The KeyActivationRequest reconciler's pure decisions: which approvals count and why not,
// the phase, the counters, and the verdicts handed to the EncryptionKey reconciler.

#include "controllers/activation_request/decide.h"

#include <gtest/gtest.h>

#include "support/api_builders.h"

namespace keygate::controllers {
namespace {

using namespace keygate::api::v1alpha1;
namespace gen = keygate::testing::gen;

class ActivationDecideTest : public ::testing::Test {
 public:  // the table cases below reach in
  ActivationDecideTest() : signer_(std::string(32, 'k')) {
    key_ = gen::key("model-weights", gen::withPurpose(Purpose::kSign), gen::withAlgorithm(Algorithm::kEcP256),
                    gen::withRequiredApprovals(2), gen::withAnnotation("keygate.dev/created-by", "erin"),
                    gen::withState(KeyState::kPreActive), gen::withVersion(1, KeyState::kPreActive, gen::t0()));
    key_.metadata.uid = "key-uid";
    request_ = gen::request("activate", "model-weights");
    request_.metadata.creationTimestamp = gen::t0();
    bindings_ = {gen::binding("approvers", Role::kKeyApprover,
                              {gen::user("bob"), gen::user("carol"), gen::user("alice"), gen::user("erin")}),
                 gen::binding("old", Role::kKeyApprover, {gen::user("olivia")},
                              [](KeyRoleBinding& b) { b.spec.reviewBy = "2020-01-01"; })};
  }

  // What the mutating webhook stamps.
  void sign(const std::string& approver, Decision d = Decision::kApprove, const std::string& comment = "ok",
            std::vector<std::string> groups = {}) {
    Approval a;
    a.approver = approver;
    a.decision = d;
    a.comment = comment;
    a.time = "2027-01-15T09:00:00Z";
    a.specHash = computeSpecHash(request_.spec, key_.spec);
    a.approverGroups = groups;
    a.signature = signer_.sign({request_.metadata.uid, key_.metadata.uid, a.specHash, approver,
                                std::string(toString(d)), a.time, groups});
    request_.spec.approvals.push_back(a);
  }

  RequestDecision run(WallTime now = gen::t0() + std::chrono::hours(1), bool withKey = true) {
    RequestInputs in;
    in.request = &request_;
    in.key = withKey ? &key_ : nullptr;
    in.bindings = &bindings_;
    in.policy = &policy_;
    in.signer = &signer_;
    in.now = now;
    return decideRequest(in);
  }

  ApprovalSigner signer_;
  EncryptionKey key_;
  KeyActivationRequest request_;
  std::vector<KeyRoleBinding> bindings_;
  Policy policy_;
};

// One valid approval of two: Pending, 1/2, expiry requeue; the next one approves.
TEST_F(ActivationDecideTest, CountsDistinctValidApprovals) {
  sign("bob");
  auto d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kPending);
  EXPECT_EQ(d.status.approvalsRequired, 2);
  EXPECT_EQ(d.status.approvalsReceived, 1);
  EXPECT_EQ(d.status.approvals, "1/2");
  EXPECT_TRUE(d.event.empty());
  ASSERT_TRUE(d.requeueAfter.has_value());
  EXPECT_EQ(*d.requeueAfter, std::chrono::hours(167));
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "InvalidApprovals"));

  sign("carol");
  d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kApproved);
  EXPECT_EQ(d.status.approvals, "2/2");
  EXPECT_EQ(d.event, "ApprovalReceived");
  EXPECT_TRUE(d.becameApproved);
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "Approved"));
  EXPECT_EQ(d.tally.approvers, (std::vector<std::string>{"bob", "carol"}));
  const Condition* c = findCondition(d.status.conditions, "Approved");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->observedGeneration, 1);
}

// Every reason an approval is ignored, reported in the InvalidApprovals condition and never counted.
TEST_F(ActivationDecideTest, InvalidApprovalsAreIgnoredAndReported) {
  struct Case {
    std::string name;
    std::function<void(ActivationDecideTest&)> setup;
    std::string message;
  };
  std::vector<Case> cases = {
      {"forged signature",
       [](ActivationDecideTest& t) {
         t.sign("bob");
         t.request_.spec.approvals.back().signature = ApprovalSigner(std::string(32, 'x')).sign({"a", "b", "c", "bob", "Approve", "t"});
       },
       "1 ignored: signature mismatch (bob)"},
      {"unsigned (webhook bypassed)",
       [](ActivationDecideTest& t) { t.request_.spec.approvals.push_back(Approval{"bob", Decision::kApprove, "", "", "", ""}); },
       "1 ignored: not signed (bob)"},
      {"spec changed after approval",
       [](ActivationDecideTest& t) {
         t.sign("bob");
         t.request_.spec.changeReference = "CHG-9999";
         // re-sign over the old hash: a valid signature, a stale hash
         auto& a = t.request_.spec.approvals.back();
         a.signature = t.signer_.sign({t.request_.metadata.uid, t.key_.metadata.uid, a.specHash, "bob", "Approve", a.time});
       },
       "1 ignored: spec changed after approval (bob)"},
      {"requester", [](ActivationDecideTest& t) { t.sign("alice"); }, "1 ignored: requester cannot approve (alice)"},
      {"key creator", [](ActivationDecideTest& t) { t.sign("erin"); }, "1 ignored: key creator cannot approve (erin)"},
      {"no binding", [](ActivationDecideTest& t) { t.sign("dave"); }, "1 ignored: no current KeyApprover binding (dave)"},
      {"overdue binding", [](ActivationDecideTest& t) { t.sign("olivia"); },
       "1 ignored: KeyApprover binding past reviewBy (olivia)"},
      {"second decision",
       [](ActivationDecideTest& t) {
         t.sign("bob");
         t.sign("bob");
       },
       "1 ignored: second decision by the same approver (bob)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    request_.spec = gen::request("activate", "model-weights").spec;
    c.setup(*this);
    auto d = run();
    EXPECT_NE(d.status.phase, RequestPhase::kApproved);
    EXPECT_TRUE(conditionIsTrue(d.status.conditions, "InvalidApprovals"));
    const Condition* cond = findCondition(d.status.conditions, "InvalidApprovals");
    ASSERT_NE(cond, nullptr);
    EXPECT_EQ(cond->message, c.message);
  }
}

// Policy may let the requester and the creator approve.
// A group-granted approval counts while a current binding still names one of the groups the
// webhook recorded, and only then: another group's binding does not keep it alive.
TEST_F(ActivationDecideTest, GroupGrantIsRecheckedThroughTheRecordedGroups) {
  Subject officers;
  officers.kind = SubjectKind::kGroup;
  officers.name = "security-officers";
  Subject auditors = officers;
  auditors.name = "auditors";
  bindings_.push_back(gen::binding("officers", Role::kKeyApprover, {officers}));
  bindings_.push_back(gen::binding("auditors", Role::kKeyApprover, {auditors}));
  sign("bob");
  sign("gina", Decision::kApprove, "ok", {"security-officers"});
  auto d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kApproved) << d.status.approvals;
  EXPECT_EQ(d.status.approvals, "2/2");

  // The officers binding goes; the auditors one (gina may or may not be in it) does not help.
  bindings_.erase(bindings_.begin() + 2);
  d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kPending);
  EXPECT_EQ(d.status.approvals, "1/2");
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "InvalidApprovals"));
  const Condition* invalid = findCondition(d.status.conditions, "InvalidApprovals");
  ASSERT_NE(invalid, nullptr);
  EXPECT_NE(invalid->message.find("gina"), std::string::npos) << invalid->message;

  // No recorded group at all: a group binding never stands in for a user grant.
  request_.spec.approvals.pop_back();
  sign("hank");
  d = run();
  EXPECT_EQ(d.status.approvals, "1/2");
}

TEST_F(ActivationDecideTest, PolicyFlagsRelaxSegregation) {
  policy_.segregationOfDuties.requesterMayApprove = true;
  policy_.segregationOfDuties.creatorMayApprove = true;
  sign("alice");
  sign("erin");
  auto d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kApproved);
}

// One valid Deny denies (terminal); an invalid Deny does not.
TEST_F(ActivationDecideTest, OneValidDenyDenies) {
  request_.spec.approvals.push_back(Approval{"carol", Decision::kDeny, "", "", "", ""});
  sign("bob");
  auto d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kPending);
  sign("carol", Decision::kDeny, "not this week");
  d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kDenied);
  EXPECT_EQ(d.event, "RequestDenied");
  EXPECT_EQ(d.message, "denied by carol: not this week");
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "Denied"));
  EXPECT_EQ(verdictFor(request_, d.tally).validApprovals, 0);
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "Stalled"));  // kstatus: Failed
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "Reconciling"));
  // Terminal: nothing changes afterwards.
  request_.status = d.status;
  EXPECT_EQ(run().status, d.status);
}

// The policy minimum for the purpose raises the key's requiredApprovals.
TEST_F(ActivationDecideTest, RequiredIsMaxOfKeyAndPolicy) {
  policy_.minApprovals.perPurpose[Purpose::kSign] = 3;
  sign("bob");
  sign("carol");
  auto d = run();
  EXPECT_EQ(d.status.approvalsRequired, 3);
  EXPECT_EQ(d.status.phase, RequestPhase::kPending);
}

// Undecided within the key's preActiveTTL -> Expired; key expired -> Expired; missing or Failed key -> Failed.
TEST_F(ActivationDecideTest, ExpiredAndFailed) {
  auto d = run(gen::t0() + std::chrono::hours(168));
  EXPECT_EQ(d.status.phase, RequestPhase::kExpired);
  EXPECT_EQ(d.event, "RequestExpired");

  key_.status.state = KeyState::kExpired;
  EXPECT_EQ(run().status.phase, RequestPhase::kExpired);

  d = run(gen::t0(), /*withKey=*/false);
  EXPECT_EQ(d.status.phase, RequestPhase::kFailed);
  EXPECT_EQ(findCondition(d.status.conditions, "Approved")->reason, "KeyNotFound");

  key_.status.state = KeyState::kFailed;
  EXPECT_EQ(run().status.phase, RequestPhase::kFailed);
  // Failed is not sticky: the key showing up again puts the request back to Pending.
  key_.status.state = KeyState::kPreActive;
  request_.status = d.status;
  EXPECT_EQ(run().status.phase, RequestPhase::kPending);
}

// Activated is mirrored from the key's status.activatedBy (the key reconciler's transition).
TEST_F(ActivationDecideTest, MirrorsActivationRecordedOnTheKey) {
  key_.status.versions[0].state = KeyState::kActive;
  key_.status.versions[0].activatedAt = gen::t0();
  key_.status.state = KeyState::kActive;
  key_.status.activatedBy = ActivatedBy{"activate", {"bob", "carol"}};
  request_.status.phase = RequestPhase::kApproved;
  auto d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kActivated);
  EXPECT_EQ(d.status.activatedAt, gen::t0());
  EXPECT_EQ(d.status.approvals, "2/2");
}

// Security: an approval activates once. The key's activatedBy moved on to another request
// (a rotation) after this one's Activated patch was lost: the request is spent, Failed with
// ApprovalSpent (the key reconciler ignores it: lifecycle_test AnApprovalIsSpent...). A request
// made after the version's last activation (a re-activation) is counted as usual.
TEST_F(ActivationDecideTest, ARequestMadeBeforeItsVersionsLastActivationIsSpent) {
  request_.spec.keyRef.version = 1;
  sign("bob");
  sign("carol");
  key_.status.versions[0].state = KeyState::kDeactivated;
  key_.status.versions[0].activatedAt = gen::t0() + std::chrono::minutes(1);
  key_.status.state = KeyState::kDeactivated;
  key_.status.activatedBy = ActivatedBy{"rotation-request", {"bob", "carol"}};
  request_.status.phase = RequestPhase::kApproved;
  auto d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kFailed);
  EXPECT_EQ(d.event, "RequestFailed");
  EXPECT_EQ(findCondition(d.status.conditions, "Approved")->reason, "ApprovalSpent");
  EXPECT_NE(d.message.find("an approval activates once"), std::string::npos) << d.message;

  request_.metadata.creationTimestamp = gen::t0() + std::chrono::minutes(2);
  request_.status = {};
  d = run();
  EXPECT_EQ(d.status.phase, RequestPhase::kApproved) << findCondition(d.status.conditions, "Approved")->message;
}

// Verdicts: what the key reconciler counts equals what the request reconciler reports.
TEST_F(ActivationDecideTest, VerdictsMatchTheTally) {
  sign("bob");
  request_.spec.approvals.push_back(Approval{"mallory", Decision::kApprove, "", "", "", ""});
  sign("carol");
  auto t = tallyApprovals(request_, key_, bindings_, policy_, signer_, gen::t0());
  auto v = verdictFor(request_, t);
  EXPECT_EQ(v.request, "activate");
  EXPECT_EQ(v.validApprovals, 2);
  EXPECT_EQ(v.approvers, (std::vector<std::string>{"bob", "carol"}));
  EXPECT_EQ(describeIgnored(t.ignored), "1 ignored: not signed (mallory)");
}

// kstatus / Argo CD: Ready is False with the phase as reason (and what it waits for) until the
// key version is active, then True; also on the terminal Activated phase set by the key's
// reconciler.
TEST_F(ActivationDecideTest, ReadyIsTrueOnlyOnceTheKeyVersionIsActive) {
  auto ready = [](const RequestDecision& d) {
    const Condition* c = findCondition(d.status.conditions, "Ready");
    return c ? c->status + "/" + c->reason + ": " + c->message : std::string("absent");
  };
  auto d = run();
  EXPECT_EQ(ready(d), "False/Pending: waiting for approvals (0/2)");
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "Reconciling"));  // kstatus: InProgress
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "Stalled"));
  sign("bob");
  sign("carol");
  d = run();
  EXPECT_EQ(ready(d), "False/Approved: approved; waiting for the operator to activate the key version");
  request_.status = d.status;
  request_.status.phase = RequestPhase::kActivated;  // the key reconciler's patch
  d = run();
  EXPECT_EQ(ready(d), "True/Activated: the key version this request asked for is active");
  EXPECT_EQ(findCondition(d.status.conditions, "Ready")->observedGeneration, request_.metadata.generation);
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "Reconciling"));  // kstatus: Current
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "Stalled"));
  EXPECT_EQ(run(gen::t0(), false).status.conditions.empty(), false);
  EXPECT_EQ(ready(run(gen::t0() + std::chrono::hours(1), false)), "True/Activated: the key version this request asked for is active")
      << "a terminal phase keeps its Ready";
}

// The key reconciler patched Activated before this reconciler counted the last approval: the
// count follows the key's record (never "Activated 1/2").
TEST_F(ActivationDecideTest, ActivatedBeforeTheLastCountTakesTheKeysRecord) {
  sign("bob");
  auto d = run();
  ASSERT_EQ(d.status.approvals, "1/2");
  request_.status = d.status;
  request_.status.phase = RequestPhase::kActivated;  // the key reconciler's patch
  key_.status.activatedBy = ActivatedBy{"activate", {"bob", "carol"}};
  d = run();
  EXPECT_EQ(d.status.approvals, "2/2");
  EXPECT_EQ(d.status.approvalsReceived, 2);
}

// Repeating the decision on its own output changes nothing (status written once).
TEST_F(ActivationDecideTest, Idempotent) {
  sign("bob");
  auto d = run();
  request_.status = d.status;
  auto again = run();
  EXPECT_EQ(again.status, d.status);
  EXPECT_TRUE(again.event.empty());
}

}  // namespace
}  // namespace keygate::controllers

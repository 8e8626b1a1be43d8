// Mutating and validating rules, each with an allow and a deny case and the denial text.

#include <gmock/gmock.h>

#include "fixture.h"
#include "webhook/mutators.h"
#include "webhook/validators.h"

namespace keygate::webhook::testing {
namespace {

using ::testing::HasSubstr;

class RulesTest : public WebhookFixture {};

// ---- KeyActivationRequest: the approval flow of issue 4 ---------------------------------

// alice requests; alice's own approval, dave's and bob's second are denied; bob and carol
// (by group) approve; the stored approvals carry stamps whose signatures verify.
TEST_F(RulesTest, ApprovalFlowAsInIssue4) {
  // CREATE: the mutating webhook sees no uid yet (12a) and overwrites a forged requester.
  auto created = storedRequest();
  created.metadata.uid.clear();
  created.spec.requester = "mallory";
  Json createJ = encode(created);
  auto m = mutate(review("KeyActivationRequest", "CREATE", createJ, Json(), who("alice")));
  ASSERT_TRUE(m.allowed) << m.message;
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_THAT(m.warnings[0], HasSubstr("\"mallory\" was replaced by \"alice\""));
  Json patched = applyPatch(createJ, m);
  EXPECT_EQ(patched["spec"]["requester"], "alice");
  patched["metadata"]["uid"] = "kar-uid-1";  // the validating webhook sees the uid
  auto v = validate(review("KeyActivationRequest", "CREATE", patched, Json(), who("alice")));
  ASSERT_TRUE(v.allowed) << v.message;

  auto current = *decodeKeyActivationRequest(patched);

  auto alice = approve(current, "alice");
  EXPECT_FALSE(alice.allowed);
  EXPECT_EQ(alice.code, 403);
  EXPECT_EQ(alice.message,
            "alice cannot approve: alice is the requester of this activation request; segregation of duties "
            "requires a different approver");

  auto dave = approve(current, "dave");
  EXPECT_FALSE(dave.allowed);
  EXPECT_THAT(dave.message, HasSubstr("dave cannot approve key model-weights: dave holds no current KeyApprover "
                                      "KeyRoleBinding in namespace tenant-a"));

  auto bob = approve(current, "bob");
  ASSERT_TRUE(bob.allowed) << bob.message;
  ASSERT_EQ(current.spec.approvals.size(), 1u);

  auto bobAgain = approve(current, "bob");
  EXPECT_FALSE(bobAgain.allowed);
  EXPECT_THAT(bobAgain.message, HasSubstr("bob already recorded a decision on this request (spec.approvals[0])"));

  auto carol = approve(current, "carol", Decision::kApprove, {"security-officers", "system:authenticated"});
  ASSERT_TRUE(carol.allowed) << carol.message;
  ASSERT_EQ(current.spec.approvals.size(), 2u);

  auto key = modelWeights();
  for (const auto& a : current.spec.approvals) {
    EXPECT_EQ(a.time, "2027-01-15T08:00:00Z");
    EXPECT_EQ(a.comment, "looks good");
    EXPECT_EQ(a.specHash, computeSpecHash(current.spec, key.spec));
    EXPECT_EQ(checkApproval(signer_, current, key, a), ApprovalCheck::kValid) << a.approver;
  }
  EXPECT_EQ(current.spec.approvals[0].approver, "bob");
  EXPECT_EQ(current.spec.approvals[1].approver, "carol");
  // bob holds the role as a User subject; carol through the security-officers group, which is
  // recorded (and signed) so the operator can re-check it; her other groups are not.
  EXPECT_TRUE(current.spec.approvals[0].approverGroups.empty());
  EXPECT_EQ(current.spec.approvals[1].approverGroups, std::vector<std::string>{"security-officers"});
}

// The mutating webhook stamps approver/time/specHash/signature over whatever the client sent,
// and the patch touches only the new entry.
TEST_F(RulesTest, MutateStampsOnlyNewApprovals) {
  auto oldR = storedRequest();
  oldR.spec.approvals.push_back(Approval{"bob", Decision::kApprove, "", "2027-01-01T00:00:00Z", "sha256:x", "sig"});
  auto newR = oldR;
  newR.spec.approvals.push_back(Approval{"not-me", Decision::kDeny, "no", "1999-01-01T00:00:00Z", "sha256:forged", "forged"});
  auto m = mutate(review("KeyActivationRequest", "UPDATE", encode(newR), encode(oldR), who("carol")));
  ASSERT_TRUE(m.allowed);
  for (const auto& op : m.patch) EXPECT_THAT(op["path"].get<std::string>(), HasSubstr("/spec/approvals/1/"));
  Json out = applyPatch(encode(newR), m);
  auto a = out["spec"]["approvals"][1];
  EXPECT_EQ(a["approver"], "carol");
  EXPECT_EQ(a["decision"], "Deny");
  EXPECT_EQ(a["comment"], "no");
  EXPECT_EQ(a["time"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(a["specHash"], computeSpecHash(newR.spec, modelWeights().spec));
  SignedFields f{"kar-uid-1", "uid-model-weights", a["specHash"], "carol", "Deny", "2027-01-15T08:00:00Z", {}};
  EXPECT_TRUE(signer_.verify(f, a["signature"].get<std::string>()));
  EXPECT_EQ(out["spec"]["approvals"][0], encode(oldR)["spec"]["approvals"][0]);
  EXPECT_THAT(m.warnings.at(0), HasSubstr("\"not-me\" was replaced by \"carol\""));

  // approverGroups a client sends are not kept: carol (no group grant here) gets none.
  auto claimed = oldR;
  Approval c{"carol", Decision::kApprove, "", "", "", "", {"platform-admins"}};
  claimed.spec.approvals.push_back(c);
  m = mutate(review("KeyActivationRequest", "UPDATE", encode(claimed), encode(oldR), who("carol")));
  ASSERT_TRUE(m.allowed);
  out = applyPatch(encode(claimed), m);
  EXPECT_FALSE(out["spec"]["approvals"][1].contains("approverGroups")) << out.dump();
  EXPECT_THAT(m.warnings.at(0), HasSubstr("approverGroups is set by keygate"));
  // ...and with a group grant they are replaced by exactly the granting group.
  m = mutate(review("KeyActivationRequest", "UPDATE", encode(claimed), encode(oldR),
                    who("carol", {"security-officers", "system:authenticated"})));
  ASSERT_TRUE(m.allowed);
  out = applyPatch(encode(claimed), m);
  EXPECT_EQ(out["spec"]["approvals"][1]["approverGroups"], Json({"security-officers"})) << out.dump();
}

// approverGroups of the wrong shape: the mutator leaves the body alone and the validator
// refuses it with a message naming the field; neither crashes.
TEST_F(RulesTest, MalformedApproverGroupsAreRefused) {
  auto oldR = storedRequest();
  Json bad = encode(oldR);
  bad["spec"]["approvals"] = Json::array({{{"approver", "carol"}, {"decision", "Approve"}, {"approverGroups", "admins"}}});
  auto m = mutate(review("KeyActivationRequest", "UPDATE", bad, encode(oldR), who("carol")));
  EXPECT_TRUE(m.allowed);
  EXPECT_TRUE(m.patch.empty() || m.patch.is_null()) << m.patch.dump();
  auto v = validate(review("KeyActivationRequest", "UPDATE", bad, encode(oldR), who("carol")));
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.code, 400);
  EXPECT_THAT(v.message, HasSubstr("approverGroups")) << v.message;
}

// A Deny follows the same identity and role rules as an Approve.
TEST_F(RulesTest, DenyDecisionNeedsTheApproverRole) {
  auto current = storedRequest();
  auto dave = approve(current, "dave", Decision::kDeny);
  EXPECT_FALSE(dave.allowed);
  EXPECT_THAT(dave.message, HasSubstr("dave cannot deny key model-weights"));
  auto bob = approve(current, "bob", Decision::kDeny);
  EXPECT_TRUE(bob.allowed) << bob.message;
}

// The key's creator may not approve unless policy allows it.
TEST_F(RulesTest, CreatorMayNotApprove) {
  auto current = storedRequest();
  auto erin = approve(current, "erin");
  EXPECT_FALSE(erin.allowed);
  EXPECT_EQ(erin.message,
            "erin cannot approve: erin created key model-weights; segregation of duties requires an approver other "
            "than the key's creator");
  Policy p;
  p.segregationOfDuties.creatorMayApprove = true;
  AdmissionHandler lenient(roles_, signer_, p, clock_);
  KeyActivationRequest next = current;
  next.spec.approvals.push_back(Approval{"erin", Decision::kApprove, "", "", "", ""});
  auto m = lenient.review(Endpoint::kMutate, review("KeyActivationRequest", "UPDATE", encode(next), encode(current), who("erin")));
  auto v = lenient.review(Endpoint::kValidate, review("KeyActivationRequest", "UPDATE", applyPatch(encode(next), m),
                                                      encode(current), who("erin")));
  EXPECT_TRUE(v.allowed) << v.message;
}

// requesterMayApprove lets the requester approve their own request.
TEST_F(RulesTest, RequesterMayApproveWhenPolicyAllows) {
  Policy p;
  p.segregationOfDuties.requesterMayApprove = true;
  roles_.all[0].spec.subjects.push_back(user("alice"));
  AdmissionHandler lenient(roles_, signer_, p, clock_);
  auto current = storedRequest();
  KeyActivationRequest next = current;
  next.spec.approvals.push_back(Approval{"alice", Decision::kApprove, "", "", "", ""});
  auto m = lenient.review(Endpoint::kMutate, review("KeyActivationRequest", "UPDATE", encode(next), encode(current), who("alice")));
  auto v = lenient.review(Endpoint::kValidate, review("KeyActivationRequest", "UPDATE", applyPatch(encode(next), m),
                                                      encode(current), who("alice")));
  EXPECT_TRUE(v.allowed) << v.message;
}

// Subjects match by user name, group and service-account user name.
TEST_F(RulesTest, SubjectKinds) {
  auto r1 = storedRequest();
  EXPECT_TRUE(approve(r1, "system:serviceaccount:tenant-a:ci").allowed);
  auto r2 = storedRequest();
  EXPECT_FALSE(approve(r2, "system:serviceaccount:tenant-b:ci").allowed);
  auto r3 = storedRequest();
  EXPECT_TRUE(approve(r3, "zoe", Decision::kApprove, {"security-officers"}).allowed);
  auto r4 = storedRequest();
  EXPECT_FALSE(approve(r4, "zoe", Decision::kApprove, {"other"}).allowed);
}

// A binding past reviewBy grants nothing; the message says to renew it.
TEST_F(RulesTest, OverdueBindingGrantsNothing) {
  auto current = storedRequest();
  auto olivia = approve(current, "olivia");
  EXPECT_FALSE(olivia.allowed);
  EXPECT_THAT(olivia.message, HasSubstr("olivia's KeyApprover binding(s) old-approvers in namespace tenant-a are past "
                                        "their reviewBy date"));
  // Through the whole reviewBy day (UTC) the binding still grants.
  roles_.all[2].spec.reviewBy = "2027-01-15";
  auto again = storedRequest();
  EXPECT_TRUE(approve(again, "olivia").allowed);
  clock_.advance(std::chrono::hours(16));  // 2027-01-16T00:00:00Z
  auto later = storedRequest();
  EXPECT_FALSE(approve(later, "olivia").allowed);
}

// A binding with a keySelector grants only for keys whose labels match.
TEST_F(RulesTest, KeySelectorLimitsTheBinding) {
  auto current = storedRequest();
  auto sam = approve(current, "sam");
  EXPECT_FALSE(sam.allowed);
  EXPECT_THAT(sam.message, HasSubstr("do not select key model-weights"));
  auto k = modelWeights();
  k.metadata.labels["tier"] = "prod";
  roles_.put(k);
  auto again = storedRequest();
  EXPECT_TRUE(approve(again, "sam").allowed);
}

// Bindings of another namespace grant nothing here (tenant isolation).
TEST_F(RulesTest, BindingsDoNotCrossNamespaces) {
  roles_.all.push_back(binding("b-approvers", Role::kKeyApprover, {user("tim")}, "2099-12-31", "tenant-b"));
  auto current = storedRequest();
  auto tim = approve(current, "tim");
  EXPECT_FALSE(tim.allowed);
  EXPECT_THAT(tim.message, HasSubstr("tim holds no current KeyApprover KeyRoleBinding in namespace tenant-a"));
}

// An approval written without the mutating webhook (no or forged stamp) is denied.
TEST_F(RulesTest, UnstampedApprovalDenied) {
  auto oldR = storedRequest();
  auto newR = oldR;
  newR.spec.approvals.push_back(Approval{"bob", Decision::kApprove, "", "2027-01-15T08:00:00Z", "sha256:abc", "hmac-sha256:AAAA"});
  auto v = validate(review("KeyActivationRequest", "UPDATE", encode(newR), encode(oldR), who("bob")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.approvals[0] is not stamped by keygate"));
  // Signed by another key: also refused.
  ApprovalSigner other(std::string(32, 'x'));
  auto& a = newR.spec.approvals[0];
  a.specHash = computeSpecHash(newR.spec, modelWeights().spec);
  a.signature = other.sign({"kar-uid-1", "uid-model-weights", a.specHash, "bob", "Approve", a.time});
  v = validate(review("KeyActivationRequest", "UPDATE", encode(newR), encode(oldR), who("bob")));
  EXPECT_FALSE(v.allowed);
  a.signature = signer_.sign({"kar-uid-1", "uid-model-weights", a.specHash, "bob", "Approve", a.time});
  v = validate(review("KeyActivationRequest", "UPDATE", encode(newR), encode(oldR), who("bob")));
  EXPECT_TRUE(v.allowed) << v.message;
  // An approver name that is not the updating user: the mutating webhook did not run.
  v = validate(review("KeyActivationRequest", "UPDATE", encode(newR), encode(oldR), who("carol", {"security-officers"})));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.approvals[0].approver must be the updating user \"carol\", got \"bob\""));
}

// Approvals are append-only: an edit or a removal is denied; two at once too.
TEST_F(RulesTest, ApprovalsAppendOnly) {
  auto current = storedRequest();
  ASSERT_TRUE(approve(current, "bob").allowed);
  auto edited = current;
  edited.spec.approvals[0].comment = "changed my mind";
  auto v = updateRequest(current, edited, who("bob"));
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.code, 422);
  EXPECT_THAT(v.message, HasSubstr("spec.approvals[0]: approvals are append-only: existing entries cannot be edited"));
  auto removed = current;
  removed.spec.approvals.clear();
  v = updateRequest(current, removed, who("bob"));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("entries cannot be removed"));
  auto two = current;
  two.spec.approvals.push_back(Approval{"carol", Decision::kApprove, "", "", "", ""});
  two.spec.approvals.push_back(Approval{"ci", Decision::kApprove, "", "", "", ""});
  v = updateRequest(current, two, who("carol", {"security-officers"}));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("add one approval per update"));
}

// requester and keyRef are immutable; keyRef must stay in the namespace; no approvals on create.
TEST_F(RulesTest, RequestFieldRules) {
  auto oldR = storedRequest();
  auto newR = oldR;
  newR.spec.requester = "bob";
  auto v = updateRequest(oldR, newR, who("bob"));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.requester: field is immutable"));

  newR = oldR;
  newR.spec.keyRef.name = "other-key";
  roles_.put(gen::key("other-key"));
  v = updateRequest(oldR, newR, who("bob"));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.keyRef: field is immutable"));

  auto cross = storedRequest();
  cross.spec.keyRef.namespace_ = "tenant-b";
  v = validate(review("KeyActivationRequest", "CREATE", encode(cross), Json(), who("alice")));
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.code, 422);
  EXPECT_THAT(v.message, HasSubstr("cross-namespace references are not allowed"));

  auto withApprovals = storedRequest();
  withApprovals.spec.approvals.push_back(Approval{"bob", Decision::kApprove, "", "", "", ""});
  v = validate(review("KeyActivationRequest", "CREATE", encode(withApprovals), Json(), who("alice")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.approvals must be empty when a request is created"));

  // The validating webhook refuses a requester the mutating webhook did not stamp.
  v = validate(review("KeyActivationRequest", "CREATE", encode(storedRequest()), Json(), who("bob")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.requester must be the creating user \"bob\", got \"alice\""));

  // Missing reason: the api/ validation message.
  auto noReason = storedRequest();
  noReason.spec.reason.clear();
  v = validate(review("KeyActivationRequest", "CREATE", encode(noReason), Json(), who("alice")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.reason: Required value"));
}

// A request for a key that does not exist (yet) is admitted with a warning; an approval for
// it cannot be signed and is refused with a retry hint.
TEST_F(RulesTest, MissingKey) {
  auto r = storedRequest();
  r.spec.keyRef.name = "not-there";
  auto v = validate(review("KeyActivationRequest", "CREATE", encode(r), Json(), who("alice")));
  EXPECT_TRUE(v.allowed);
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_THAT(v.warnings[0], HasSubstr("EncryptionKey tenant-a/not-there does not exist (yet)"));
  auto current = r;
  auto bob = approve(current, "bob");
  EXPECT_FALSE(bob.allowed);
  EXPECT_EQ(bob.code, 404);
  EXPECT_THAT(bob.message, HasSubstr("retry in a moment"));
}

// Decisions on a finished request are refused with what to do instead.
TEST_F(RulesTest, FinishedRequestTakesNoMoreDecisions) {
  auto current = storedRequest();
  current.status.phase = RequestPhase::kActivated;
  auto bob = approve(current, "bob");
  EXPECT_FALSE(bob.allowed);
  EXPECT_THAT(bob.message, HasSubstr("is already Activated; create a new KeyActivationRequest"));
}

// Editing the request's reason is allowed (it voids earlier approvals through specHash).
TEST_F(RulesTest, SpecEditVoidsEarlierApprovals) {
  auto current = storedRequest();
  ASSERT_TRUE(approve(current, "bob").allowed);
  auto edited = current;
  edited.spec.reason = "something else";
  Json stored;
  auto v = updateRequest(current, edited, who("bob"), &stored);
  ASSERT_TRUE(v.allowed) << v.message;
  auto after = *decodeKeyActivationRequest(stored);
  EXPECT_EQ(checkApproval(signer_, after, modelWeights(), after.spec.approvals[0]), ApprovalCheck::kStaleSpecHash);
}

// ---- EncryptionKey ----------------------------------------------------------------------

// CREATE stamps keygate.dev/created-by, replacing a client value; the patch is well-formed
// with and without existing annotations.
TEST_F(RulesTest, KeyCreateStampsCreator) {
  auto k = gen::key("k1");
  Json j = encode(k);
  j["metadata"].erase("annotations");
  auto m = mutate(review("EncryptionKey", "CREATE", j, Json(), who("frank")));
  ASSERT_TRUE(m.allowed);
  Json out = applyPatch(j, m);
  EXPECT_EQ(out["metadata"]["annotations"]["keygate.dev/created-by"], "frank");

  j["metadata"]["annotations"] = {{"keygate.dev/created-by", "somebody-else"}, {"team", "ml"}};
  m = mutate(review("EncryptionKey", "CREATE", j, Json(), who("frank")));
  out = applyPatch(j, m);
  EXPECT_EQ(m.patch[0]["path"], "/metadata/annotations/keygate.dev~1created-by");
  EXPECT_EQ(out["metadata"]["annotations"]["keygate.dev/created-by"], "frank");
  EXPECT_EQ(out["metadata"]["annotations"]["team"], "ml");
  EXPECT_THAT(m.warnings.at(0), HasSubstr("\"somebody-else\" was replaced by \"frank\""));

  auto v = validate(review("EncryptionKey", "CREATE", out, Json(), who("frank")));
  EXPECT_TRUE(v.allowed) << v.message;
  // Without the stamp (mutating webhook missing) the validating webhook refuses.
  v = validate(review("EncryptionKey", "CREATE", j, Json(), who("frank")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("must be the creating user \"frank\""));
}

// CREATE gives the key the operator's finalizer: beside the client's own finalizers, never
// twice; UPDATE adds nothing (the operator restores a finalizer a client strips).
TEST_F(RulesTest, KeyIsBornWithTheBackendCleanupFinalizer) {
  const std::string mine = "keygate.dev/backend-cleanup";
  Json j = encode(gen::key("k1"));
  j["metadata"].erase("finalizers");
  auto m = mutate(review("EncryptionKey", "CREATE", j, Json(), who("frank")));
  ASSERT_TRUE(m.allowed);
  EXPECT_EQ(applyPatch(j, m)["metadata"]["finalizers"], Json::array({mine}));

  j["metadata"]["finalizers"] = {"example.com/keep"};
  m = mutate(review("EncryptionKey", "CREATE", j, Json(), who("frank")));
  EXPECT_EQ(applyPatch(j, m)["metadata"]["finalizers"], Json({"example.com/keep", mine}));

  j["metadata"]["finalizers"] = {mine, "example.com/keep"};
  m = mutate(review("EncryptionKey", "CREATE", j, Json(), who("frank")));
  EXPECT_EQ(applyPatch(j, m)["metadata"]["finalizers"], Json({mine, "example.com/keep"}));

  Json stripped = j;
  stripped["metadata"]["finalizers"] = Json::array();
  m = mutate(review("EncryptionKey", "UPDATE", stripped, j, who("frank")));
  EXPECT_EQ(applyPatch(stripped, m)["metadata"]["finalizers"], Json::array());
  // A finalizers field of the wrong type is left to the schema: no patch that cannot apply.
  j["metadata"]["finalizers"] = "not-a-list";
  m = mutate(review("EncryptionKey", "CREATE", j, Json(), who("frank")));
  ASSERT_TRUE(m.allowed);
  EXPECT_EQ(applyPatch(j, m)["metadata"]["finalizers"], "not-a-list");
}

// api/ validation runs on create: purpose/algorithm fit, policy backends.
TEST_F(RulesTest, KeyCreateFieldRules) {
  auto k = gen::key("k1", gen::withPurpose(Purpose::kMAC), gen::withAlgorithm(Algorithm::kRsa3072),
                    gen::withAnnotation(std::string(kCreatedByAnnotation), "frank"));
  auto v = validate(review("EncryptionKey", "CREATE", encode(k), Json(), who("frank")));
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.code, 422);
  EXPECT_EQ(v.reason, "Invalid");
  EXPECT_THAT(v.message, HasSubstr("spec.algorithm: RSA-3072 cannot serve purpose MAC"));
}

// Only KeyAdministrators may set deactivate, compromised or scheduleDestruction.
TEST_F(RulesTest, KeyAdministratorOnlyFields) {
  auto oldK = modelWeights();
  struct Case {
    const char* what;
    std::function<void(EncryptionKey&)> change;
  } cases[] = {
      {"spec.deactivate", [](EncryptionKey& k) { k.spec.deactivate = true; }},
      {"spec.compromised", [](EncryptionKey& k) { k.spec.compromised = CompromisedSpec{"leaked"}; }},
      {"spec.scheduleDestruction", [](EncryptionKey& k) { k.spec.scheduleDestruction = true; }},
  };
  for (const auto& c : cases) {
    auto newK = oldK;
    c.change(newK);
    auto bob = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("bob")));
    EXPECT_FALSE(bob.allowed) << c.what;
    EXPECT_EQ(bob.code, 403);
    EXPECT_THAT(bob.message, HasSubstr(std::string("bob cannot change ") + c.what + " on key tenant-a/model-weights: "
                                       "only a KeyAdministrator may set"));
    auto frank = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("frank")));
    EXPECT_TRUE(frank.allowed) << c.what << ": " << frank.message;
    auto oscar = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("oscar")));
    EXPECT_FALSE(oscar.allowed);
    EXPECT_THAT(oscar.message, HasSubstr("past their reviewBy date"));
  }
  // Other edits need no administrator (RBAC decides who may update at all).
  auto newK = oldK;
  newK.spec.affectedSystems = {"billing"};
  EXPECT_TRUE(validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("bob"))).allowed);
}

// Scheduling the destruction of the key kube-apiserver encrypts Secrets with (or deleting it
// with destruction policy Destroy) is allowed but warned about: kubectl prints the warning.
TEST_F(RulesTest, DestroyingTheClustersKmsKeyWarns) {
  auto oldK = modelWeights();
  oldK.spec.deactivate = true;
  auto newK = oldK;
  newK.spec.scheduleDestruction = true;
  auto plain = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("frank")));
  EXPECT_TRUE(plain.allowed) << plain.message;
  EXPECT_TRUE(plain.warnings.empty());

  oldK.spec.affectedSystems = {"etcd", "kube-apiserver"};
  newK.spec.affectedSystems = oldK.spec.affectedSystems;
  auto v = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("frank")));
  EXPECT_TRUE(v.allowed) << v.message;
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_THAT(v.warnings[0], HasSubstr("encrypts kube-apiserver's Secrets"));
  EXPECT_THAT(v.warnings[0], HasSubstr("kubectl get secrets -A -o json | kubectl replace -f -"));
  // Already scheduled: no repeat on unrelated edits.
  auto again = newK;
  again.metadata.labels["x"] = "y";
  EXPECT_TRUE(validate(review("EncryptionKey", "UPDATE", encode(again), encode(newK), who("frank"))).warnings.empty());
  // Delete with policy Destroy warns; with Retain it does not.
  oldK.spec.destruction.policy = DestructionPolicy::kDestroy;
  auto del = validate(review("EncryptionKey", "DELETE", Json(), encode(oldK), who("frank")));
  EXPECT_TRUE(del.allowed) << del.message;
  ASSERT_EQ(del.warnings.size(), 1u);
  oldK.spec.destruction.policy = DestructionPolicy::kRetain;
  EXPECT_TRUE(validate(review("EncryptionKey", "DELETE", Json(), encode(oldK), who("frank"))).warnings.empty());
}

// Immutable key fields and the creator annotation.
TEST_F(RulesTest, KeyImmutableFields) {
  auto oldK = modelWeights();
  auto newK = oldK;
  newK.spec.algorithm = Algorithm::kEcP384;
  auto v = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("frank")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.algorithm: field is immutable"));

  newK = oldK;
  newK.spec.backend = "kmip";
  v = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("frank")));
  EXPECT_THAT(v.message, HasSubstr("spec.backend: field is immutable"));

  newK = oldK;
  newK.metadata.annotations[std::string(kCreatedByAnnotation)] = "frank";
  v = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("frank")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("metadata.annotations[keygate.dev/created-by]: field is immutable"));

  auto noCreator = oldK;
  noCreator.metadata.annotations.clear();
  newK = noCreator;
  newK.metadata.annotations[std::string(kCreatedByAnnotation)] = "frank";
  v = validate(review("EncryptionKey", "UPDATE", encode(newK), encode(noCreator), who("frank")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("stamped on create only"));
}

// A problem the stored key already has (policy changed since) does not block an administrator.
TEST_F(RulesTest, PreexistingErrorsDoNotBlockUpdates) {
  Policy p;
  p.knownBackends = {"kmip"};  // softhsm was removed from the config
  AdmissionHandler h(roles_, signer_, p, clock_);
  auto oldK = modelWeights();
  auto newK = oldK;
  newK.spec.deactivate = true;
  auto v = h.review(Endpoint::kValidate, review("EncryptionKey", "UPDATE", encode(newK), encode(oldK), who("frank")));
  EXPECT_TRUE(v.allowed) << v.message;
  // ... but a new key on that backend is refused.
  auto k = gen::key("k2", gen::withAnnotation(std::string(kCreatedByAnnotation), "frank"));
  v = h.review(Endpoint::kValidate, review("EncryptionKey", "CREATE", encode(k), Json(), who("frank")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("unknown backend \"softhsm\""));
}

// DELETE of an Active key whose destruction policy is Destroy is refused; other deletes pass.
TEST_F(RulesTest, KeyDelete) {
  auto active = gen::key("k", gen::withDestruction(DestructionPolicy::kDestroy), gen::withState(KeyState::kActive));
  auto v = validate(review("EncryptionKey", "DELETE", Json(), encode(active), who("frank")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("deactivate first"));
  auto retained = gen::key("k", gen::withState(KeyState::kActive));
  EXPECT_TRUE(validate(review("EncryptionKey", "DELETE", Json(), encode(retained), who("frank"))).allowed);
  EXPECT_TRUE(validate(review("KeyActivationRequest", "DELETE", Json(), encode(storedRequest()), who("x"))).allowed);
}

// ---- KeyRoleBinding ----------------------------------------------------------------------

// One subject may not hold KeyAdministrator and KeyApprover in a namespace.
TEST_F(RulesTest, BindingSegregationOfDuties) {
  auto b = binding("more-admins", Role::kKeyAdministrator, {user("bob")});
  auto v = validate(review("KeyRoleBinding", "CREATE", encode(b), Json(), who("admin")));
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.code, 403);
  EXPECT_THAT(v.message, HasSubstr("User bob would hold both KeyAdministrator and KeyApprover (binding approvers) in "
                                   "namespace tenant-a"));
  EXPECT_THAT(v.message, HasSubstr("remove the subject from one of the bindings"));

  auto ok = binding("more-admins", Role::kKeyAdministrator, {user("gina")});
  EXPECT_TRUE(validate(review("KeyRoleBinding", "CREATE", encode(ok), Json(), who("admin"))).allowed);

  // In another namespace the same subject may be an administrator.
  auto other = binding("admins", Role::kKeyAdministrator, {user("bob")}, "2099-12-31", "tenant-b");
  auto r = review("KeyRoleBinding", "CREATE", encode(other), Json(), who("admin"));
  r.namespace_ = "tenant-b";
  EXPECT_TRUE(validate(r).allowed);

  // UPDATE adding frank (administrator) to the approvers binding.
  auto oldB = roles_.all[0];
  auto newB = oldB;
  newB.spec.subjects.push_back(user("frank"));
  v = validate(review("KeyRoleBinding", "UPDATE", encode(newB), encode(oldB), who("admin")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("User frank would hold both KeyApprover and KeyAdministrator (binding admins)"));
}

// api/ validation of bindings (reviewBy format, subjects).
TEST_F(RulesTest, BindingFieldRules) {
  auto b = binding("x", Role::kKeyUser, {user("bob")}, "next year");
  auto v = validate(review("KeyRoleBinding", "CREATE", encode(b), Json(), who("admin")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("spec.reviewBy: invalid date \"next year\" (use YYYY-MM-DD)"));
  auto sa = binding("x", Role::kKeyUser, {serviceAccount("tenant-b", "ci")});
  v = validate(review("KeyRoleBinding", "CREATE", encode(sa), Json(), who("admin")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr("cross-namespace references are not allowed"));
}

// ---- what is not checked ----------------------------------------------------------------

// /status writes (the operator's service account) are allowed without spec rules.
TEST_F(RulesTest, StatusSubresourceAllowed) {
  auto r = storedRequest();
  r.spec.requester = "someone-else";
  auto req = review("KeyActivationRequest", "UPDATE", encode(r), encode(storedRequest()),
                    who("system:serviceaccount:keygate-system:keygate"), "status");
  EXPECT_TRUE(mutate(req).allowed);
  EXPECT_TRUE(mutate(req).patch.is_null());
  EXPECT_TRUE(validate(req).allowed);
}

// CONNECT and DELETE of requests/bindings are allowed.
TEST_F(RulesTest, ConnectAndDeleteAllowed) {
  EXPECT_TRUE(validate(review("KeyRoleBinding", "DELETE", Json(), encode(roles_.all[0]), who("admin"))).allowed);
  EXPECT_TRUE(validate(review("KeyRoleBinding", "CONNECT", Json(), Json(), who("admin"))).allowed);
  EXPECT_TRUE(mutate(review("EncryptionKey", "DELETE", Json(), encode(modelWeights()), who("admin"))).allowed);
}

}  // namespace
}  // namespace keygate::webhook::testing

// Issue 4 end to end: real bearer-token identities, the real webhook over TLS, the
// KeyActivationRequest / KeyRoleBinding / EncryptionKey controllers and SoftHSM2.
#include <gmock/gmock.h>

#include "approval_fixture.h"

namespace keygate::controllers::testing {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using backends::testing::Op;
using backends::testing::Prober;

class ActivationTest : public ApprovalFixture {
 protected:
  void SetUp() override {
    ApprovalFixture::SetUp();
    if (HasFatalFailure()) return;
    startOperator();
    binding("approvers", "KeyApprover", {"bob", "carol"});
    // The approvers' RBAC comes from the KeyRoleBinding controller.
    waitFor(res::roleBindings(), "keygate-approvers", [](const Json&) { return true; });
  }
  std::optional<std::pair<v1::KeyActivationRequest, v1::EncryptionKey>> decodeRequestAndKey(const std::string& request,
                                                                                           const std::string& key) {
    auto r = admin_->get(res::keyActivationRequests(), "tenant-a", request);
    auto k = admin_->get(res::encryptionKeys(), "tenant-a", key);
    if (!r.ok() || !k.ok()) return std::nullopt;
    auto dr = v1::decodeKeyActivationRequest(*r);
    auto dk = v1::decodeEncryptionKey(*k);
    if (!dr.ok() || !dk.ok()) return std::nullopt;
    return std::pair{std::move(*dr), std::move(*dk)};
  }
  std::string keyState(const std::string& name) {
    auto k = admin_->get(res::encryptionKeys(), "tenant-a", name);
    return k.ok() ? getString(*k, "status.state") : "";
  }
};

// alice requests a 2-approval Sign key; alice's own approval and dave's are denied; bob
// approves -> still Pending; bob again is denied; carol approves -> the key is Active and
// signs in the HSM; the audit line and the Events carry alice, bob, carol, the change
// reference and the affected systems.
TEST_F(ActivationTest, TwoApprovalFlowActivatesAndAudits) {
  Json key = createKey("model-weights", {{"requiredApprovals", 2}});
  ASSERT_EQ(getString(key, "status.state"), "PreActive") << key.dump();
  auto created = createRequest("activate-model-weights", "model-weights");
  ASSERT_TRUE(created.ok()) << created.error().toString();
  EXPECT_EQ((*created)["spec"]["requester"], "alice");
  Json req = waitFor(res::keyActivationRequests(), "activate-model-weights",
                     [](const Json& r) { return getString(r, "status.approvals") == "0/2"; });
  EXPECT_EQ(getString(req, "status.phase"), "Pending") << req.dump();

  auto alice = decide("activate-model-weights", "alice");
  ASSERT_FALSE(alice.ok());
  EXPECT_THAT(alice.error().message, HasSubstr("alice is the requester of this activation request"));
  auto dave = decide("activate-model-weights", "dave");
  ASSERT_FALSE(dave.ok());
  EXPECT_THAT(dave.error().message, HasSubstr("dave holds no current KeyApprover KeyRoleBinding"));

  auto bob = decide("activate-model-weights", "bob");
  ASSERT_TRUE(bob.ok()) << bob.error().toString();
  req = waitFor(res::keyActivationRequests(), "activate-model-weights",
                [](const Json& r) { return getString(r, "status.approvals") == "1/2"; });
  EXPECT_EQ(getString(req, "status.phase"), "Pending") << req.dump();
  EXPECT_EQ(keyState("model-weights"), "PreActive");
  auto bobAgain = decide("activate-model-weights", "bob");
  ASSERT_FALSE(bobAgain.ok());
  // The CRD's CEL rule answers before the validating webhook (schema validation runs first on
  // a real API server); the webhook's own "already recorded a decision" check is unit-tested.
  EXPECT_THAT(bobAgain.error().message, HasSubstr("spec.approvals: one entry per approver"));

  auto carol = decide("activate-model-weights", "carol");
  ASSERT_TRUE(carol.ok()) << carol.error().toString();
  key = waitFor(res::encryptionKeys(), "model-weights",
                [](const Json& k) { return getString(k, "status.state") == "Active"; });
  ASSERT_EQ(getString(key, "status.state"), "Active") << key.dump();
  EXPECT_EQ(key["status"]["activatedBy"]["request"], "activate-model-weights");
  EXPECT_EQ(key["status"]["activatedBy"]["approvers"], Json({"bob", "carol"}));
  req = waitPhase("activate-model-weights", "Activated");
  EXPECT_EQ(getString(req, "status.phase"), "Activated") << req.dump();
  EXPECT_FALSE(getString(req, "status.activatedAt").empty());

  // The key signs in the HSM.
  auto& pk = *static_cast<backends::pkcs11::Pkcs11Backend*>(backend_);
  {
    auto session = backends::testing::openTenantSession(pk, "tenant-a");
    Prober probe(*session, backends::Algorithm::kEcP256, getString(key["status"]["versions"][0], "backendKeyId"));
    EXPECT_EQ(probe.run(Op::kSign), CKR_OK);
  }

  // Audit: the decision and the activation, with who and why.
  // (written right after the status writes: wait for it rather than race it)
  std::string activated, approved;
  keygate::testing::waitUntil([&] {
    for (const auto& l : op_->auditLines()) {
      if (l.find("\"event\":\"KeyActivated\"") != std::string::npos) activated = l;
      if (l.find("\"event\":\"ApprovalReceived\"") != std::string::npos) approved = l;
    }
    return !activated.empty() && !approved.empty();
  });
  EXPECT_THAT(activated, AllOf(HasSubstr("\"initiator\":\"alice\""), HasSubstr("\"approvers\":[\"bob\",\"carol\"]"),
                               HasSubstr("\"changeReference\":\"CHG-1234\""),
                               HasSubstr("\"affectedSystems\":[\"inference-gateway\",\"model-store\"]"),
                               HasSubstr("\"request\":\"activate-model-weights\"")));
  EXPECT_THAT(approved, AllOf(HasSubstr("\"initiator\":\"alice\""), HasSubstr("\"approvers\":[\"bob\",\"carol\"]"),
                              HasSubstr("CHG-1234")));
  // Events on both objects.
  std::vector<std::string> events;
  keygate::testing::waitUntil([&] {
    events = eventMessages("KeyActivated");
    return events.size() >= 2;
  });
  auto carries = AllOf(HasSubstr("requester alice"), HasSubstr("approvers bob, carol"), HasSubstr("change CHG-1234"),
                       HasSubstr("affected systems inference-gateway, model-store"));
  EXPECT_THAT(events, Contains(AllOf(HasSubstr("EncryptionKey/model-weights"), carries)));
  EXPECT_THAT(events, Contains(AllOf(HasSubstr("KeyActivationRequest/activate-model-weights"), carries)));
}

// A Deny from an approver -> Denied; the key stays PreActive.
TEST_F(ActivationTest, DenyLeavesKeyPreActive) {
  createKey("denied-key", {{"requiredApprovals", 1}});
  ASSERT_TRUE(createRequest("activate-denied", "denied-key").ok());
  auto carol = decide("activate-denied", "carol", "Deny", "not during the freeze");
  ASSERT_TRUE(carol.ok()) << carol.error().toString();
  Json req = waitPhase("activate-denied", "Denied");
  ASSERT_EQ(getString(req, "status.phase"), "Denied") << req.dump();
  EXPECT_EQ(condMessage(req, "Denied"), "True: denied by carol: not during the freeze");
  // A later approval cannot revive it: the webhook refuses it, and even a correctly signed
  // one written behind its back does not count (Denied is final).
  auto bob = decide("activate-denied", "bob");
  ASSERT_FALSE(bob.ok());
  EXPECT_THAT(bob.error().message, HasSubstr("already Denied"));
  auto stored = decodeRequestAndKey("activate-denied", "denied-key");
  ASSERT_TRUE(stored.has_value());
  Json raw = *admin_->get(res::keyActivationRequests(), "tenant-a", "activate-denied");
  v1::Approval a{"bob", v1::Decision::kApprove, "late", "2026-01-01T00:00:00Z",
                 v1::computeSpecHash(stored->first.spec, stored->second.spec), ""};
  a.signature = signer_->sign({stored->first.metadata.uid, stored->second.metadata.uid, a.specHash, "bob", "Approve", a.time});
  raw["spec"]["approvals"].push_back(
      {{"approver", "bob"}, {"decision", "Approve"}, {"comment", "late"}, {"time", a.time}, {"specHash", a.specHash},
       {"signature", a.signature}});
  ASSERT_TRUE(bypassWrite(res::keyActivationRequests(), raw).ok());
  op_->pokeRequest("tenant-a", "activate-denied");
  op_->poke("tenant-a", "denied-key");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(keyState("denied-key"), "PreActive");
  EXPECT_EQ(getString(*admin_->get(res::keyActivationRequests(), "tenant-a", "activate-denied"), "status.phase"), "Denied");
  EXPECT_TRUE(keygate::testing::waitUntil([&] {
    for (const auto& l : op_->auditLines())
      if (l.find("\"event\":\"RequestDenied\"") != std::string::npos && l.find("\"approvers\":[\"carol\"]") != std::string::npos)
        return true;
    return false;
  }));
}

// Approvals written while the webhook is bypassed (unsigned, or with a made-up signature)
// are ignored and reported; the key stays PreActive.
TEST_F(ActivationTest, BypassedApprovalsAreIgnored) {
  createKey("bypassed", {{"requiredApprovals", 1}});
  ASSERT_TRUE(createRequest("activate-bypassed", "bypassed").ok());
  Json req = waitFor(res::keyActivationRequests(), "activate-bypassed",
                     [](const Json& r) { return getString(r, "status.phase") == "Pending"; });
  req["spec"]["approvals"] = {{{"approver", "bob"}, {"decision", "Approve"}, {"time", "2026-01-01T00:00:00Z"}},
                              {{"approver", "carol"},
                               {"decision", "Approve"},
                               {"time", "2026-01-01T00:00:00Z"},
                               {"specHash", "sha256:00"},
                               {"signature", "hmac-sha256:AAAA"}}};
  ASSERT_TRUE(bypassWrite(res::keyActivationRequests(), req).ok());
  req = waitFor(res::keyActivationRequests(), "activate-bypassed",
                [](const Json& r) { return condMessage(r, "InvalidApprovals").rfind("True", 0) == 0; });
  EXPECT_EQ(condMessage(req, "InvalidApprovals"), "True: 2 ignored: not signed (bob); signature mismatch (carol)");
  EXPECT_EQ(getString(req, "status.phase"), "Pending");
  EXPECT_EQ(getString(req, "status.approvals"), "0/1");
  op_->poke("tenant-a", "bypassed");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(keyState("bypassed"), "PreActive");
}

// A valid approval goes stale when the request spec is changed behind the webhook's back:
// it is ignored ("spec changed after approval") and the key stays PreActive.
TEST_F(ActivationTest, StaleSpecHashIsIgnored) {
  createKey("stale", {{"requiredApprovals", 2}});
  ASSERT_TRUE(createRequest("activate-stale", "stale").ok());
  ASSERT_TRUE(decide("activate-stale", "bob").ok());
  Json req = waitFor(res::keyActivationRequests(), "activate-stale",
                     [](const Json& r) { return getString(r, "status.approvals") == "1/2"; });
  ASSERT_EQ(getString(req, "status.approvals"), "1/2") << req.dump();
  req["spec"]["changeReference"] = "CHG-6666";  // immutable through the webhook
  ASSERT_TRUE(bypassWrite(res::keyActivationRequests(), req).ok());
  req = waitFor(res::keyActivationRequests(), "activate-stale",
                [](const Json& r) { return condMessage(r, "InvalidApprovals").rfind("True", 0) == 0; });
  EXPECT_EQ(condMessage(req, "InvalidApprovals"), "True: 1 ignored: spec changed after approval (bob)");
  EXPECT_EQ(getString(req, "status.approvals"), "0/2");
  // carol's fresh approval is signed over the new spec: 1 of 2, still PreActive.
  ASSERT_TRUE(decide("activate-stale", "carol").ok());
  req = waitFor(res::keyActivationRequests(), "activate-stale", [](const Json& r) {
    return getString(r, "status.approvals") == "1/2";
  });
  EXPECT_EQ(getString(req, "status.approvals"), "1/2") << req.dump();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(keyState("stale"), "PreActive");
}

// notBefore in the future: the approved request activates the key when the injected clock
// reaches it, not before.
TEST_F(ActivationTest, NotBeforeWaitsForTheClock) {
  std::string notBefore = formatRfc3339(clock_.now() + std::chrono::hours(2));
  createKey("scheduled", {{"requiredApprovals", 1}, {"notBefore", notBefore}});
  ASSERT_TRUE(createRequest("activate-scheduled", "scheduled").ok());
  ASSERT_TRUE(decide("activate-scheduled", "bob").ok());
  Json req = waitPhase("activate-scheduled", "Approved");
  ASSERT_EQ(getString(req, "status.phase"), "Approved") << req.dump();
  Json key = waitFor(res::encryptionKeys(), "scheduled",
                     [](const Json& k) { return condMessage(k, "Activated").find("notBefore") != std::string::npos; });
  EXPECT_EQ(getString(key, "status.state"), "PreActive") << key.dump();
  clock_.advance(1h);
  op_->poke("tenant-a", "scheduled");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(keyState("scheduled"), "PreActive");
  clock_.advance(1h + 1s);
  op_->poke("tenant-a", "scheduled");
  key = waitFor(res::encryptionKeys(), "scheduled", [](const Json& k) { return getString(k, "status.state") == "Active"; });
  EXPECT_EQ(getString(key, "status.state"), "Active") << key.dump();
  EXPECT_EQ(getString(waitPhase("activate-scheduled", "Activated"), "status.phase"), "Activated");
}

// erin approves through the security-officers group: the webhook records the group in the
// signed approval; once that group's binding is gone the approval stops counting, even
// though another group binding (auditors) still exists in the namespace.
TEST_F(ActivationTest, GroupGrantedApprovalIsRecheckedThroughItsGroup) {
  auto groupBinding = [&](const std::string& name, const std::string& group) {
    Json b = {{"apiVersion", "keygate.dev/v1alpha1"},
              {"kind", "KeyRoleBinding"},
              {"metadata", {{"name", name}, {"namespace", "tenant-a"}}},
              {"spec", {{"role", "KeyApprover"}, {"subjects", {{{"kind", "Group"}, {"name", group}}}}, {"reviewBy", "2099-12-31"}}}};
    auto r = admin_->create(res::keyRoleBindings(), "tenant-a", b);
    ASSERT_TRUE(r.ok()) << r.error().toString();
    waitFor(res::roleBindings(), "keygate-" + name, [](const Json&) { return true; });
  };
  groupBinding("officers", "security-officers");
  groupBinding("auditors", "auditors");
  createKey("grouped", {{"requiredApprovals", 2}});
  ASSERT_TRUE(createRequest("activate-grouped", "grouped").ok());
  auto erin = decide("activate-grouped", "erin");
  ASSERT_TRUE(erin.ok()) << erin.error().toString();
  EXPECT_EQ((*erin)["spec"]["approvals"][0]["approverGroups"], Json({"security-officers"})) << erin->dump();
  Json req = waitFor(res::keyActivationRequests(), "activate-grouped",
                     [](const Json& r) { return getString(r, "status.approvals") == "1/2"; });
  ASSERT_EQ(getString(req, "status.approvals"), "1/2") << req.dump();

  ASSERT_TRUE(admin_->remove(res::keyRoleBindings(), "tenant-a", "officers").ok());
  op_->pokeRequest("tenant-a", "activate-grouped");
  req = waitFor(res::keyActivationRequests(), "activate-grouped",
                [](const Json& r) { return getString(r, "status.approvals") == "0/2"; });
  EXPECT_EQ(getString(req, "status.approvals"), "0/2") << req.dump();
  EXPECT_NE(condMessage(req, "InvalidApprovals").find("erin"), std::string::npos) << condMessage(req, "InvalidApprovals");
  ASSERT_TRUE(decide("activate-grouped", "bob").ok());
  req = waitFor(res::keyActivationRequests(), "activate-grouped",
                [](const Json& r) { return getString(r, "status.approvals") == "1/2"; });
  EXPECT_EQ(getString(req, "status.phase"), "Pending") << req.dump();
  op_->poke("tenant-a", "grouped");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(keyState("grouped"), "PreActive");
}

// rotation.requireApproval true: the version a rotation creates starts PreActive and goes
// through the same request -> webhook-signed approval -> activation path as the first one;
// on activation it supersedes version 1, which keeps only processing (verify) in the HSM.
TEST_F(ActivationTest, RotatedVersionNeedsItsOwnApproval) {
  Json key = createKey("rotating", {{"requiredApprovals", 1}}, {{"rotation", {{"period", "24h"}, {"requireApproval", true}}}});
  ASSERT_EQ(getString(key, "status.state"), "PreActive") << key.dump();
  ASSERT_TRUE(createRequest("activate-v1", "rotating").ok());
  ASSERT_TRUE(decide("activate-v1", "bob").ok());
  key = waitFor(res::encryptionKeys(), "rotating", [](const Json& k) { return getString(k, "status.state") == "Active"; });
  ASSERT_EQ(getString(key, "status.state"), "Active") << key.dump();
  waitPhase("activate-v1", "Activated");
  auto& pk = *static_cast<backends::pkcs11::Pkcs11Backend*>(backend_);
  auto v1Session = backends::testing::openTenantSession(pk, "tenant-a");
  Prober v1(*v1Session, backends::Algorithm::kEcP256, getString(key["status"]["versions"][0], "backendKeyId"));
  ASSERT_EQ(v1.run(Op::kSign), CKR_OK);  // keeps a signature to verify once v1 is superseded

  // The rotation period passes: version 2 is generated PreActive; version 1 stays Active.
  clock_.advance(24h + 1s);
  op_->poke("tenant-a", "rotating");
  key = waitFor(res::encryptionKeys(), "rotating", [](const Json& k) {
    const Json* v = findPath(k, "status.versions");
    return v && v->is_array() && v->size() == 2 && getString((*v)[1], "state") == "PreActive";
  });
  ASSERT_EQ(key["status"]["versions"].size(), 2u) << key.dump();
  EXPECT_EQ(getString(key["status"]["versions"][0], "state"), "Active");
  EXPECT_EQ(getString(key, "status.state"), "Active");
  const std::string v2Id = getString(key["status"]["versions"][1], "backendKeyId");
  {
    auto session = backends::testing::openTenantSession(pk, "tenant-a");
    EXPECT_EQ(Prober(*session, backends::Algorithm::kEcP256, v2Id).run(Op::kSign), CKR_KEY_FUNCTION_NOT_PERMITTED);
  }
  // No approval, no activation: the new version waits however often it is reconciled.
  op_->poke("tenant-a", "rotating");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(getString(waitFor(res::encryptionKeys(), "rotating", [](const Json&) { return true; })["status"]["versions"][1],
                      "state"),
            "PreActive");

  // A request without keyRef.version targets the newest PreActive version.
  ASSERT_TRUE(createRequest("activate-v2", "rotating").ok());
  auto alice = decide("activate-v2", "alice");
  EXPECT_FALSE(alice.ok()) << "the requester cannot approve a rotation either";
  ASSERT_TRUE(decide("activate-v2", "carol").ok());
  key = waitFor(res::encryptionKeys(), "rotating", [](const Json& k) {
    const Json* v = findPath(k, "status.versions");
    return v && v->is_array() && v->size() == 2 && getString((*v)[1], "state") == "Active";
  });
  ASSERT_EQ(getString(key["status"]["versions"][1], "state"), "Active") << key.dump();
  EXPECT_EQ(getString(key["status"]["versions"][0], "state"), "Deactivated");
  EXPECT_EQ(key["status"]["activatedBy"]["approvers"], Json({"carol"})) << key.dump();
  EXPECT_EQ(getString(waitPhase("activate-v2", "Activated"), "status.phase"), "Activated");
  {
    auto session = backends::testing::openTenantSession(pk, "tenant-a");
    Prober v2(*session, backends::Algorithm::kEcP256, v2Id);
    EXPECT_EQ(v2.run(Op::kSign), CKR_OK);
  }
  EXPECT_EQ(v1.run(Op::kVerify), CKR_OK) << "a superseded version still verifies";
  EXPECT_EQ(v1.run(Op::kSign), CKR_KEY_FUNCTION_NOT_PERMITTED);
  // Both activations are in the audit trail, each with its own approver.
  int activations = 0;
  keygate::testing::waitUntil([&] {
    activations = 0;
    for (const auto& l : op_->auditLines())
      if (l.find("\"event\":\"KeyActivated\"") != std::string::npos && l.find("rotating") != std::string::npos) ++activations;
    return activations == 2;
  });
  EXPECT_EQ(activations, 2);
}

}  // namespace
}  // namespace keygate::controllers::testing

// Security finding 5 (issue 16): approval bypasses through the spec.
//
// 1. rotation.requireApproval: false let a KeyAdministrator get every new version Active with
//    no approval, as often as hourly. Default policy: refused by the webhook, and ignored by
//    the reconciler when written around it (policy.allowUnapprovedRotation opens it).
// 2. activation.requiredApprovals could be lowered after a request existed, so fewer
//    approvals activated it. Now the bar is stamped on the request at creation
//    (keygate.dev/approvals-required, webhook-only) and can only rise.
// 3. spec.jurisdiction was optional and mutable. Now a namespace label
//    (keygate.dev/jurisdiction) gives it and the key cannot contradict it; once set it is
//    immutable (CRD rule, so the API server enforces it without the webhook); the policy can
//    require one.
#include <gmock/gmock.h>

#include "api/v1alpha1/defaults.h"
#include "api/v1alpha1/lifecycle.h"
#include "api/v1alpha1/validation.h"
#include "kube/client.h"
#include "kube/resource.h"
#include "support/test_api_server.h"
#include "unit/webhook/fixture.h"

namespace keygate::webhook::testing {
namespace {

using ::testing::HasSubstr;

class ApprovalBypassTest : public WebhookFixture {
 protected:
  // The full admission chain for a CREATE: mutate, apply the patch, validate.
  AdmissionResponse create(const std::string& kind, const Json& object, const UserInfo& u, Json* stored = nullptr) {
    auto m = mutate(review(kind, "CREATE", object, nullptr, u));
    if (!m.allowed) return m;
    Json patched = applyPatch(object, m);
    if (stored) *stored = patched;
    return validate(review(kind, "CREATE", patched, nullptr, u));
  }
  static bool activates(const Plan& p, int64_t version) {
    for (const auto& a : p.actions)
      if (a.type == ActionType::kActivateVersion && a.version == version) return true;
    return false;
  }
};

TEST_F(ApprovalBypassTest, RotationWithoutApprovalIsRefusedAndIgnoredUnderDefaultPolicy) {
  auto k = gen::key("rotating", gen::withPurpose(Purpose::kEncrypt), gen::withAlgorithm(Algorithm::kAes256),
                    gen::withRotation("1h", false));
  auto r = create("EncryptionKey", encode(k), who("frank"));
  EXPECT_FALSE(r.allowed);
  EXPECT_THAT(r.message, HasSubstr("spec.rotation.requireApproval"));
  EXPECT_THAT(r.message, HasSubstr("policy.allowUnapprovedRotation"));

  // Written around the webhook: version 2 of a rotated key does not activate on its own.
  const WallTime t = gen::t0();
  auto written = gen::key("rotating", gen::withPurpose(Purpose::kEncrypt), gen::withAlgorithm(Algorithm::kAes256),
                          gen::withRotation("1h", false), gen::withFinalizer(),
                          gen::withVersion(1, KeyState::kActive, t - std::chrono::hours(3), t - std::chrono::hours(2)),
                          gen::withVersion(2, KeyState::kPreActive, t - std::chrono::minutes(1)), gen::withCurrentVersion(1));
  BackendView up;
  up.versions[1] = {true, UsageState::kPurpose};
  up.versions[2] = {true, UsageState::kNone};
  EXPECT_FALSE(activates(decide(written, {}, Policy{}, up, t), 2)) << "version 2 became Active without approval";
  Policy open;
  open.allowUnapprovedRotation = true;
  EXPECT_TRUE(activates(decide(written, {}, open, up, t), 2)) << "the policy can still allow it";
}

TEST_F(ApprovalBypassTest, LoweringRequiredApprovalsAfterTheRequestDoesNotLowerItsBar) {
  // model-weights requires 2 approvals; alice asks for activation: the bar is stamped.
  auto req = storedRequest();
  req.metadata.uid.clear();
  Json stored;
  auto r = create("KeyActivationRequest", encode(req), who("alice"), &stored);
  ASSERT_TRUE(r.allowed) << r.message;
  auto decoded = decodeKeyActivationRequest(stored);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->metadata.annotations.at(std::string(kApprovalsRequiredAnnotation)), "2");

  // A KeyAdministrator lowers the key to 1 afterwards; the request still needs 2.
  EncryptionKey lowered = modelWeights();
  lowered.spec.activation.requiredApprovals = 1;
  Policy policy;
  EXPECT_EQ(effectiveRequiredApprovals(lowered.spec, policy), 1);
  EXPECT_EQ(requiredApprovalsFor(*decoded, lowered.spec, policy), 2);

  // The key reconciler with one valid approval on that request: no activation.
  KeyActivationRequest oneApproval = *decoded;
  oneApproval.metadata.name = "activate-model-weights";
  oneApproval.status.phase = RequestPhase::kApproved;
  oneApproval.status.approvalsReceived = 1;
  lowered.metadata.finalizers = {std::string(kBackendCleanupFinalizer)};
  lowered.status.versions.push_back(KeyVersionStatus{});
  lowered.status.versions[0].version = 1;
  lowered.status.versions[0].state = KeyState::kPreActive;
  lowered.status.versions[0].createdAt = gen::t0();
  BackendView up;
  up.versions[1] = {true, UsageState::kNone};
  EXPECT_FALSE(activates(decide(lowered, {oneApproval}, policy, up, gen::t0()), 1))
      << "one approval activated a request created when two were required";
  // Where the policy says so, the current spec decides (the old behaviour).
  policy.fixApprovalsAtRequest = false;
  EXPECT_TRUE(activates(decide(lowered, {oneApproval}, policy, up, gen::t0()), 1));

  // The stamp itself cannot be edited by clients.
  KeyActivationRequest edited = *decoded;
  edited.metadata.annotations[std::string(kApprovalsRequiredAnnotation)] = "1";
  auto v = validate(review("KeyActivationRequest", "UPDATE", encode(edited), stored, who("alice")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr(std::string(kApprovalsRequiredAnnotation)));
}

TEST_F(ApprovalBypassTest, JurisdictionComesFromTheNamespaceAndCannotBeContradicted) {
  roles_.jurisdictions["tenant-a"] = "EU";
  // No jurisdiction in the spec: the namespace's is filled in.
  auto k = gen::key("eu-key", gen::withPurpose(Purpose::kEncrypt), gen::withAlgorithm(Algorithm::kAes256));
  Json stored;
  auto ok = create("EncryptionKey", encode(k), who("frank"), &stored);
  ASSERT_TRUE(ok.allowed) << ok.message;
  EXPECT_EQ(getString(stored, "spec.jurisdiction"), "EU");
  // Another jurisdiction than the namespace's: refused.
  auto us = gen::key("us-key", gen::withPurpose(Purpose::kEncrypt), gen::withAlgorithm(Algorithm::kAes256),
                     gen::withJurisdiction("US"));
  auto denied = create("EncryptionKey", encode(us), who("frank"));
  EXPECT_FALSE(denied.allowed);
  EXPECT_THAT(denied.message, HasSubstr("namespace tenant-a is in jurisdiction \"EU\""));
  // Changing it later: refused (webhook), whatever the namespace says.
  Json changed = stored;
  changed["spec"]["jurisdiction"] = "US";
  roles_.jurisdictions.clear();
  auto upd = validate(review("EncryptionKey", "UPDATE", changed, stored, who("frank")));
  EXPECT_FALSE(upd.allowed);
  EXPECT_THAT(upd.message, HasSubstr("spec.jurisdiction"));

  // Required by policy: a key without one is refused, and not generated if written around.
  Policy strict;
  strict.requireJurisdiction = true;
  auto errs = validateCreate(k, strict);
  ASSERT_FALSE(errs.empty());
  EXPECT_THAT(joinErrors(errs), HasSubstr("spec.jurisdiction"));
  auto plan = decide(k, {}, strict, BackendView{}, gen::t0());
  for (const auto& a : plan.actions) EXPECT_NE(a.type, ActionType::kGenerateVersion);
  EXPECT_EQ(plan.status.state, KeyState::kFailed);
}

// The API server itself refuses a jurisdiction change (CRD x-kubernetes-validations), so a
// client whose request never reaches the webhook cannot move a key either.
TEST(JurisdictionCrdRuleTest, ApiServerRefusesChangingOrRemovingAJurisdiction) {
  auto s = keygate::testing::TestApiServer::start();
  ASSERT_TRUE(s.ok()) << s.error().toString();
  auto admin = (*s)->adminClient();
  const kube::Resource keys = kube::resources::encryptionKeys();
  auto created = admin->create(keys, "tenant-a",
                               {{"apiVersion", "keygate.dev/v1alpha1"},
                                {"kind", "EncryptionKey"},
                                {"metadata", {{"name", "k"}}},
                                {"spec",
                                 {{"purpose", "Encrypt"},
                                  {"algorithm", "AES-256"},
                                  {"backend", "softhsm"},
                                  {"jurisdiction", "EU"}}}});
  ASSERT_TRUE(created.ok()) << created.error().toString();
  auto change = admin->patch(keys, "tenant-a", "k", kube::PatchType::kMerge, R"({"spec":{"jurisdiction":"US"}})");
  ASSERT_FALSE(change.ok());
  EXPECT_THAT(change.error().message, HasSubstr("spec.jurisdiction: immutable once set"));
  auto remove = admin->patch(keys, "tenant-a", "k", kube::PatchType::kMerge, R"({"spec":{"jurisdiction":null}})");
  ASSERT_FALSE(remove.ok());
  EXPECT_THAT(remove.error().message, HasSubstr("spec.jurisdiction: immutable once set"));
  // Setting one where there was none is allowed.
  ASSERT_TRUE(admin->create(keys, "tenant-a",
                            {{"apiVersion", "keygate.dev/v1alpha1"},
                             {"kind", "EncryptionKey"},
                             {"metadata", {{"name", "k2"}}},
                             {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}})
                  .ok());
  auto set = admin->patch(keys, "tenant-a", "k2", kube::PatchType::kMerge, R"({"spec":{"jurisdiction":"EU"}})");
  EXPECT_TRUE(set.ok()) << set.error().toString();
}

}  // namespace
}  // namespace keygate::webhook::testing

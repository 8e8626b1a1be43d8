// The KeyRoleBinding reconciler's pure parts: the RBAC objects per role, drift detection,
// review dates and segregation-of-duties conflicts.

#include "controllers/role_binding/rbac.h"

#include <gtest/gtest.h>

#include "support/api_builders.h"

namespace keygate::controllers {
namespace {

using namespace keygate::api::v1alpha1;
namespace gen = keygate::testing::gen;

KeyRoleBinding approvers() {
  auto b = gen::binding("approvers", Role::kKeyApprover,
                        {gen::user("bob"), gen::group("security-officers"), gen::serviceAccount("ci", "")});
  b.metadata.uid = "krb-uid";
  return b;
}

// Exactly the verbs api.md gives each role.
TEST(RoleBindingRbacTest, VerbsPerRole) {
  auto verbs = [](Role r) { return rulesFor(r).dump(); };
  EXPECT_EQ(verbs(Role::kKeyAdministrator),
            R"([{"apiGroups":["keygate.dev"],"resources":["encryptionkeys"],"verbs":["create","update","patch","delete","get","list","watch"]}])");
  EXPECT_EQ(verbs(Role::kKeyApprover),
            R"([{"apiGroups":["keygate.dev"],"resources":["keyactivationrequests"],"verbs":["get","list","watch","update","patch"]},)"
            R"({"apiGroups":["keygate.dev"],"resources":["encryptionkeys","keyrolebindings"],"verbs":["get","list","watch"]}])");
  EXPECT_EQ(verbs(Role::kKeyUser), R"([{"apiGroups":["keygate.dev"],"resources":["encryptionkeys"],"verbs":["get"]}])");
  EXPECT_EQ(verbs(Role::kKeyAuditor),
            R"([{"apiGroups":["keygate.dev"],"resources":["encryptionkeys","keyactivationrequests","keyrolebindings"],"verbs":["get","list","watch"]},{"apiGroups":[""],"resources":["events"],"verbs":["get","list","watch"]}])");
  EXPECT_EQ(verbs(Role::kUnspecified), "[]");
}

// Names, owner reference (controller, blockOwnerDeletion), subjects in RBAC shape.
TEST(RoleBindingRbacTest, DesiredObjects) {
  Json role = desiredRole(approvers());
  EXPECT_EQ(role["metadata"]["name"], "keygate-approvers");
  EXPECT_EQ(role["metadata"]["namespace"], "tenant-a");
  const Json& owner = role["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["kind"], "KeyRoleBinding");
  EXPECT_EQ(owner["uid"], "krb-uid");
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(owner["blockOwnerDeletion"], true);
  Json rb = desiredRoleBinding(approvers());
  EXPECT_EQ(rb["roleRef"]["name"], "keygate-approvers");
  EXPECT_EQ(rb["subjects"].dump(),
            R"([{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"bob"},)"
            R"({"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"security-officers"},)"
            R"({"kind":"ServiceAccount","name":"ci","namespace":"tenant-a"}])");
}

// Server-added fields are not drift; edited rules, subjects or a lost owner reference are.
TEST(RoleBindingRbacTest, DriftDetection) {
  Json desired = desiredRoleBinding(approvers());
  Json live = desired;
  live["metadata"]["resourceVersion"] = "42";
  live["metadata"]["labels"]["extra"] = "kept";
  EXPECT_TRUE(rbacInSync(live, desired));
  Json edited = live;
  edited["subjects"].push_back({{"kind", "User"}, {"name", "mallory"}, {"apiGroup", "rbac.authorization.k8s.io"}});
  EXPECT_FALSE(rbacInSync(edited, desired));
  Json orphan = live;
  orphan["metadata"].erase("ownerReferences");
  EXPECT_FALSE(rbacInSync(orphan, desired));
  Json role = desiredRole(approvers());
  Json widened = role;
  widened["rules"][0]["verbs"].push_back("delete");
  EXPECT_FALSE(rbacInSync(widened, role));
}

// Before reviewBy: grants, requeue at the end of the reviewBy day; after: grants nothing.
TEST(RoleBindingRbacTest, ReviewBy) {
  auto b = approvers();
  auto d = decideBinding(b, {b}, gen::at("2027-06-30T12:00:00Z"));
  EXPECT_TRUE(d.grant);
  ASSERT_TRUE(d.requeueAfter.has_value());
  EXPECT_EQ(*d.requeueAfter, std::chrono::hours(12));
  EXPECT_EQ(d.reviewDue, gen::at("2027-07-01T00:00:00Z"));
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "ReviewOverdue"));
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "Ready"));
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "Stalled"));
  ASSERT_TRUE(d.status.rbac.has_value());
  EXPECT_EQ(d.status.rbac->roleBinding, "keygate-approvers");

  d = decideBinding(b, {b}, gen::at("2027-07-01T00:00:00Z"));
  EXPECT_FALSE(d.grant);
  EXPECT_FALSE(d.requeueAfter.has_value());
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "ReviewOverdue"));
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "Ready"));
  EXPECT_EQ(d.status.rbac->roleBinding, "");
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "Stalled"));  // kstatus: Failed until someone reviews it
  EXPECT_FALSE(conditionIsTrue(d.status.conditions, "Reconciling"));

  b.spec.reviewBy = "someday";
  d = decideBinding(b, {b}, gen::t0());
  EXPECT_FALSE(d.grant);
  EXPECT_EQ(findCondition(d.status.conditions, "Ready")->reason, "InvalidReviewBy");
}

// A subject both administrator and approver is flagged on both bindings, not on others.
TEST(RoleBindingRbacTest, SegregationConflict) {
  auto a = approvers();
  auto admins = gen::binding("admins", Role::kKeyAdministrator, {gen::user("bob")});
  auto users = gen::binding("users", Role::kKeyUser, {gen::user("bob")});
  std::vector<KeyRoleBinding> all{a, admins, users};
  auto d = decideBinding(a, all, gen::t0());
  EXPECT_TRUE(conditionIsTrue(d.status.conditions, "SegregationConflict"));
  EXPECT_EQ(findCondition(d.status.conditions, "SegregationConflict")->message,
            "User/bob holds KeyAdministrator (admins) and KeyApprover (approvers)");
  EXPECT_TRUE(conditionIsTrue(decideBinding(admins, all, gen::t0()).status.conditions, "SegregationConflict"));
  EXPECT_FALSE(conditionIsTrue(decideBinding(users, all, gen::t0()).status.conditions, "SegregationConflict"));
  // Status is stable when nothing changed.
  a.status = d.status;
  EXPECT_EQ(decideBinding(a, all, gen::t0()).status, d.status);
}

}  // namespace
}  // namespace keygate::controllers

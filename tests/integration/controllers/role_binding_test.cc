// The KeyRoleBinding controller against the test API server (with RBAC enforcement): the
// generated Role/RoleBinding, drift repair, and a binding past reviewBy that stops granting.
#include <gmock/gmock.h>

#include "approval_fixture.h"

namespace keygate::controllers::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class RoleBindingTest : public ApprovalFixture {};

bool exists(kube::Client& c, const kube::Resource& r, const std::string& name) {
  return c.get(r, "tenant-a", name).ok();
}

// Role + RoleBinding named keygate-<binding>, owned by the binding, with exactly the
// role's verbs; the RBAC really grants them (and nothing else) to the subjects; status.rbac.
TEST_F(RoleBindingTest, MaterializesRbacThatTheApiServerEnforces) {
  startOperator();
  Json b = binding("auditors", "KeyAuditor", {"erin"});
  Json rb = waitFor(res::roleBindings(), "keygate-auditors", [](const Json&) { return true; });
  ASSERT_EQ(getString(rb, "roleRef.name"), "keygate-auditors") << rb.dump();
  EXPECT_EQ(rb["subjects"][0]["name"], "erin");
  EXPECT_EQ(rb["metadata"]["ownerReferences"][0]["uid"], b["metadata"]["uid"]);
  EXPECT_EQ(rb["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(rb["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);
  Json role = waitFor(res::roles(), "keygate-auditors", [](const Json&) { return true; });
  EXPECT_EQ(role["rules"][1]["resources"], Json({"events"}));

  Json status = waitFor(res::keyRoleBindings(), "auditors",
                        [](const Json& o) { return getString(o, "status.rbac.roleBinding") == "keygate-auditors"; });
  EXPECT_EQ(getString(status, "status.rbac.role"), "keygate-auditors") << status.dump();
  EXPECT_EQ(condMessage(status, "ReviewOverdue").substr(0, 5), "False");

  auto erin = api_->clientFor("erin");
  EXPECT_TRUE(erin->list(res::encryptionKeys(), "tenant-a").ok());
  auto write = erin->create(res::keyRoleBindings(), "tenant-a", Json::object());
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.error().httpStatus, 403);
  EXPECT_FALSE(erin->list(res::encryptionKeys(), "tenant-b").ok());  // tenant-a only

  // Drift: a subject added by hand is removed again on the next reconcile.
  rb["subjects"].push_back({{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", "mallory"}});
  ASSERT_TRUE(admin_->update(res::roleBindings(), "tenant-a", rb).ok());
  op_->pokeBinding("tenant-a", "auditors");
  rb = waitFor(res::roleBindings(), "keygate-auditors", [](const Json& o) { return o["subjects"].size() == 1; });
  EXPECT_EQ(rb["subjects"].size(), 1u) << rb.dump();
  EXPECT_TRUE(op_->reviewDue().count("tenant-a/auditors"));
}

// A binding past reviewBy grants nothing: ReviewOverdue=True, its RoleBinding is deleted,
// and an approval its subject made while it was current stops counting.
TEST_F(RoleBindingTest, OverdueBindingStopsGrantingApproval) {
  startOperator();
  std::string tomorrow = formatRfc3339(clock_.now() + 24h).substr(0, 10);
  binding("approvers", "KeyApprover", {"bob", "carol"}, tomorrow);
  waitFor(res::roleBindings(), "keygate-approvers", [](const Json&) { return true; });
  ASSERT_TRUE(exists(*admin_, res::roleBindings(), "keygate-approvers"));

  createKey("reviewed", {{"requiredApprovals", 2}});
  ASSERT_TRUE(createRequest("activate-reviewed", "reviewed").ok());
  auto bob = decide("activate-reviewed", "bob");
  ASSERT_TRUE(bob.ok()) << bob.error().toString();
  Json req = waitFor(res::keyActivationRequests(), "activate-reviewed",
                     [](const Json& r) { return getString(r, "status.approvals") == "1/2"; });
  ASSERT_EQ(getString(req, "status.approvals"), "1/2") << req.dump();

  clock_.advance(72h);
  op_->pokeBinding("tenant-a", "approvers");
  ASSERT_TRUE(keygate::testing::waitUntil([&] { return !exists(*admin_, res::roleBindings(), "keygate-approvers"); }));
  EXPECT_TRUE(exists(*admin_, res::roles(), "keygate-approvers"));  // grants nothing without its binding
  Json b = waitFor(res::keyRoleBindings(), "approvers",
                   [](const Json& o) { return condMessage(o, "ReviewOverdue").rfind("True", 0) == 0; });
  EXPECT_THAT(condMessage(b, "ReviewOverdue"), HasSubstr("has passed: the binding grants nothing"));
  EXPECT_EQ(getString(b, "status.rbac.roleBinding"), "");

  // bob's RBAC is gone with the RoleBinding...
  EXPECT_FALSE(api_->clientFor("bob")->get(res::keyActivationRequests(), "tenant-a", "activate-reviewed").ok());
  // ...and his earlier approval no longer counts.
  op_->pokeRequest("tenant-a", "activate-reviewed");
  req = waitFor(res::keyActivationRequests(), "activate-reviewed",
                [](const Json& r) { return getString(r, "status.approvals") == "0/2"; });
  EXPECT_EQ(getString(req, "status.approvals"), "0/2") << req.dump();
  EXPECT_EQ(condMessage(req, "InvalidApprovals"), "True: 1 ignored: KeyApprover binding past reviewBy (bob)");
}

// Administrator and approver in one namespace: flagged on both bindings (written behind the
// webhook, which would deny the second binding).
TEST_F(RoleBindingTest, SegregationConflictIsFlagged) {
  startOperator();
  binding("approvers", "KeyApprover", {"bob"});
  Json admins = {{"apiVersion", "keygate.dev/v1alpha1"},
                 {"kind", "KeyRoleBinding"},
                 {"metadata", {{"name", "admins"}, {"namespace", "tenant-a"}}},
                 {"spec", {{"role", "KeyAdministrator"}, {"subjects", {{{"kind", "User"}, {"name", "bob"}}}},
                           {"reviewBy", "2099-12-31"}}}};
  ASSERT_TRUE(bypassWrite(res::keyRoleBindings(), admins).ok());
  for (const char* name : {"approvers", "admins"}) {
    Json o = waitFor(res::keyRoleBindings(), name,
                     [](const Json& x) { return condMessage(x, "SegregationConflict").rfind("True", 0) == 0; });
    EXPECT_EQ(condMessage(o, "SegregationConflict"),
              "True: User/bob holds KeyAdministrator (admins) and KeyApprover (approvers)")
        << name;
  }
}

}  // namespace
}  // namespace keygate::controllers::testing

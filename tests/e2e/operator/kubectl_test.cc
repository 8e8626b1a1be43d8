// People's tools against the operator binary: the real `kubectl` (plugin-free, as users run
// it) against the test API server, with the operator's webhook and deploy/'s RBAC.
//  - KeyApprovers approve with `kubectl patch --type=json` (append to /spec/approvals/-),
//    with a merge patch and with `kubectl edit` — the verbs the materialised Role grants.
//  - A namespace user holding only Kubernetes' built-in `edit` ClusterRole (which picks up
//    deploy/user-roles.yaml by aggregation) can read keys and request activation, but can
//    neither approve nor grant themselves KeyApprover.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "e2e/operator/kubectl_fixture.h"

namespace keygate {
namespace {

using namespace e2e;


TEST_F(KubectlE2E, ApproversApproveWithPatchMergePatchAndEdit) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  createApprovers({"bob", "carol", "dave"});
  createPreActiveKey("payments", 3);
  grant(*admin_, "tenant-a", "alice", {"get", "create"});

  // alice requests with kubectl create; the webhook stamps her as requester, approvals start empty.
  auto created = kubectl("alice", "create -f " + requestYaml("activate-payments", "payments"));
  ASSERT_EQ(created.rc, 0) << created.out;
  EXPECT_EQ(created.out, "keyactivationrequest.keygate.dev/activate-payments created\n");
  auto kar = admin_->get(kube::resources::keyActivationRequests(), "tenant-a", "activate-payments");
  ASSERT_TRUE(kar.ok());
  EXPECT_EQ(getString(*kar, "spec.requester"), "alice");
  EXPECT_EQ(approvals("activate-payments"), Json::array());

  // bob: JSON patch appending to the list (the approver is stamped from his identity).
  auto bob = kubectl("bob", R"(patch keyactivationrequest activate-payments --type=json -p '[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Approve","comment":"reviewed CHG-42"}}]')");
  ASSERT_EQ(bob.rc, 0) << bob.out << readAll(op.proc.log);
  EXPECT_NE(bob.out.find("keyactivationrequest.keygate.dev/activate-payments patched"), std::string::npos) << bob.out;
  Json list = approvals("activate-payments");
  ASSERT_EQ(list.size(), 1u) << list.dump();
  EXPECT_EQ(getString(list[0], "approver"), "bob");
  EXPECT_FALSE(getString(list[0], "signature").empty());

  // bob again: one decision per approver, shown as the webhook's reason.
  // (The CRD's rule answers before the validating webhook, as on a real API server.)
  auto again = kubectl("bob", R"(patch kar activate-payments --type=json -p '[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Approve"}}]')");
  EXPECT_NE(again.rc, 0);
  EXPECT_NE(again.out.find("spec.approvals: one entry per approver"), std::string::npos) << again.out;

  // carol: cannot rewrite bob's entry (append-only), then approves with a merge patch that
  // carries the whole list (what a merge patch of a list means).
  auto rewrite = kubectl("carol", R"(patch kar activate-payments --type=json -p '[{"op":"replace","path":"/spec/approvals/0/decision","value":"Deny"}]')");
  EXPECT_NE(rewrite.rc, 0);
  EXPECT_NE(rewrite.out.find("spec.approvals is append-only: existing entries cannot be edited or removed"), std::string::npos)
      << rewrite.out;
  // A comment added to bob's entry by carol is refused too (entries are never edited).
  auto comment = kubectl("carol", R"(patch kar activate-payments --type=json -p '[{"op":"add","path":"/spec/approvals/0/comment","value":"me too"}]')");
  EXPECT_NE(comment.rc, 0);
  EXPECT_NE(comment.out.find("append-only"), std::string::npos) << comment.out;
  Json merged = approvals("activate-payments");
  merged.push_back({{"decision", "Approve"}, {"comment", "ok"}});
  std::string patchFile = file("merge.json", Json({{"spec", {{"approvals", merged}}}}).dump());
  auto carol = kubectl("carol", "patch kar activate-payments --type=merge --patch-file " + patchFile);
  ASSERT_EQ(carol.rc, 0) << carol.out << readAll(op.proc.log);
  EXPECT_EQ(approvals("activate-payments").size(), 2u);

  // dave: kubectl edit, with an editor that appends his decision to the YAML it is given.
  std::string editor = file("append-approval.py",
                            "import sys, yaml\n"
                            "path = sys.argv[1]\n"
                            "doc = yaml.safe_load(open(path))\n"
                            "doc['spec'].setdefault('approvals', []).append({'decision': 'Approve', 'comment': 'edited'})\n"
                            "open(path, 'w').write(yaml.safe_dump(doc))\n");
  auto dave = kubectl("dave", "edit kar activate-payments", "KUBE_EDITOR='/usr/bin/python3 " + editor + "'");
  ASSERT_EQ(dave.rc, 0) << dave.out << readAll(op.proc.log);
  EXPECT_NE(dave.out.find("keyactivationrequest.keygate.dev/activate-payments edited"), std::string::npos) << dave.out;

  Json active;
  EXPECT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "payments");
    if (k.ok()) active = *k;
    return k.ok() && getString(*k, "status.state") == "Active";
  })) << active.dump() << readAll(op.proc.log);
  EXPECT_EQ(active["status"]["activatedBy"]["approvers"], Json({"bob", "carol", "dave"}));

  // The requester cannot approve her own request, whatever tool she uses (RBAC: no patch).
  auto self = kubectl("alice", R"(patch kar activate-payments --type=json -p '[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Approve"}}]')");
  EXPECT_NE(self.rc, 0);
  EXPECT_NE(self.out.find("cannot patch resource \"keyactivationrequests\""), std::string::npos) << self.out;
  stopOperator(op);
}

TEST_F(KubectlE2E, NamespaceEditUserRequestsButCannotApproveOrGrantThemselves) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  createApprovers({"bob"});
  createPreActiveKey("reports", 1);
  // erin holds Kubernetes' built-in `edit` in tenant-a, and nothing Keygate-specific; carol `view`.
  for (auto [user, role] : {std::pair{"erin", "edit"}, std::pair{"carol", "view"}}) {
    Json rb = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "RoleBinding"},
               {"metadata", {{"name", std::string(user) + "-" + role}}},
               {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}}},
               {"subjects", {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", user}}}}};
    ASSERT_TRUE(admin_->create(kube::resources::roleBindings(), "tenant-a", rb).ok());
  }
  // The aggregation controller adds keygate-edit's rules to `edit` shortly after.
  ASSERT_TRUE(waitUntil([&] { return kubectl("erin", "auth can-i create keyactivationrequests.keygate.dev").out == "yes\n"; }))
      << kubectl("erin", "auth can-i create keyactivationrequests.keygate.dev").out;

  auto keys = kubectl("erin", "get encryptionkeys");
  ASSERT_EQ(keys.rc, 0) << keys.out;
  EXPECT_NE(keys.out.find("reports"), std::string::npos) << keys.out;
  auto request = kubectl("erin", "create -f " + requestYaml("activate-reports", "reports"));
  ASSERT_EQ(request.rc, 0) << request.out << readAll(op.proc.log);
  auto kar = admin_->get(kube::resources::keyActivationRequests(), "tenant-a", "activate-reports");
  ASSERT_TRUE(kar.ok());
  EXPECT_EQ(getString(*kar, "spec.requester"), "erin");

  // Approving is a KeyApprover right: `edit` has neither patch nor update on requests.
  auto patch = kubectl("erin", R"(patch kar activate-reports --type=json -p '[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Approve"}}]')");
  EXPECT_NE(patch.rc, 0);
  EXPECT_NE(patch.out.find("cannot patch resource \"keyactivationrequests\""), std::string::npos) << patch.out;
  EXPECT_EQ(kubectl("erin", "auth can-i update keyactivationrequests.keygate.dev").out, "no\n");
  // Nor can she make herself an approver, or create or change keys.
  std::string krb = file("self-approver.yaml",
                         "apiVersion: keygate.dev/v1alpha1\nkind: KeyRoleBinding\nmetadata:\n  name: me\nspec:\n"
                         "  role: KeyApprover\n  subjects: [{kind: User, name: erin}]\n  reviewBy: \"2099-12-31\"\n");
  auto grantSelf = kubectl("erin", "create -f " + krb);
  EXPECT_NE(grantSelf.rc, 0);
  EXPECT_NE(grantSelf.out.find("cannot create resource \"keyrolebindings\""), std::string::npos) << grantSelf.out;
  EXPECT_EQ(kubectl("erin", "auth can-i patch encryptionkeys.keygate.dev").out, "no\n");
  EXPECT_EQ(kubectl("erin", "auth can-i delete keyactivationrequests.keygate.dev").out, "no\n");
  EXPECT_EQ(kubectl("erin", "auth can-i create keyactivationrequests.keygate.dev -n tenant-b").out, "no\n");

  // `view` reads but cannot request.
  EXPECT_EQ(kubectl("carol", "get kar activate-reports -o name").out, "keyactivationrequest.keygate.dev/activate-reports\n");
  auto viewer = kubectl("carol", "create -f " + requestYaml("by-viewer", "reports"));
  EXPECT_NE(viewer.rc, 0);
  EXPECT_NE(viewer.out.find("cannot create resource \"keyactivationrequests\""), std::string::npos) << viewer.out;

  // bob (KeyApprover) completes the request erin made.
  auto bob = kubectl("bob", R"(patch kar activate-reports --type=json -p '[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Approve"}}]')");
  ASSERT_EQ(bob.rc, 0) << bob.out;
  EXPECT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "reports");
    return k.ok() && getString(*k, "status.state") == "Active";
  })) << readAll(op.proc.log);
  stopOperator(op);
}

}  // namespace
}  // namespace keygate

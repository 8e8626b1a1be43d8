// kubectl-keygate through the real `kubectl` (plugin discovery: the keygate binary linked as
// kubectl-keygate on PATH), as requesters and approvers use it, against the test API server
// and the operator binary with its webhook and deploy/'s RBAC (issue 18). The user's
// kubeconfig comes from $KUBECONFIG, as kubectl hands it to plugins.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "e2e/operator/kubectl_fixture.h"

namespace keygate {
namespace {

using namespace e2e;

class KubectlPluginE2E : public KubectlE2E {
 protected:
  void SetUp() override {
    KubectlE2E::SetUp();
    bin_ = dir_.path() + "/bin";
    std::filesystem::create_directories(bin_);
    std::filesystem::create_symlink(KEYGATE_BINARY, bin_ + "/kubectl-keygate");
  }
  // `kubectl keygate ARGS` as `user`.
  KubectlResult plugin(const std::string& user, const std::string& args) {
    return shell("PATH=" + bin_ + ":$PATH KUBECONFIG=" + server_->writeKubeconfig(user) + " kubectl keygate " + args);
  }
  bool approvalsReach(const std::string& request, const std::string& counted) {
    return waitUntil([&] {
      auto r = admin_->get(kube::resources::keyActivationRequests(), "tenant-a", request);
      return r.ok() && getString(*r, "status.approvals") == counted;
    });
  }
  // Key "reports" (one approval), bob its approver, dave a KeyAdministrator; alice requests
  // with `request` and bob approves with the plugin (the operator then activates it).
  void activeKeyWithAdministrator(const std::string& request) {
    createApprovers({"bob"});
    createPreActiveKey("reports", 1);
    grant(*admin_, "tenant-a", "alice", {"get", "create"});
    Json admins = {{"apiVersion", "keygate.dev/v1alpha1"},
                   {"kind", "KeyRoleBinding"},
                   {"metadata", {{"name", "admins"}}},
                   {"spec", {{"role", "KeyAdministrator"}, {"subjects", {{{"kind", "User"}, {"name", "dave"}}}}, {"reviewBy", "2099-12-31"}}}};
    ASSERT_TRUE(createThroughWebhook(*admin_, kube::resources::keyRoleBindings(), "tenant-a", admins).ok());
    ASSERT_TRUE(waitUntil([&] { return admin_->get(kube::resources::roleBindings(), "tenant-a", "keygate-admins").ok(); }));
    ASSERT_EQ(plugin("alice", "request reports --reason quarterly --name " + request).rc, 0);
    ASSERT_EQ(plugin("bob", "approve " + request).rc, 0);
  }
  std::string bin_;
};

// Masks the times and ages that change from run to run.
std::string masked(std::string s) {
  s = std::regex_replace(s, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"), "<time>");
  s = std::regex_replace(s, std::regex(R"(age \d+m|age <1m)"), "age <age>");
  s = std::regex_replace(s, std::regex(R"(destroyed in [0-9dhm<]+)"), "destroyed in <ttl>");
  return s;
}

TEST_F(KubectlPluginE2E, RequestApproveStatusPendingAndRefusalsInOneLine) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  createApprovers({"alice", "bob", "carol"});
  createPreActiveKey("payments", 2);
  grant(*admin_, "tenant-a", "alice", {"get", "create"});

  auto help = plugin("alice", "--help");
  EXPECT_EQ(help.rc, 0) << help.out;
  EXPECT_NE(help.out.find("request"), std::string::npos) << help.out;

  auto created = plugin("alice", "request payments --reason rollout --change-ref CHG-42 --affected payments-db --name activate-payments");
  ASSERT_EQ(created.rc, 0) << created.out << readAll(op.proc.log);
  EXPECT_EQ(created.out, "keyactivationrequest.keygate.dev/activate-payments created\n");
  ASSERT_TRUE(approvalsReach("activate-payments", "0/2"));

  // bob's queue: the request, with who asked and how far it is.
  auto queue = plugin("bob", "pending");
  ASSERT_EQ(queue.rc, 0) << queue.out;
  EXPECT_EQ(masked(queue.out),
            "tenant-a/activate-payments  key payments  requester alice  approvals 0/2  age <age>  reason: rollout\n");
  // alice's own request is not in her queue (she may not approve it).
  auto own = plugin("alice", "pending");
  ASSERT_EQ(own.rc, 0) << own.out;
  EXPECT_EQ(own.out.find("activate-payments"), std::string::npos) << own.out;

  auto bob = plugin("bob", "approve activate-payments --comment 'reviewed CHG-42'");
  ASSERT_EQ(bob.rc, 0) << bob.out << readAll(op.proc.log);
  EXPECT_EQ(bob.out, "keyactivationrequest.keygate.dev/activate-payments approved\n");
  ASSERT_TRUE(approvalsReach("activate-payments", "1/2"));

  // Refusals: one line each, the reason without kube-apiserver's webhook prefix.
  auto again = plugin("bob", "approve activate-payments");
  EXPECT_EQ(again.rc, 1);
  EXPECT_EQ(std::count(again.out.begin(), again.out.end(), '\n'), 1) << again.out;
  EXPECT_EQ(again.out.rfind("error: ", 0), 0u) << again.out;
  EXPECT_NE(again.out.find("one entry per approver"), std::string::npos) << again.out;
  auto self = plugin("alice", "approve activate-payments");
  EXPECT_EQ(self.rc, 1);
  EXPECT_EQ(std::count(self.out.begin(), self.out.end(), '\n'), 1) << self.out;
  EXPECT_EQ(self.out.find("admission webhook"), std::string::npos) << self.out;
  EXPECT_NE(self.out.find("alice"), std::string::npos) << self.out;
  EXPECT_EQ(self.out.rfind("error: ", 0), 0u) << self.out;
  auto noComment = plugin("carol", "deny activate-payments");
  EXPECT_EQ(noComment.rc, 1) << noComment.out;
  EXPECT_NE(noComment.out.find("--comment is required"), std::string::npos) << noComment.out;
  auto missing = plugin("carol", "status nothing-here");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.out, "error: no KeyActivationRequest or EncryptionKey named \"nothing-here\" in namespace tenant-a\n");

  // Bad input: a kubeconfig that is not one, an unknown command, a non-number version.
  const std::string junk = dir_.write("junk-kubeconfig", "clusters: [1, 2\n");
  auto badConfig = shell("PATH=" + bin_ + ":$PATH KUBECONFIG=" + junk + " kubectl keygate status activate-payments");
  EXPECT_EQ(badConfig.rc, 1) << badConfig.out;
  EXPECT_EQ(badConfig.out.rfind("error: ", 0), 0u) << badConfig.out;
  EXPECT_NE(badConfig.out.find(junk), std::string::npos) << "the message names the file: " << badConfig.out;
  EXPECT_EQ(plugin("carol", "frobnicate").rc, 1);
  EXPECT_EQ(plugin("alice", "request payments --reason x --version two").rc, 1);

  // carol looks before she approves.
  auto status = plugin("carol", "status activate-payments");
  ASSERT_EQ(status.rc, 0) << status.out;
  EXPECT_EQ(masked(status.out),
            "keyactivationrequest tenant-a/activate-payments: Pending, approvals 1/2\n"
            "  key:       payments (PreActive, material destroyed in <ttl> unless activated)\n"
            "  requester: alice   reason: rollout   change: CHG-42   affected: payments-db\n"
            "  approved:  bob at <time> (\"reviewed CHG-42\")\n"
            "  can still approve: carol (requester and key creator excluded)\n");

  auto carol = plugin("carol", "approve activate-payments -o json");
  ASSERT_EQ(carol.rc, 0) << carol.out;
  auto obj = parseJson(carol.out);
  ASSERT_TRUE(obj.ok()) << carol.out;
  EXPECT_EQ((*obj)["spec"]["approvals"].size(), 2u);
  ASSERT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "payments");
    return k.ok() && getString(*k, "status.state") == "Active";
  })) << readAll(op.proc.log);
  // kstatus / Argo CD: the request's Ready turns True once its key version is active.
  EXPECT_TRUE(waitUntil([&] {
    auto r = admin_->get(kube::resources::keyActivationRequests(), "tenant-a", "activate-payments");
    if (!r.ok()) return false;
    for (const Json& c : (*r)["status"]["conditions"])
      if (getString(c, "type") == "Ready") return getString(c, "status") == "True" && getString(c, "reason") == "Activated";
    return false;
  }));
  auto key = plugin("carol", "status payments");
  ASSERT_EQ(key.rc, 0) << key.out;
  EXPECT_EQ(masked(key.out),
            "encryptionkey tenant-a/payments: Active, Encrypt AES-256 on softhsm, current version 1\n"
            "  v1  Active  activated <time>\n"
            "  activated by request activate-payments, approvers bob, carol\n"
            "  request activate-payments  Activated  approvals 2/2  requester alice\n");
  auto empty = plugin("bob", "pending");
  // bob may list requests in tenant-a only: the queue says where it looked.
  EXPECT_EQ(empty.out, "no requests waiting for bob in namespace tenant-a\n");
  stopOperator(op);
}

// A KeyAdministrator drives the lifecycle with the key commands; the webhook names them in
// the audit trail, and what RBAC or the webhook refuses comes back as one line.
TEST_F(KubectlPluginE2E, AdministratorsDeactivateCompromiseAndScheduleDestruction) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  ASSERT_NO_FATAL_FAILURE(activeKeyWithAdministrator("activate-reports"));
  auto state = [&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "reports");
    return k.ok() ? getString(*k, "status.state") : "";
  };
  ASSERT_TRUE(waitUntil([&] { return state() == "Active"; })) << readAll(op.proc.log);

  auto notAdmin = plugin("bob", "deactivate reports");
  EXPECT_EQ(notAdmin.rc, 1);
  EXPECT_EQ(std::count(notAdmin.out.begin(), notAdmin.out.end(), '\n'), 1) << notAdmin.out;
  EXPECT_NE(notAdmin.out.find("cannot patch resource \"encryptionkeys\""), std::string::npos) << notAdmin.out;
  auto activeDestroy = plugin("dave", "schedule-destruction reports");
  EXPECT_EQ(activeDestroy.rc, 1) << activeDestroy.out;
  EXPECT_EQ(std::count(activeDestroy.out.begin(), activeDestroy.out.end(), '\n'), 1) << activeDestroy.out;
  EXPECT_EQ(activeDestroy.out.find("admission webhook"), std::string::npos) << activeDestroy.out;

  auto off = plugin("dave", "deactivate reports");
  ASSERT_EQ(off.rc, 0) << off.out;
  EXPECT_EQ(off.out, "encryptionkey.keygate.dev/reports deactivated\n");
  ASSERT_TRUE(waitUntil([&] { return state() == "Deactivated"; })) << readAll(op.proc.log);
  EXPECT_TRUE(waitUntil([&] {
    std::string log = readAll(op.proc.log);
    return log.find("\"event\":\"KeyDeactivated\"") != std::string::npos && log.find("\"initiator\":\"dave\"") != std::string::npos;
  })) << "the audit record does not name dave";

  auto scheduled = plugin("dave", "schedule-destruction reports");
  ASSERT_EQ(scheduled.rc, 0) << scheduled.out;
  EXPECT_EQ(scheduled.out, "encryptionkey.keygate.dev/reports scheduled for destruction\n");
  ASSERT_TRUE(waitUntil([&] { return state() == "DestroyScheduled"; })) << readAll(op.proc.log);
  auto cancelled = plugin("dave", "cancel-destruction reports");
  ASSERT_EQ(cancelled.rc, 0) << cancelled.out;
  ASSERT_TRUE(waitUntil([&] { return state() == "Deactivated"; })) << readAll(op.proc.log);

  auto noReason = plugin("dave", "compromise reports");
  EXPECT_EQ(noReason.rc, 1);
  auto leaked = plugin("dave", "compromise reports --reason 'material in CI logs' -o name");
  ASSERT_EQ(leaked.rc, 0) << leaked.out;
  EXPECT_EQ(leaked.out, "encryptionkey.keygate.dev/reports\n");
  ASSERT_TRUE(waitUntil([&] { return state() == "Compromised"; })) << readAll(op.proc.log);
  stopOperator(op);
}

// `rotate`: a new PreActive version now, attributed to the KeyAdministrator, activated by a
// request like the first; asking again while it waits is refused (audited), not stacked.
TEST_F(KubectlPluginE2E, RotateStartsANewVersionThatIsActivatedLikeTheFirst) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  ASSERT_NO_FATAL_FAILURE(activeKeyWithAdministrator("activate-v1"));
  auto versionState = [&](int v) {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "reports");
    if (!k.ok()) return std::string();
    for (const Json& x : (*k)["status"]["versions"])
      if (x.value("version", 0) == v) return getString(x, "state");
    return std::string();
  };
  ASSERT_TRUE(waitUntil([&] { return versionState(1) == "Active"; })) << readAll(op.proc.log);

  auto notAdmin = plugin("bob", "rotate reports");
  EXPECT_EQ(notAdmin.rc, 1);
  EXPECT_EQ(std::count(notAdmin.out.begin(), notAdmin.out.end(), '\n'), 1) << notAdmin.out;
  auto rotated = plugin("dave", "rotate reports");
  ASSERT_EQ(rotated.rc, 0) << rotated.out;
  EXPECT_EQ(rotated.out, "encryptionkey.keygate.dev/reports rotation requested\n");
  ASSERT_TRUE(waitUntil([&] { return versionState(2) == "PreActive"; })) << readAll(op.proc.log);
  EXPECT_EQ(versionState(1), "Active") << "the current version keeps serving until v2 is activated";
  EXPECT_TRUE(waitUntil([&] {
    std::string log = readAll(op.proc.log);
    return log.find("\"event\":\"KeyRotationStarted\"") != std::string::npos && log.find("\"initiator\":\"dave\"") != std::string::npos;
  })) << "the rotation is not attributed to dave";
  auto status = plugin("dave", "status reports");
  EXPECT_NE(status.out.find("  v2  PreActive\n"), std::string::npos) << status.out;

  // Again while v2 waits: accepted by the API, refused by the operator, audited.
  ASSERT_EQ(plugin("dave", "rotate reports").rc, 0);
  EXPECT_TRUE(waitUntil([&] { return readAll(op.proc.log).find("\"event\":\"KeyRotationRefused\"") != std::string::npos; }));
  EXPECT_EQ(versionState(3), "");

  ASSERT_EQ(plugin("alice", "request reports --reason rotation --version 2 --name activate-v2").rc, 0);
  ASSERT_EQ(plugin("bob", "approve activate-v2").rc, 0);
  ASSERT_TRUE(waitUntil([&] { return versionState(2) == "Active"; })) << readAll(op.proc.log);
  stopOperator(op);
}

// --dry-run=server: the API server and the webhook decide as for real (a self-approval is
// refused in one line; bob's approval comes back stamped and signed) and nothing is stored.
TEST_F(KubectlPluginE2E, DryRunServerDecidesAsForRealAndStoresNothing) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  createApprovers({"alice", "bob", "carol"});
  createPreActiveKey("payments", 2);
  grant(*admin_, "tenant-a", "alice", {"get", "create"});

  auto dry = plugin("alice", "request payments --reason rollout --name dry --dry-run=server");
  EXPECT_EQ(dry.rc, 0) << dry.out;
  EXPECT_EQ(dry.out, "keyactivationrequest.keygate.dev/dry created (server dry run)\n");
  EXPECT_EQ(admin_->get(kube::resources::keyActivationRequests(), "tenant-a", "dry").error().code, ErrorCode::kNotFound);

  ASSERT_EQ(plugin("alice", "request payments --reason rollout --name real").rc, 0);
  ASSERT_TRUE(approvalsReach("real", "0/2"));
  auto self = plugin("alice", "approve real --dry-run=server");
  EXPECT_EQ(self.rc, 1) << self.out;
  EXPECT_EQ(self.out.rfind("error: ", 0), 0u) << self.out;
  EXPECT_NE(self.out.find("requester"), std::string::npos) << self.out;
  EXPECT_EQ(std::count(self.out.begin(), self.out.end(), '\n'), 1) << self.out;

  auto bob = plugin("bob", "approve real --comment lgtm --dry-run=server -o json");
  ASSERT_EQ(bob.rc, 0) << bob.out;
  Json would = Json::parse(bob.out, nullptr, false);
  ASSERT_TRUE(would.is_object()) << bob.out;
  ASSERT_EQ(would["spec"]["approvals"].size(), 1u) << bob.out;
  EXPECT_EQ(would["spec"]["approvals"][0]["approver"], "bob");  // stamped by the webhook
  EXPECT_FALSE(would["spec"]["approvals"][0].value("signature", "").empty());
  EXPECT_TRUE(approvals("real").empty()) << approvals("real").dump();
  auto bad = plugin("bob", "approve real --dry-run=client");
  EXPECT_EQ(bad.rc, 1) << bad.out;
  EXPECT_NE(bad.out.find("--dry-run"), std::string::npos) << bad.out;
  stopOperator(op);
}

// The audit report from the cluster, as an auditor runs it: carol holds KeyAuditor (the
// operator makes her RBAC from the binding), reads the namespace with her own kubeconfig and
// the operator's hash-chained audit file; erin, with no role, gets one line and exit 2.
TEST_F(KubectlPluginE2E, AuditReportFromTheClusterAsAKeyAuditor) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  activeKeyWithAdministrator("activate-reports");
  ASSERT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "reports");
    return k.ok() && getString(*k, "status.state") == "Active";
  }));
  Json auditors = {{"apiVersion", "keygate.dev/v1alpha1"},
                   {"kind", "KeyRoleBinding"},
                   {"metadata", {{"name", "auditors"}}},
                   {"spec", {{"role", "KeyAuditor"}, {"subjects", {{{"kind", "User"}, {"name", "carol"}}}}, {"reviewBy", "2099-12-31"}}}};
  ASSERT_TRUE(createThroughWebhook(*admin_, kube::resources::keyRoleBindings(), "tenant-a", auditors).ok());
  ASSERT_TRUE(waitUntil([&] { return admin_->get(kube::resources::roleBindings(), "tenant-a", "keygate-auditors").ok(); }));

  const std::string auditLog = dir_.path() + "/state/audit/audit.log";
  const std::string report = std::string(KEYGATE_BINARY) + " audit report --audit-log " + auditLog + " -o json";
  auto run = shell("KUBECONFIG=" + server_->writeKubeconfig("carol") + " " + report + " 2>/dev/null");
  ASSERT_EQ(run.rc, 0) << run.out;
  Json r = Json::parse(run.out, nullptr, false);
  ASSERT_TRUE(r.is_object()) << run.out;
  EXPECT_EQ(r["scope"]["source"], "cluster");
  EXPECT_EQ(r["scope"]["namespaces"], Json({"tenant-a"}));  // the kubeconfig context's namespace
  EXPECT_EQ(r["auditTrail"]["chain"], "intact") << r["auditTrail"].dump();
  ASSERT_EQ(r["keys"].size(), 1u);
  EXPECT_EQ(r["keys"][0]["name"], "reports");
  EXPECT_EQ(r["keys"][0]["state"], "Active");
  EXPECT_EQ(r["keys"][0]["createdBy"], "admin");
  ASSERT_EQ(r["activations"].size(), 1u) << r["activations"].dump(2);
  const Json& a = r["activations"][0];
  EXPECT_EQ(a["evidence"], "audit");
  EXPECT_EQ(a["request"], "activate-reports");
  EXPECT_EQ(a["requester"], "alice");
  EXPECT_EQ(a["approvers"], Json({"bob"}));
  EXPECT_EQ(a["reason"], "quarterly");
  EXPECT_EQ(r["tenants"][0]["roles"]["KeyAuditor"], Json({"carol"}));
  EXPECT_EQ(r["tenants"][0]["roles"]["KeyAdministrator"], Json({"dave"}));
  // Roles current, no conflict, the key activated by the book, the trail intact: nothing to act on.
  EXPECT_TRUE(r["findings"].empty()) << r["findings"].dump(2);
  for (const auto& q : r["questions"]) EXPECT_EQ(q["answer"], "Yes") << q.dump(2);

  auto refused = shell("KUBECONFIG=" + server_->writeKubeconfig("erin") + " " + report);
  EXPECT_EQ(refused.rc, 2) << refused.out;
  EXPECT_NE(refused.out.find("keygate audit report: cannot list encryptionkeys in namespace tenant-a: "), std::string::npos)
      << refused.out;
  EXPECT_NE(refused.out.find("forbidden"), std::string::npos) << refused.out;
  EXPECT_EQ(std::count(refused.out.begin(), refused.out.end(), '\n'), 1) << refused.out;
  stopOperator(op);
}

}  // namespace
}  // namespace keygate

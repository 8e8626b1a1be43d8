// The audit report's figures from decoded objects and trail records at a fixed "now": the
// thresholds that depend on today's date (review due soon, PreActive expiring), the
// findings of a namespace nobody can govern, --since, the CAIQ answers, and that the
// renderings escape what users wrote. (The whole document is compared with a golden file in
// tests/e2e/cmd/audit_report_test.cc.)
#include <gmock/gmock.h>

#include "api/v1alpha1/codec.h"
#include "cli/report/report.h"
#include "common/time.h"

namespace keygate::cli::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const WallTime kNow = *parseRfc3339("2026-12-06T12:00:00Z");

av1::EncryptionKey key(const std::string& ns, const std::string& name, const std::string& state, Json status = Json::object(),
                       Json spec = Json::object()) {
  Json j = {{"apiVersion", "keygate.dev/v1alpha1"},
            {"kind", "EncryptionKey"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "uid-" + name}}},
            {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}},
            {"status", {{"state", state}, {"currentVersion", 1}, {"versions", Json::array({{{"version", 1}, {"state", state}}})}}}};
  if (status.is_object()) j["status"].update(status);
  if (spec.is_object()) j["spec"].update(spec);
  auto k = av1::decodeEncryptionKey(j);
  EXPECT_TRUE(k.ok()) << k.error().message;
  return *k;
}

av1::KeyRoleBinding binding(const std::string& ns, const std::string& name, const std::string& role,
                            const std::vector<std::string>& users, const std::string& reviewBy) {
  Json subjects = Json::array();
  for (const auto& u : users) subjects.push_back({{"kind", "User"}, {"name", u}});
  auto b = av1::decodeKeyRoleBinding({{"apiVersion", "keygate.dev/v1alpha1"},
                                      {"kind", "KeyRoleBinding"},
                                      {"metadata", {{"name", name}, {"namespace", ns}}},
                                      {"spec", {{"role", role}, {"subjects", subjects}, {"reviewBy", reviewBy}}}});
  EXPECT_TRUE(b.ok()) << b.error().message;
  return *b;
}

// A namespace that is fully governed: an administrator, three approvers for two approvals.
ReportInput governed() {
  ReportInput in;
  in.now = kNow;
  in.keys.push_back(key("tenant-a", "payments", "Active", {}, {{"activation", {{"requiredApprovals", 2}}}}));
  in.bindings.push_back(binding("tenant-a", "admins", "KeyAdministrator", {"erin"}, "2099-12-31"));
  in.bindings.push_back(binding("tenant-a", "approvers", "KeyApprover", {"bob", "carol", "dave"}, "2099-12-31"));
  in.trail.chain = "intact";
  return in;
}

// A record of tenant-a's key "payments".
TrailRecord record(WallTime time, const char* event, int64_t version = 1) {
  TrailRecord r;
  r.time = time;
  r.event = event;
  r.ns = "tenant-a";
  r.key = "payments";
  r.version = version;
  return r;
}

std::vector<std::string> codes(const Json& report) {
  std::vector<std::string> out;
  for (const auto& f : report["findings"]) out.push_back(f["code"]);
  return out;
}

const Json& question(const Json& report, const std::string& id) {
  for (const auto& q : report["questions"])
    if (q["id"] == id) return q;
  static const Json none;
  return none;
}

TEST(AuditReport, AGovernedNamespaceAnswersYesWithNoFindings) {
  Json r = buildReport(governed());
  EXPECT_EQ(r["apiVersion"], kReportApiVersion);
  EXPECT_TRUE(r["findings"].empty()) << r["findings"].dump(2);
  for (const char* id : {"CEK-02.1", "CEK-08.1", "CEK-11.1", "CEK-15.1"}) EXPECT_EQ(question(r, id)["answer"], "Yes") << id;
  EXPECT_EQ(r["tenants"][0]["roles"]["KeyApprover"], Json({"bob", "carol", "dave"}));
}

TEST(AuditReport, NothingInScopeAnswersNo) {
  ReportInput in;
  in.now = kNow;
  Json r = buildReport(in);
  for (const char* id : {"CEK-02.1", "CEK-08.1", "CEK-11.1", "CEK-15.1"}) EXPECT_EQ(question(r, id)["answer"], "No") << id;
  EXPECT_EQ(codes(r), std::vector<std::string>{"AuditTrailAbsent"});
}

TEST(AuditReport, ReviewDatesAreCurrentDueSoonOrOverdueAtNow) {
  ReportInput in = governed();
  in.bindings.push_back(binding("tenant-a", "users", "KeyUser", {"app"}, "2026-12-20"));     // 14 days left
  in.bindings.push_back(binding("tenant-a", "auditors", "KeyAuditor", {"zed"}, "2026-12-05"));  // ended at 2026-12-06T00:00Z
  Json r = buildReport(in);
  std::map<std::string, std::string> review;
  for (const auto& b : r["roleBindings"]) review[b["name"]] = b["review"];
  EXPECT_EQ(review["approvers"], "current");
  EXPECT_EQ(review["users"], "dueSoon");
  EXPECT_EQ(review["auditors"], "overdue");
  EXPECT_THAT(codes(r), ::testing::UnorderedElementsAre("BindingReviewDue", "BindingReviewOverdue"));
  // An overdue binding grants nothing, so its subject is not listed as holding the role.
  EXPECT_TRUE(r["tenants"][0]["roles"]["KeyAuditor"].empty());
  EXPECT_EQ(question(r, "CEK-02.1")["answer"], "Partially");  // overdue is medium
}

TEST(AuditReport, PreActiveKeysExpiringWithinADayAreFindings) {
  ReportInput in = governed();
  in.keys.push_back(key("tenant-a", "soon", "PreActive", {{"preActiveExpiresAt", "2026-12-07T06:00:00Z"}}));
  in.keys.push_back(key("tenant-a", "later", "PreActive", {{"preActiveExpiresAt", "2026-12-10T06:00:00Z"}}));
  Json r = buildReport(in);
  ASSERT_EQ(codes(r), std::vector<std::string>{"PreActiveExpiring"});
  EXPECT_EQ(r["findings"][0]["object"], "encryptionkey/soon");
  EXPECT_THAT(r["findings"][0]["message"].get<std::string>(), HasSubstr("destroyed at 2026-12-07T06:00:00Z"));
}

TEST(AuditReport, ANamespaceWithKeysAndNobodyToGovernThem) {
  ReportInput in;
  in.now = kNow;
  in.trail.chain = "intact";
  in.keys.push_back(key("orphan", "k", "PreActive"));
  Json r = buildReport(in);
  EXPECT_THAT(codes(r), ::testing::UnorderedElementsAre("NoApprovers", "NoAdministrators", "NotEnoughApprovers"));
  EXPECT_EQ(r["findings"][0]["severity"], "high");  // sorted: high first
  EXPECT_EQ(question(r, "CEK-15.1")["answer"], "Partially");
}

TEST(AuditReport, SinceLeavesOutOlderRecordsAndActivations) {
  ReportInput in = governed();
  auto rec = [](const char* time, const char* event, int64_t version) {
    TrailRecord r = record(*parseRfc3339(time), event, version);
    r.request = "req";
    r.initiator = "alice";
    r.approvers = {"bob", "carol"};
    return r;
  };
  in.trail.records = {rec("2026-01-01T00:00:00Z", "KeyActivated", 1), rec("2026-11-01T00:00:00Z", "KeyActivated", 2)};
  in.since = *parseRfc3339("2026-06-01T00:00:00Z");
  Json r = buildReport(in);
  ASSERT_EQ(r["activations"].size(), 1u);
  EXPECT_EQ(r["activations"][0]["version"], 2);
  EXPECT_EQ(r["auditTrail"]["records"], 1);
  EXPECT_EQ(r["scope"]["since"], "2026-06-01T00:00:00Z");
}

// Audit is at least once: a transition written again after a restart is counted once; events
// that can recur are not folded, nor are the same events of another version or key.
TEST(AuditReport, RepeatedTransitionsOfOneKeyVersionAreCountedOnce) {
  ReportInput in = governed();
  auto at = [](int minute) { return *parseRfc3339("2026-11-01T00:00:00Z") + std::chrono::minutes(minute); };
  auto act = [&](int minute, int64_t version) {
    TrailRecord r = record(at(minute), "KeyActivated", version);
    r.keyUid = "uid-payments";
    r.request = "req";
    r.initiator = "alice";
    r.approvers = {"bob", "carol"};
    return r;
  };
  TrailRecord other = record(at(3), "KeyGenerated", 1);
  other.key = "ledger";
  other.keyUid = "uid-ledger";
  in.trail.records = {record(at(0), "KeyGenerated", 1), record(at(0), "KeyGenerated", 1), act(1, 1), act(2, 1), other,
                      record(at(4), "DriftRepaired", 1), record(at(5), "DriftRepaired", 1), act(6, 2),
                      record(at(7), "KeyDeactivated", 1), record(at(8), "KeyDeactivated", 1)};
  Json r = buildReport(in);
  EXPECT_EQ(r["auditTrail"]["repeatsFolded"], 3) << r["auditTrail"].dump();
  EXPECT_EQ(r["auditTrail"]["events"]["KeyGenerated"], 2);   // payments v1 once, ledger v1 once
  EXPECT_EQ(r["auditTrail"]["events"]["KeyActivated"], 2);   // v1 once, v2 once
  EXPECT_EQ(r["auditTrail"]["events"]["DriftRepaired"], 2);  // can recur: not folded
  EXPECT_EQ(r["auditTrail"]["events"]["KeyDeactivated"], 1);
  EXPECT_EQ(r["auditTrail"]["records"], 7);
  EXPECT_EQ(r["activations"].size(), 2u);
}

TEST(AuditReport, RefusedCallsAreFindingsButNotGapsInTheControl) {
  ReportInput in = governed();
  TrailRecord denied = record(kNow - std::chrono::hours(1), "KeyUseDenied");
  denied.initiator = "system:serviceaccount:tenant-b:app";
  denied.operation = "Decrypt";
  denied.reason = "OtherTenant";
  in.trail.records = {denied, denied};
  Json r = buildReport(in);
  ASSERT_EQ(codes(r), std::vector<std::string>{"CrossTenantKeyUse"});
  EXPECT_EQ(r["keyUse"]["denied"][0]["count"], 2);
  EXPECT_FALSE(r["findings"][0]["controlGap"].get<bool>());
  EXPECT_EQ(question(r, "CEK-08.1")["answer"], "Yes");  // isolation held; the caller is the finding
}

TEST(AuditReport, AStrayBackendObjectIsAFindingButNotAGap) {
  ReportInput in = governed();
  TrailRecord stray = record(kNow - std::chrono::hours(2), "StrayObjectDisabled", 0);
  stray.key = "";
  stray.backend = "softhsm";
  stray.message = "secretKey in keygate:tenant-a (usage on: encrypt,decrypt): no CKA_ID";
  in.trail.records = {stray};
  Json r = buildReport(in);
  ASSERT_EQ(codes(r), std::vector<std::string>{"StrayBackendObject"});
  EXPECT_EQ(r["findings"][0]["control"], "CEK-08");
  EXPECT_EQ(r["findings"][0]["object"], "backend/softhsm");
  EXPECT_NE(r["findings"][0]["message"].get<std::string>().find("no CKA_ID"), std::string::npos);
  EXPECT_FALSE(r["findings"][0]["controlGap"].get<bool>());
}

TEST(AuditReport, RenderingsEscapeWhatUsersWrote) {
  ReportInput in = governed();
  auto req = av1::decodeKeyActivationRequest(
      {{"apiVersion", "keygate.dev/v1alpha1"},
       {"kind", "KeyActivationRequest"},
       {"metadata", {{"name", "r"}, {"namespace", "tenant-a"}}},
       {"spec", {{"keyRef", {{"name", "payments"}}}, {"reason", "<script>alert(1)</script> | a\nb"}, {"requester", "alice"}}},
       {"status", {{"phase", "Pending"}}}});
  ASSERT_TRUE(req.ok()) << req.error().message;
  in.requests.push_back(*req);
  Json r = buildReport(in);
  const std::string html = renderHtml(r);
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  const std::string md = renderMarkdown(r);
  EXPECT_THAT(md, Not(HasSubstr("<script")));
  EXPECT_THAT(md, HasSubstr("&lt;script>alert(1)&lt;/script> \\| a b"));  // one table row, pipe escaped
}

TEST(AuditReport, HtmlIsSelfContained) {
  ReportInput in = governed();
  in.trail.records = {record(kNow - std::chrono::hours(48), "KeyGenerated")};
  const std::string html = renderHtml(buildReport(in));
  EXPECT_THAT(html, HasSubstr("<svg role=\"img\" aria-label=\"keys by state over time\""));
  EXPECT_THAT(html, HasSubstr("default-src 'none'"));
  // The only URL is the SVG namespace: no script, stylesheet, font or image is fetched.
  std::string rest = html;
  for (size_t p; (p = rest.find("http://www.w3.org/2000/svg")) != std::string::npos;) rest.erase(p, 26);
  EXPECT_THAT(rest, Not(HasSubstr("http://")));
  EXPECT_THAT(rest, Not(HasSubstr("https://")));
  EXPECT_THAT(rest, Not(HasSubstr("<script")));
}

}  // namespace
}  // namespace keygate::cli::report

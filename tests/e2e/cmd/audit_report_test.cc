// End-to-end: `keygate audit report` as a process on the fixture of tests/data/report
// (make_fixture.py: two tenants in every situation the report has a finding for, and an
// audit trail chained as the operator writes it). The JSON document is compared with a golden
// file (KEYGATE_UPDATE_GOLDEN=1 rewrites it); the Markdown answers each CAIQ question; a
// tampered trail is reported first; bad input is one clear line and exit 2.
#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>

#include "common/json.h"
#include "e2e/cmd/run_keygate.h"

namespace keygate {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kFixture = "tests/data/report";

std::string readText(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Line-by-line comparison of two pretty-printed documents: the first difference, with context.
std::string firstDifference(const std::string& want, const std::string& got) {
  std::istringstream a(want), b(got);
  std::string la, lb;
  for (int line = 1;; ++line) {
    bool ea = !std::getline(a, la), eb = !std::getline(b, lb);
    if (ea && eb) return "";
    if (ea || eb || la != lb)
      return "line " + std::to_string(line) + ":\n  golden: " + (ea ? "<end>" : la) + "\n  report: " + (eb ? "<end>" : lb);
  }
}

// A copy of the fixture in a fresh directory (tests that change it).
fs::path fixtureCopy(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("keygate-report-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"state.json", "audit.log"})
    fs::copy_file(fs::path(KEYGATE_TEST_SOURCE_DIR) / kFixture / f, dir / f);
  return dir;
}

TEST(AuditReportE2E, JsonMatchesTheGoldenFile) {
  KeygateRun r = runKeygate("audit report --state-dir " + kFixture + " -o json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  Json report = Json::parse(r.out);
  ASSERT_TRUE(report.contains("generatedAt"));
  report.erase("generatedAt");  // the only field that depends on when the test runs
  const fs::path golden = fs::path(KEYGATE_TEST_SOURCE_DIR) / kFixture / "report.golden.json";
  const std::string got = report.dump(2) + "\n";
  if (std::getenv("KEYGATE_UPDATE_GOLDEN")) std::ofstream(golden) << got;
  const std::string want = readText(golden);
  EXPECT_EQ(firstDifference(want, got), "") << "update with KEYGATE_UPDATE_GOLDEN=1 if the change is intended";

  // What the golden file must say, stated once more so that a careless update shows.
  EXPECT_EQ(report["auditTrail"]["chain"], "intact");
  EXPECT_EQ(report["auditTrail"]["records"], 22);
  EXPECT_EQ(report["summary"]["keys"], 6);
  std::set<std::string> codes;
  for (const auto& f : report["findings"]) codes.insert(f["code"]);
  for (const char* c : {"SegregationOfDuties", "CrossTenantKeyUse", "KeyFailed", "KeyCompromised", "NotEnoughApprovers",
                        "SelfApproval", "BindingReviewOverdue", "RotationOverdue", "RefusedKeyUse", "DriftRepaired",
                        "ActivationNotInAuditTrail", "PreActiveExpiring", "NoAlternateApprover"})
    EXPECT_TRUE(codes.count(c)) << c;
  EXPECT_EQ(report["findings"][0]["severity"], "high");
  EXPECT_EQ(report["findings"].back()["severity"], "low");
}

TEST(AuditReportE2E, MarkdownAnswersEachCaiqQuestionWithEvidence) {
  KeygateRun r = runKeygate("audit report --state-dir " + kFixture);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // Findings first, then the four questions, each with an answer and its evidence.
  const size_t findings = r.out.find("## Findings that need action");
  const size_t questions = r.out.find("## CAIQ questions");
  ASSERT_NE(findings, std::string::npos);
  ASSERT_LT(findings, questions);
  for (const char* q : {"### CEK-02.1: Are cryptography, encryption, and key management roles and responsibilities defined and implemented?",
                        "### CEK-08.1: Are providers providing customers with the capability to manage their own data encryption keys?",
                        "### CEK-11.1: Are cryptographic secrets and private keys that are provisioned for a unique purpose properly managed?",
                        "### CEK-15.1: Are processes, procedures, and technical measures to create keys in a pre-activated state"}) {
    size_t at = r.out.find(q);
    ASSERT_NE(at, std::string::npos) << q;
    EXPECT_NE(r.out.find("**Answer: ", at), std::string::npos);
    EXPECT_NE(r.out.find("Evidence:", at), std::string::npos);
  }
  EXPECT_THAT(r.out, HasSubstr("**Answer: Partially.** Keygate defines four key-management roles"));
  EXPECT_THAT(r.out, HasSubstr("| high | CEK-02 | SegregationOfDuties | payments/keyrolebinding/approvers | bob holds both "
                               "KeyAdministrator (emergency-admins) and KeyApprover (approvers) |"));
  EXPECT_THAT(r.out, HasSubstr("| 2026-03-02T10:00:00Z | payments/card-data v1 | activate-card-data | alice | bob, carol | "
                               "CHG-1001 | payments-db | Card vault go-live | audit |"));
  EXPECT_THAT(r.out, HasSubstr("| payments | auditors | KeyAuditor | dave | all keys | 2020-01-01 | overdue |"));
}

TEST(AuditReportE2E, ATamperedTrailIsTheFirstFindingAndFailsTheGate) {
  fs::path dir = fixtureCopy("tampered");
  // Someone rewrites who approved card-data's activation.
  std::string log = readText(dir / "audit.log");
  size_t at = log.find("\"approvers\":[\"bob\",\"carol\"],\"changeReference\":\"CHG-1001\"");
  ASSERT_NE(at, std::string::npos);
  log.replace(log.find("bob", at), 3, "eve");
  std::ofstream(dir / "audit.log", std::ios::trunc) << log;

  KeygateRun r = runKeygate("audit report --state-dir " + dir.string() + " -o json --fail-on high");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.err, HasSubstr("finding(s) at or above high"));
  Json report = Json::parse(r.out);
  EXPECT_EQ(report["auditTrail"]["chain"], "broken");
  EXPECT_THAT(report["auditTrail"]["chainDetail"].get<std::string>(), HasSubstr("audit.log:11: "));
  EXPECT_EQ(report["findings"][0]["code"], "AuditTrailBroken");
  fs::remove_all(dir);
}

TEST(AuditReportE2E, NamespaceAndSinceNarrowTheScope) {
  KeygateRun r = runKeygate("audit report --state-dir " + kFixture + " -n ml-platform --since 2026-06-01T00:00:00Z -o json");
  ASSERT_EQ(r.exitCode, 0) << r.err;
  Json report = Json::parse(r.out);
  EXPECT_EQ(report["scope"]["namespaces"], Json({"ml-platform"}));
  for (const auto& k : report["keys"]) EXPECT_EQ(k["namespace"], "ml-platform");
  ASSERT_EQ(report["activations"].size(), 1u);  // v2 in November; v1 (January) is before --since
  EXPECT_EQ(report["activations"][0]["request"], "activate-model-weights-v2");
  EXPECT_EQ(report["auditTrail"]["records"], 5);
}

TEST(AuditReportE2E, BadInputIsOneClearLine) {
  struct Case {
    std::string args, message;
  };
  fs::path garbage = fs::temp_directory_path() / ("keygate-report-garbage-" + std::to_string(::getpid()));
  fs::create_directories(garbage);
  std::ofstream(garbage / "state.json") << "{ not json";
  for (const Case& c : std::vector<Case>{
           {"audit report --state-dir /nonexistent", "no keygate local state in /nonexistent"},
           {"audit report --state-dir " + garbage.string(), "not a keygate local state file"},
           {"audit report --state-dir " + kFixture + " --since yesterday", "--since yesterday: neither an RFC 3339 time"},
           {"audit report --state-dir " + kFixture + " -A", "cannot be combined with"},
           {"audit report --state-dir " + kFixture + " --audit-log /nonexistent/audit.log", "audit log: cannot read /nonexistent/audit.log"},
           {"audit report --kubeconfig /nonexistent/kubeconfig", "/nonexistent/kubeconfig"},
       }) {
    KeygateRun r = runKeygate(c.args);
    EXPECT_EQ(r.exitCode, 2) << c.args << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr("keygate audit report: ")) << c.args;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << "\n" << r.err;
    EXPECT_EQ(r.out, "") << c.args;
  }
  fs::remove_all(garbage);
}

}  // namespace
}  // namespace keygate

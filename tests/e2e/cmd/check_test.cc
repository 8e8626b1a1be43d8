// End-to-end: runs the built `keygate check` binary as a process, from the source tree.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/json.h"
#include "e2e/cmd/run_keygate.h"

namespace keygate {
namespace {

using CheckRun = KeygateRun;

CheckRun keygateCheck(const std::string& args) { return runKeygate("check " + args); }

// The good examples pass: exit 0 and one summary line.
TEST(CheckE2E, GoodExamplesAreClean) {
  CheckRun r = keygateCheck("-f examples/keys");
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "keygate check: 7 objects in 6 files: no problems\n");
  EXPECT_EQ(r.err, "");
}

// The KMS v2 set-up of docs/kms-plugin.md: the keygate objects pass, the Pod and the
// EncryptionConfiguration beside them are skipped (not keygate kinds).
TEST(CheckE2E, KmsExamplesAreClean) {
  CheckRun r = keygateCheck("-f examples/kms");
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "keygate check: 4 objects in 5 files (2 non-keygate skipped): no problems\n");
}

// Every bad example fails with exactly these lines (schema, CEL, SoD, cross-object, duplicates).
TEST(CheckE2E, BadExamplesExactLines) {
  CheckRun r = keygateCheck("-f examples/bad");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.lines, (std::vector<std::string>{
      "examples/bad/algorithm-purpose-mismatch.yaml:5: EncryptionKey/bad-mac: spec.algorithm: RSA-3072 cannot serve purpose MAC",
      "examples/bad/bad-duration.yaml:9: EncryptionKey/ttl: spec.activation.preActiveTTL: invalid duration \"7d\" (use Go syntax such as 168h, 90m, 1h30m)",
      "examples/bad/bad-reviewby.yaml:8: KeyRoleBinding/approvers: spec.reviewBy: invalid date \"30/06/2027\" (use YYYY-MM-DD)",
      "examples/bad/cross-namespace-keyref.yaml:6: KeyActivationRequest/steal: spec.keyRef.namespace: references must stay in the request's namespace \"tenant-a\", got \"tenant-b\" (cross-namespace references are not allowed)",
      "examples/bad/cross-namespace-secret.yaml:10: EncryptionKey/byok: spec.import.secretRef.namespace: references must stay in the key's namespace \"tenant-a\", got \"tenant-b\" (cross-namespace references are not allowed)",
      "examples/bad/duplicate-approver.yaml:6: KeyActivationRequest/twice: spec.keyRef.name: EncryptionKey model-weights not found in namespace tenant-a among the checked manifests",
      "examples/bad/duplicate-approver.yaml:11: KeyActivationRequest/twice: spec.approvals[1].approver: duplicate approval by bob (one entry per approver)",
      "examples/bad/external-without-secretref.yaml:4: EncryptionKey/byok: metadata.name: duplicate object: also defined at examples/bad/cross-namespace-secret.yaml:2 (the later definition wins)",
      "examples/bad/external-without-secretref.yaml:5: EncryptionKey/byok: spec.import.secretRef: Required value: spec.origin External needs the wrapped key material",
      "examples/bad/foreign-serviceaccount.yaml:7: KeyRoleBinding/ci: spec.subjects[0].namespace: references must stay in the binding's namespace \"tenant-a\", got \"tenant-b\" (cross-namespace references are not allowed)",
      "examples/bad/missing-reason.yaml:6: KeyActivationRequest/no-reason: spec.reason: Required value",
      "examples/bad/missing-reason.yaml:6: KeyActivationRequest/no-reason: spec.keyRef.name: EncryptionKey model-weights not found in namespace tenant-a among the checked manifests",
      "examples/bad/quoted-boolean.yaml:5: EncryptionKey/quoted: spec.deactivate: expected boolean, got string",
      "examples/bad/requester-approves.yaml:6: KeyActivationRequest/self-approval: spec.keyRef.name: EncryptionKey model-weights not found in namespace tenant-a among the checked manifests",
      "examples/bad/requester-approves.yaml:10: KeyActivationRequest/self-approval: spec.approvals[0].approver: alice is the requester and may not approve (segregation of duties)",
      "examples/bad/requester-approves.yaml:10: KeyActivationRequest/self-approval: spec.approvals[0].approver: alice holds no KeyApprover binding in namespace tenant-a among the checked manifests (the webhook would reject this approval)",
      "examples/bad/segregation-conflict.yaml:12: KeyRoleBinding/approvers: metadata.name: duplicate object: also defined at examples/bad/bad-reviewby.yaml:2 (the later definition wins)",
      "examples/bad/segregation-conflict.yaml:15: KeyRoleBinding/approvers: spec.subjects[0]: User dave holds both KeyAdministrator and KeyApprover in namespace tenant-a (KeyAdministrator via admins) (segregation of duties)",
      "examples/bad/unknown-algorithm.yaml:5: EncryptionKey/weak: spec.algorithm: unsupported value \"AES-128\": supported values: \"AES-256\", \"RSA-3072\", \"RSA-4096\", \"EC-P256\", \"EC-P384\", \"HMAC-SHA256\"",
  }));
  EXPECT_EQ(r.err, "keygate check: 19 problems in 14 objects in 13 files\n");
}

// Each bad example's "# expect:" text is reported for that file.
TEST(CheckE2E, BadExamplesReportTheirExpectation) {
  CheckRun r = keygateCheck("-f examples/bad");
  for (const auto& e : std::filesystem::directory_iterator(std::string(KEYGATE_TEST_SOURCE_DIR) + "/examples/bad")) {
    std::ifstream in(e.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto pos = text.find("# expect: ");
    if (pos == std::string::npos) continue;
    std::string expect = text.substr(pos + 10, text.find('\n', pos) - pos - 10);
    std::string prefix = "examples/bad/" + e.path().filename().string() + ":";
    bool found = false;
    for (const auto& l : r.lines) found = found || (l.rfind(prefix, 0) == 0 && l.find(expect) != std::string::npos);
    EXPECT_TRUE(found) << prefix << " lacks \"" << expect << "\"\n" << r.out;
  }
}

// Approvals the webhook would reject (no binding, overdue binding, selector mismatch), SoD
// across bindings, and a request for a key that is not among the manifests.
TEST(CheckE2E, CrossObjectRules) {
  CheckRun r = keygateCheck("-f tests/data/check/approvals");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.lines, (std::vector<std::string>{
      "tests/data/check/approvals/manifests.yaml:12: KeyRoleBinding/approvers: spec.subjects[1]: User erin holds both KeyAdministrator and KeyApprover in namespace tenant-b (KeyAdministrator via admins) (segregation of duties)",
      "tests/data/check/approvals/manifests.yaml:49: KeyActivationRequest/activate-db-key: spec.approvals[1].approver: mallory holds no KeyApprover binding in namespace tenant-b among the checked manifests (the webhook would reject this approval)",
      "tests/data/check/approvals/manifests.yaml:50: KeyActivationRequest/activate-db-key: spec.approvals[2].approver: frank's KeyApprover binding old-approvers is overdue for review and grants nothing (the webhook would reject this approval)",
      "tests/data/check/approvals/manifests.yaml:51: KeyActivationRequest/activate-db-key: spec.approvals[3].approver: grace's KeyApprover binding prod-approvers does not select this key (keySelector) (the webhook would reject this approval)",
      "tests/data/check/approvals/manifests.yaml:57: KeyActivationRequest/activate-other: spec.keyRef.name: EncryptionKey no-such-key not found in namespace tenant-b among the checked manifests",
  }));
}

// YAML syntax errors name file:line (also where yaml-cpp itself would never return); strict decoding reports unknown fields, versions and kinds.
TEST(CheckE2E, SyntaxAndSchemaErrors) {
  CheckRun r = keygateCheck("-f tests/data/check/syntax");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.lines, (std::vector<std::string>{
      "tests/data/check/syntax/broken.yaml:4: syntax error: end of map flow not found",
      // yaml-cpp 0.7.0 looped allocating on this until the kernel killed the process
      // (common/yaml_load.h; found by tests/fuzz/fuzz_manifests).
      "tests/data/check/syntax/stray-comma.yaml:2: syntax error: unexpected character; the YAML parser cannot continue here",
      "tests/data/check/syntax/strict.yaml:10: EncryptionKey/typo: spec.activaton: unknown field",
      "tests/data/check/syntax/strict.yaml:12: EncryptionKey/future: apiVersion: unsupported version \"keygate.dev/v1beta1\" (supported: keygate.dev/v1alpha1)",
      "tests/data/check/syntax/strict.yaml:17: KeyRing/ring: kind: unknown kind \"KeyRing\" in keygate.dev (supported: EncryptionKey, KeyActivationRequest, KeyRoleBinding)",
  }));
}

// Non-keygate objects are skipped; .json and nested .yml files and kind: List are read; other files ignored.
TEST(CheckE2E, MixedDirectoryIsClean) {
  CheckRun r = keygateCheck("-f tests/data/check/mixed");
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "keygate check: 3 objects in 3 files (1 non-keygate skipped): no problems\n");
}

// Without --config the policy is not checked; with it, backends, jurisdictions apply.
TEST(CheckE2E, PolicyFromConfig) {
  CheckRun without = keygateCheck("-f tests/data/check/policy/manifests");
  EXPECT_EQ(without.exitCode, 0) << without.out;
  CheckRun r = keygateCheck("-f tests/data/check/policy/manifests --config tests/data/check/policy/config.yaml");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.lines, (std::vector<std::string>{
      "tests/data/check/policy/manifests/keys.yaml:6: EncryptionKey/eu-sign: spec.algorithm: EC-P256 is not allowed in jurisdiction EU (allowed: AES-256)",
      "tests/data/check/policy/manifests/keys.yaml:16: EncryptionKey/elsewhere: spec.backend: unknown backend \"cloudhsm\" (not in the operator config)",
      "tests/data/check/policy/manifests/keys.yaml:17: EncryptionKey/elsewhere: spec.jurisdiction: unknown jurisdiction \"US\": known: \"EU\"",
  }));
}

// A bad --config is reported with file:line lines and exit 1.
TEST(CheckE2E, BadConfig) {
  CheckRun r = keygateCheck("-f tests/data/check/policy/manifests --config tests/data/check/policy/bad-config.yaml");
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_EQ(r.lines, (std::vector<std::string>{
      "tests/data/check/policy/bad-config.yaml:2: backends[0].module: Required value: the path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)",
      "tests/data/check/policy/bad-config.yaml:3: workers: expected an integer, got string \"2\" (remove the quotes)",
  }));
  EXPECT_EQ(r.err, "keygate check: tests/data/check/policy/bad-config.yaml is not a valid operator configuration\n");
}

// -o json carries the same problems as structured records.
TEST(CheckE2E, JsonOutput) {
  CheckRun r = keygateCheck("-f tests/data/check/approvals -o json");
  EXPECT_EQ(r.exitCode, 1);
  auto j = parseJson(r.out);
  ASSERT_TRUE(j.ok()) << r.out;
  EXPECT_EQ((*j)["objects"], 7);
  EXPECT_EQ((*j)["files"], 1);
  ASSERT_EQ((*j)["problems"].size(), 5u);
  const Json& p = (*j)["problems"][1];
  EXPECT_EQ(p["file"], "tests/data/check/approvals/manifests.yaml");
  EXPECT_EQ(p["line"], 49);
  EXPECT_EQ(p["kind"], "KeyActivationRequest");
  EXPECT_EQ(p["name"], "activate-db-key");
  EXPECT_EQ(p["field"], "spec.approvals[1].approver");
}

// A missing path, an empty directory and a bad -o value are errors.
TEST(CheckE2E, UsageErrors) {
  CheckRun missing = keygateCheck("-f does/not/exist");
  EXPECT_EQ(missing.exitCode, 1);
  EXPECT_EQ(missing.err, "keygate check: does/not/exist: no such file or directory\n");
  auto empty = std::filesystem::temp_directory_path() / ("keygate-empty-" + std::to_string(::getpid()));
  std::filesystem::create_directories(empty);
  CheckRun none = keygateCheck("-f " + empty.string());
  std::filesystem::remove_all(empty);
  EXPECT_EQ(none.exitCode, 1);
  EXPECT_EQ(none.err, "keygate check: no *.yaml, *.yml or *.json files under " + empty.string() + "\n");
  EXPECT_NE(keygateCheck("-f examples/keys -o yaml").exitCode, 0);
  EXPECT_NE(keygateCheck("").exitCode, 0);  // -f is required
}

}  // namespace
}  // namespace keygate

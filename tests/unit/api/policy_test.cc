#include "api/v1alpha1/policy.h"

#include <gtest/gtest.h>

#include "api/v1alpha1/defaults.h"
#include "support/api_builders.h"

namespace keygate::api::v1alpha1 {
namespace {

using std::chrono::hours;

constexpr std::string_view kConfig = R"(backends:
- name: softhsm
  type: pkcs11
- name: kmip
  type: kmip
policy:
  minApprovals: {default: 1, Sign: 2}
  preActiveTTL: {default: 168h, max: 720h}
  jurisdictions:
    EU: {backends: [softhsm], algorithms: [AES-256, EC-P256]}
  segregationOfDuties: {requesterMayApprove: false, creatorMayApprove: no}
)";

// The api.md example parses into the expected struct.
TEST(PolicyTest, ParsesTheDesignExample) {
  auto p = parsePolicyFromConfig(kConfig, "config.yaml");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->minApprovalsFor(Purpose::kSign), 2);
  EXPECT_EQ(p->minApprovalsFor(Purpose::kEncrypt), 1);
  EXPECT_EQ(p->preActiveTTL.max, hours(720));
  EXPECT_EQ(p->jurisdictions.at("EU").backends, std::vector<std::string>{"softhsm"});
  EXPECT_EQ(p->jurisdictions.at("EU").algorithms, (std::vector<Algorithm>{Algorithm::kAes256, Algorithm::kEcP256}));
  EXPECT_FALSE(p->segregationOfDuties.creatorMayApprove);
  EXPECT_EQ(p->knownBackends, (std::vector<std::string>{"softhsm", "kmip"}));
  EXPECT_TRUE(validatePolicy(*p).empty());
}

// No policy section: the defaults.
TEST(PolicyTest, MissingSectionGivesDefaults) {
  auto p = parsePolicyFromConfig("backends: []\n", "c.yaml");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->minApprovals.defaultValue, 1);
  EXPECT_EQ(p->preActiveTTL.defaultValue, hours(168));
}

// Each bad policy is reported as file:line: field: reason.
TEST(PolicyTest, ErrorsCarryFileLineAndField) {
  struct Case {
    std::string yaml;
    std::string error;
  } cases[] = {
      {"policy:\n  minApprovals: {default: 0}\n",
       "c.yaml:2: policy.minApprovals.default: must be between 1 and 10, got 0"},
      {"policy:\n  minApprovals:\n    Sing: 2\n", "c.yaml:3: policy.minApprovals.Sing: unknown purpose: unsupported value \"Sing\""},
      {"policy:\n  minApprovals:\n    default: \"2\"\n",
       "c.yaml:3: policy.minApprovals.default: expected an integer, got string \"2\" (remove the quotes)"},
      {"policy:\n  minApprovals:\n    default: 02\n",
       "c.yaml:3: policy.minApprovals.default: expected a decimal integer, got 02 (a leading zero reads as octal in YAML)"},
      {"policy:\n  preActiveTTL:\n    default: 800h\n    max: 720h\n",
       "c.yaml:3: policy.preActiveTTL.default: 800h exceeds policy.preActiveTTL.max 720h"},
      {"policy:\n  preActiveTTL: {default: 7d}\n", "c.yaml:2: policy.preActiveTTL.default: invalid duration \"7d\""},
      {"backends: [{name: softhsm}]\npolicy:\n  jurisdictions:\n    EU: {backends: [vault]}\n",
       "c.yaml:4: policy.jurisdictions.EU.backends[0]: unknown backend \"vault\" (not in backends:)"},
      {"policy:\n  jurisdictions:\n    EU: {algorithms: [AES-128]}\n",
       "c.yaml:3: policy.jurisdictions.EU.algorithms[0]: unsupported value \"AES-128\""},
      {"policy:\n  segregationOfDuties:\n    requesterMayApprove: \"yes\"\n",
       "c.yaml:3: policy.segregationOfDuties.requesterMayApprove: expected a boolean, got string \"yes\" (remove the quotes)"},
      {"policy:\n  segregationOfDuties: {requesterMayApprove: maybe}\n",
       "c.yaml:2: policy.segregationOfDuties.requesterMayApprove: expected a boolean (true or false)"},
      {"policy:\n  minAprovals: {default: 1}\n", "c.yaml:2: policy.minAprovals: unknown field"},
      {"policy:\n  allowUnapprovedRotation: \"true\"\n",
       "c.yaml:2: policy.allowUnapprovedRotation: expected a boolean, got string \"true\" (remove the quotes)"},
      {"policy:\n  fixApprovalsAtRequest: sometimes\n",
       "c.yaml:2: policy.fixApprovalsAtRequest: expected a boolean (true or false)"},
      {"policy:\n  requireJurisdiction: [true]\n", "c.yaml:2: policy.requireJurisdiction: expected a boolean"},
      {"policy: [1]\n", "c.yaml:1: policy: expected a mapping"},
      {"policy:\n  minApprovals: {default: 1\n", "c.yaml:"},
  };
  for (const auto& c : cases) {
    auto p = parsePolicyFromConfig(c.yaml, "c.yaml");
    ASSERT_FALSE(p.ok()) << c.yaml;
    EXPECT_EQ(p.error().message.rfind(c.error, 0), 0u) << "got: " << p.error().message;
  }
}

// Plain yes/on are booleans where a boolean is expected (YAML 1.1, as kubectl reads them).
TEST(PolicyTest, PlainYamlBooleans) {
  auto p = parsePolicyFromConfig("policy:\n  segregationOfDuties: {requesterMayApprove: yes, creatorMayApprove: on}\n",
                                 "c.yaml");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->segregationOfDuties.requesterMayApprove);
  EXPECT_TRUE(p->segregationOfDuties.creatorMayApprove);
}

// Several problems are all reported, one per line.
TEST(PolicyTest, ReportsEveryProblem) {
  auto p = parsePolicyFromConfig("policy:\n  minApprovals: {default: 0, MAC: 11}\n", "c.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(std::count(p.error().message.begin(), p.error().message.end(), '\n'), 1);
}

// A policy built in code is checked the same way.
TEST(PolicyTest, ValidatePolicyStruct) {
  Policy p;
  p.minApprovals.perPurpose[Purpose::kSign] = 0;
  p.preActiveTTL.defaultValue = hours(800);
  auto errs = validatePolicy(p);
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0], "policy.minApprovals.Sign: must be between 1 and 10, got 0");
  EXPECT_EQ(errs[1], "policy.preActiveTTL.default: 800h exceeds policy.preActiveTTL.max 720h");
}

// Defaulting: schema defaults as the CRD has them, then policy raises approvals and caps the TTL.
TEST(DefaultsTest, SchemaThenPolicy) {
  EncryptionKey k;
  k.spec.purpose = Purpose::kSign;
  applySchemaDefaults(k);
  EXPECT_EQ(k.spec.origin, Origin::kGenerated);
  EXPECT_EQ(k.spec.activation.requiredApprovals, 1);
  EXPECT_EQ(k.spec.destruction.policy, DestructionPolicy::kRetain);
  EXPECT_EQ(k.spec.destruction.pendingWindow, "168h");
  EXPECT_FALSE(k.spec.deactivate);
  EXPECT_FALSE(k.spec.scheduleDestruction);
  EXPECT_TRUE(k.spec.activation.preActiveTTL.empty());  // the CRD leaves it to the policy

  Policy policy;
  policy.minApprovals.perPurpose[Purpose::kSign] = 2;
  applyPolicyDefaults(k, policy);
  EXPECT_EQ(k.spec.activation.requiredApprovals, 2);
  EXPECT_EQ(k.spec.activation.preActiveTTL, "168h");

  k.spec.activation.preActiveTTL = "9999h";
  applyPolicyDefaults(k, policy);
  EXPECT_EQ(k.spec.activation.preActiveTTL, "720h");
  k.spec.activation.preActiveTTL = "90m";  // a valid value below the cap keeps its spelling
  applyPolicyDefaults(k, policy);
  EXPECT_EQ(k.spec.activation.preActiveTTL, "90m");
  k.spec.activation.requiredApprovals = 5;  // higher than the minimum stays
  applyPolicyDefaults(k, policy);
  EXPECT_EQ(k.spec.activation.requiredApprovals, 5);
}

}  // namespace
}  // namespace keygate::api::v1alpha1

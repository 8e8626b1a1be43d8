#include "api/v1alpha1/validation.h"

#include <gtest/gtest.h>

#include <functional>

#include "support/api_builders.h"

namespace keygate::api::v1alpha1 {
namespace {

using namespace keygate::testing::gen;

bool has(const FieldErrors& errs, const std::string& text) {
  for (const auto& e : errs)
    if (e.toString() == text) return true;
  return false;
}

// A valid key per purpose passes.
TEST(ValidationTest, ValidKeysPass) {
  Policy p;
  for (auto [purpose, alg] : {std::pair{Purpose::kEncrypt, Algorithm::kAes256}, {Purpose::kSign, Algorithm::kEcP384},
                              {Purpose::kWrap, Algorithm::kRsa3072}, {Purpose::kMAC, Algorithm::kHmacSha256}})
    EXPECT_EQ(joinErrors(validateCreate(key("k", withPurpose(purpose), withAlgorithm(alg)), p)), "");
}

// The whole purpose ↔ algorithm table (CEK-11), mirrored from the CRD's CEL rule.
TEST(ValidationTest, PurposeAlgorithmTable) {
  int allowed = 0;
  for (const auto& [purpose, pname] : EnumTraits<Purpose>::kValues)
    for (const auto& [alg, aname] : EnumTraits<Algorithm>::kValues) {
      auto errs = validateCreate(key("k", withPurpose(purpose), withAlgorithm(alg)), Policy{});
      std::string msg = "spec.algorithm: " + std::string(aname) + " cannot serve purpose " + std::string(pname);
      EXPECT_EQ(has(errs, msg), !algorithmServesPurpose(alg, purpose)) << msg;
      allowed += algorithmServesPurpose(alg, purpose);
    }
  EXPECT_EQ(allowed, 3 + 4 + 3 + 1);
}

struct KeyCase {
  std::string name;
  std::function<void(EncryptionKey&)> mutate;
  std::string expect;
  Policy policy = {};
};

// Every EncryptionKey create rule, one bad case each, with its exact message.
TEST(ValidationTest, KeyCreateRules) {
  Policy eu;
  eu.jurisdictions["EU"] = Policy::Jurisdiction{{"kmip"}, {Algorithm::kAes256}};
  Policy known;
  known.knownBackends = {"softhsm"};
  std::vector<KeyCase> cases = {
      {"fit", [](auto& k) { k.spec.purpose = Purpose::kMAC; k.spec.algorithm = Algorithm::kRsa3072; },
       "spec.algorithm: RSA-3072 cannot serve purpose MAC"},
      {"purpose", [](auto& k) { k.spec.purpose = Purpose::kUnspecified; }, "spec.purpose: Required value"},
      {"algorithm", [](auto& k) { k.spec.algorithm = Algorithm::kUnspecified; }, "spec.algorithm: Required value"},
      {"backend", [](auto& k) { k.spec.backend = ""; }, "spec.backend: Required value"},
      {"backendName", [](auto& k) { k.spec.backend = "Soft_HSM"; },
       "spec.backend: invalid backend name \"Soft_HSM\": must be a lowercase RFC 1123 label of at most 63 characters"},
      {"unknownBackend", [](auto& k) { k.spec.backend = "vault"; },
       "spec.backend: unknown backend \"vault\" (not in the operator config)", known},
      {"name", [](auto& k) { k.metadata.name = ""; }, "metadata.name: Required value"},
      {"external", [](auto& k) { k.spec.origin = Origin::kExternal; },
       "spec.import.secretRef: Required value: spec.origin External needs the wrapped key material"},
      {"importGenerated", [](auto& k) { k.spec.import = ImportSpec{SecretKeyRef{"s", "k", ""}}; },
       "spec.import: only allowed when spec.origin is External"},
      {"secretNamespace", [](auto& k) { withExternalOrigin()(k); k.spec.import->secretRef->namespace_ = "tenant-b"; },
       "spec.import.secretRef.namespace: references must stay in the key's namespace \"tenant-a\", got \"tenant-b\" "
       "(cross-namespace references are not allowed)"},
      {"approvals", [](auto& k) { k.spec.activation.requiredApprovals = 11; },
       "spec.activation.requiredApprovals: must be between 1 and 10, got 11"},
      {"ttl", [](auto& k) { k.spec.activation.preActiveTTL = "7d"; },
       "spec.activation.preActiveTTL: invalid duration \"7d\" (use Go syntax such as 168h, 90m, 1h30m)"},
      {"ttlZero", [](auto& k) { k.spec.activation.preActiveTTL = "0s"; }, "spec.activation.preActiveTTL: must be positive"},
      {"notBefore", [](auto& k) { k.spec.activation.notBefore = "2026-12-01"; },
       "spec.activation.notBefore: invalid RFC 3339 date-time \"2026-12-01\" (e.g. 2026-12-01T00:00:00Z)"},
      {"rotation", [](auto& k) { k.spec.rotation = RotationSpec{"30m", true}; },
       "spec.rotation.period: must be at least 1h"},
      {"window", [](auto& k) { k.spec.destruction.pendingWindow = "10m"; },
       "spec.destruction.pendingWindow: must be at least 1h"},
      {"jurisdiction", [](auto& k) { k.spec.jurisdiction = "US"; },
       "spec.jurisdiction: unknown jurisdiction \"US\": known: \"EU\"", eu},
      {"jurisdictionBackend", [](auto& k) { k.spec.jurisdiction = "EU"; },
       "spec.backend: softhsm is not allowed in jurisdiction EU (allowed: kmip)", eu},
      {"jurisdictionAlgorithm", [](auto& k) { k.spec.jurisdiction = "EU"; k.spec.algorithm = Algorithm::kRsa4096; },
       "spec.algorithm: RSA-4096 is not allowed in jurisdiction EU (allowed: AES-256)", eu},
      {"affectedDup", [](auto& k) { k.spec.affectedSystems = {"a", "a"}; },
       "spec.affectedSystems[1]: Duplicate value: \"a\""},
      {"reasonLength", [](auto& k) { k.spec.compromised = CompromisedSpec{std::string(1025, 'x')}; },
       "spec.compromised.reason: may not be longer than 1024 characters"},
  };
  for (const auto& c : cases) {
    EncryptionKey k = key("k");
    c.mutate(k);
    auto errs = validateCreate(k, c.policy);
    EXPECT_TRUE(has(errs, c.expect)) << c.name << ": got " << joinErrors(errs);
  }
}

// Update rules: immutability (mirrors CEL self == oldSelf), compromise is final, an Active
// key is never scheduled for destruction, created-by is immutable.
TEST(ValidationTest, KeyUpdateRules) {
  Policy p;
  EncryptionKey old = key("k", withAnnotation(std::string(kCreatedByAnnotation), "erin"));
  struct Case {
    std::function<void(EncryptionKey&)> mutate;
    std::string expect;
  } cases[] = {
      {[](auto& k) { k.spec.purpose = Purpose::kWrap; }, "spec.purpose: field is immutable"},
      {[](auto& k) { k.spec.algorithm = Algorithm::kRsa3072; }, "spec.algorithm: field is immutable"},
      {[](auto& k) { k.spec.backend = "kmip"; }, "spec.backend: field is immutable"},
      {[](auto& k) { withExternalOrigin()(k); }, "spec.origin: field is immutable"},
      {[](auto& k) { k.metadata.annotations.erase(std::string(kCreatedByAnnotation)); },
       "metadata.annotations[keygate.dev/created-by]: field is immutable"},
  };
  for (const auto& c : cases) {
    EncryptionKey n = old;
    c.mutate(n);
    EXPECT_TRUE(has(validateUpdate(old, n, p), c.expect)) << c.expect << ": got " << joinErrors(validateUpdate(old, n, p));
  }
  // Allowed updates: deactivate, notBefore, affected systems.
  EncryptionKey n = old;
  n.spec.deactivate = true;
  n.spec.affectedSystems = {"x"};
  EXPECT_TRUE(validateUpdate(old, n, p).empty());

  EncryptionKey compromised = key("k", withCompromised("leaked"));
  EncryptionKey cleared = compromised;
  cleared.spec.compromised.reset();
  EXPECT_TRUE(has(validateUpdate(compromised, cleared, p),
                  "spec.compromised.reason: cannot be changed or cleared once set (a compromised key stays compromised)"));

  EncryptionKey active = key("k", withState(KeyState::kActive), withVersion(1, KeyState::kActive, t0()));
  EncryptionKey destroy = active;
  destroy.spec.scheduleDestruction = true;
  EXPECT_TRUE(has(validateUpdate(active, destroy, p), "spec.scheduleDestruction: key is Active: deactivate first"));
  EncryptionKey deactivated = key("k", withVersion(1, KeyState::kDeactivated, t0()));
  EncryptionKey destroy2 = deactivated;
  destroy2.spec.scheduleDestruction = true;
  EXPECT_TRUE(validateUpdate(deactivated, destroy2, p).empty());

  EncryptionKey activeDestroy = key("k", withDestruction(DestructionPolicy::kDestroy),
                                    withVersion(1, KeyState::kActive, t0()));
  EXPECT_TRUE(has(validateDelete(activeDestroy),
                  "spec.destruction.policy: key is Active and destruction.policy is Destroy: deactivate first"));
  EXPECT_TRUE(validateDelete(active).empty());  // Retain: nothing is destroyed
}

// KeyActivationRequest rules: required fields, same namespace, one entry per approver,
// requester may not approve, append-only approvals, immutable keyRef and requester.
TEST(ValidationTest, RequestRules) {
  Policy p;
  EXPECT_TRUE(validateCreate(request("r", "k", withApproval("bob")), p).empty());
  struct Case {
    KeyActivationRequest r;
    std::string expect;
  } cases[] = {
      {request("r", ""), "spec.keyRef.name: Required value"},
      {request("r", "k", [](auto& r) { r.spec.reason = ""; }), "spec.reason: Required value"},
      {request("r", "k", [](auto& r) { r.spec.keyRef.namespace_ = "tenant-b"; }),
       "spec.keyRef.namespace: references must stay in the request's namespace \"tenant-a\", got \"tenant-b\" "
       "(cross-namespace references are not allowed)"},
      {request("r", "k", withApproval("bob"), withApproval("bob")),
       "spec.approvals[1].approver: duplicate approval by bob (one entry per approver)"},
      {request("r", "k", withApproval("alice")),
       "spec.approvals[0].approver: alice is the requester and may not approve (segregation of duties)"},
      {request("r", "k", [](auto& r) { Approval a; a.approver = "bob"; r.spec.approvals.push_back(a); }),
       "spec.approvals[0].decision: Required value"},
  };
  for (const auto& c : cases)
    EXPECT_TRUE(has(validateCreate(c.r, p), c.expect)) << c.expect << ": got " << joinErrors(validateCreate(c.r, p));

  Policy lenient;
  lenient.segregationOfDuties.requesterMayApprove = true;
  EXPECT_TRUE(validateCreate(request("r", "k", withApproval("alice")), lenient).empty());

  auto old = request("r", "k", withApproval("bob"));
  auto appended = old;
  withApproval("carol")(appended);
  EXPECT_TRUE(validateUpdate(old, appended, p).empty());
  auto edited = appended;
  edited.spec.approvals[0].decision = Decision::kDeny;
  EXPECT_TRUE(has(validateUpdate(appended, edited, p),
                  "spec.approvals[0]: approvals are append-only: existing entries cannot be edited"));
  auto removed = appended;
  removed.spec.approvals.pop_back();
  EXPECT_TRUE(has(validateUpdate(appended, removed, p),
                  "spec.approvals[1]: approvals are append-only: entries cannot be removed"));
  auto moved = old;
  moved.spec.keyRef.name = "other";
  EXPECT_TRUE(has(validateUpdate(old, moved, p), "spec.keyRef: field is immutable"));
  auto requester = old;
  requester.spec.requester = "mallory";
  EXPECT_TRUE(has(validateUpdate(old, requester, p), "spec.requester: field is immutable once set"));
}

// Cross-object: the key's creator may not approve; a missing version is named.
TEST(ValidationTest, RequestAgainstKey) {
  Policy p;
  auto k = key("k", withAnnotation(std::string(kCreatedByAnnotation), "erin"),
               withVersion(1, KeyState::kPreActive, t0()));
  auto r = request("r", "k", withApproval("erin"), forVersion(2));
  auto errs = validateRequestForKey(r, k, p);
  EXPECT_TRUE(has(errs, "spec.approvals[0].approver: erin created the key and may not approve it (segregation of duties)"));
  EXPECT_TRUE(has(errs, "spec.keyRef.version: key k has no version 2"));
  auto other = request("r", "k", withNamespace("tenant-b"));
  EXPECT_TRUE(has(validateRequestForKey(other, k, p), "spec.keyRef.name: request does not reference key tenant-a/k"));
}

// KeyRoleBinding rules, reviewBy parsing and currency.
TEST(ValidationTest, BindingRules) {
  Policy p;
  EXPECT_TRUE(validateCreate(binding("b", Role::kKeyApprover, {user("bob"), serviceAccount("ci")}), p).empty());
  struct Case {
    KeyRoleBinding b;
    std::string expect;
  } cases[] = {
      {binding("b", Role::kUnspecified, {user("bob")}), "spec.role: Required value"},
      {binding("b", Role::kKeyUser, {}), "spec.subjects: Required value: at least one subject"},
      {binding("b", Role::kKeyUser, {serviceAccount("ci", "")}),
       "spec.subjects[0].namespace: Required value: a ServiceAccount subject names its namespace"},
      {binding("b", Role::kKeyUser, {serviceAccount("ci", "tenant-b")}),
       "spec.subjects[0].namespace: references must stay in the binding's namespace \"tenant-a\", got \"tenant-b\" "
       "(cross-namespace references are not allowed)"},
      {binding("b", Role::kKeyUser, {Subject{SubjectKind::kUser, "bob", "tenant-a"}}),
       "spec.subjects[0].namespace: only allowed for kind ServiceAccount"},
      {binding("b", Role::kKeyUser, {user("bob")}, [](auto& b) { b.spec.reviewBy = "2027-06-31"; }),
       "spec.reviewBy: invalid date \"2027-06-31\" (use YYYY-MM-DD)"},
      {binding("b", Role::kKeyUser, {user("bob")}, [](auto& b) { b.spec.reviewBy = ""; }), "spec.reviewBy: Required value"},
  };
  for (const auto& c : cases)
    EXPECT_TRUE(has(validateCreate(c.b, p), c.expect)) << c.expect << ": got " << joinErrors(validateCreate(c.b, p));

  auto due = parseReviewBy("2027-06-30");
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(*due, at("2027-07-01T00:00:00Z"));
  EXPECT_FALSE(parseReviewBy("2027-06-30T00:00:00Z").ok());
  EXPECT_EQ(*parseReviewBy("2028-02-29"), at("2028-03-01T00:00:00Z")) << "a leap day";
  EXPECT_EQ(*parseReviewBy("2027-12-31"), at("2028-01-01T00:00:00Z"));
  for (const char* bad : {"2027-02-29", "2027-13-01", "2027-00-10", "2027-06-00", "2027-6-30", "2027/06/30",
                          "27-06-30xx", "2027-06-3a", " 2027-06-30", "", "2027-06-30\n"})
    EXPECT_FALSE(parseReviewBy(bad).ok()) << bad;
  auto b = binding("b", Role::kKeyApprover, {user("bob")});
  EXPECT_TRUE(bindingIsCurrent(b, at("2027-06-30T23:59:59Z")));
  EXPECT_FALSE(bindingIsCurrent(b, at("2027-07-01T00:00:00Z")));
}

// Segregation of duties: a subject with both KeyAdministrator and KeyApprover is found, per
// namespace; the webhook check names the other binding.
TEST(ValidationTest, SegregationOfDuties) {
  std::vector<KeyRoleBinding> bindings = {
      binding("admins", Role::kKeyAdministrator, {user("dave"), serviceAccount("ci")}),
      binding("approvers", Role::kKeyApprover, {user("dave"), user("bob"), serviceAccount("ci")}),
      binding("approvers-b", Role::kKeyApprover, {user("erin")}, withNamespace("tenant-b")),
      binding("admins-b", Role::kKeyAdministrator, {user("bob")}, withNamespace("tenant-b")),
      binding("users", Role::kKeyUser, {user("bob")}),
  };
  auto conflicts = findSegregationConflicts(bindings);
  ASSERT_EQ(conflicts.size(), 2u);
  EXPECT_EQ(conflicts[0].subject.name, "dave");
  EXPECT_EQ(conflicts[0].administratorBindings, std::vector<std::string>{"admins"});
  EXPECT_EQ(conflicts[0].approverBindings, std::vector<std::string>{"approvers"});
  EXPECT_EQ(conflicts[1].subject.kind, SubjectKind::kServiceAccount);

  auto candidate = binding("new-approvers", Role::kKeyApprover, {user("erin"), user("dave")});
  auto errs = validateSegregation(candidate, bindings);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].toString(),
            "spec.subjects[1]: User dave would hold both KeyApprover and KeyAdministrator (binding admins) in "
            "namespace tenant-a (segregation of duties)");
  // Updating the conflicting binding itself is judged against the others only.
  EXPECT_TRUE(validateSegregation(binding("admins", Role::kKeyAdministrator, {user("erin")}), bindings).empty());
}

}  // namespace
}  // namespace keygate::api::v1alpha1

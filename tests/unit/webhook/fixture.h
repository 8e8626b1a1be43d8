#pragma once
// Shared pieces of the webhook unit tests: an in-memory RoleView, a tenant with keys and
// bindings, and helpers that build AdmissionRequests from api/ structs and apply the
// returned JSONPatch the way the API server does.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "api/v1alpha1/approval_signing.h"
#include "api/v1alpha1/codec.h"
#include "support/api_builders.h"
#include "support/fake_clock.h"
#include "webhook/admission.h"
#include "webhook/role_view.h"

namespace keygate::webhook::testing {

using namespace keygate::api::v1alpha1;
namespace gen = keygate::testing::gen;

class FakeRoleView final : public RoleView {
 public:
  std::vector<KeyRoleBinding> all;
  std::map<std::string, EncryptionKey> keys;  // "ns/name"

  std::vector<KeyRoleBinding> bindings(const std::string& ns) const override {
    std::vector<KeyRoleBinding> out;
    for (const auto& b : all)
      if (b.metadata.namespace_ == ns) out.push_back(b);
    return out;
  }
  std::optional<EncryptionKey> key(const std::string& ns, const std::string& name) const override {
    auto it = keys.find(ns + "/" + name);
    if (it == keys.end()) return std::nullopt;
    return it->second;
  }
  void put(const EncryptionKey& k) { keys[k.metadata.namespace_ + "/" + k.metadata.name] = k; }
  std::map<std::string, std::string> jurisdictions;  // namespace -> keygate.dev/jurisdiction label
  std::string namespaceJurisdiction(const std::string& ns) const override {
    auto it = jurisdictions.find(ns);
    return it == jurisdictions.end() ? "" : it->second;
  }
};

inline KeyRoleBinding binding(std::string name, Role role, std::vector<Subject> subjects,
                              std::string reviewBy = "2099-12-31", std::string ns = "tenant-a") {
  KeyRoleBinding b;
  b.metadata.name = std::move(name);
  b.metadata.namespace_ = std::move(ns);
  b.metadata.uid = "uid-" + b.metadata.name;
  b.spec.role = role;
  b.spec.subjects = std::move(subjects);
  b.spec.reviewBy = std::move(reviewBy);
  return b;
}
inline Subject user(std::string n) { return Subject{SubjectKind::kUser, std::move(n), ""}; }
inline Subject group(std::string n) { return Subject{SubjectKind::kGroup, std::move(n), ""}; }
inline Subject serviceAccount(std::string ns, std::string n) {
  return Subject{SubjectKind::kServiceAccount, std::move(n), std::move(ns)};
}

inline UserInfo who(std::string name, std::vector<std::string> groups = {"system:authenticated"}) {
  return UserInfo{std::move(name), "uid-" + name, std::move(groups)};
}

inline const std::string kSigningKey = std::string(32, '\x5a');

// tenant-a: key model-weights (Sign/EC-P256, created by erin, label tier=dev); approvers
// bob, group security-officers (carol), service account ci, erin; administrator frank;
// olivia's approver binding is overdue; sam's approver binding selects tier=prod keys only.
class WebhookFixture : public ::testing::Test {
 protected:
  WebhookFixture()
      : clock_(gen::t0()), signer_(kSigningKey), handler_(roles_, signer_, Policy{}, clock_) {
    roles_.put(modelWeights());
    roles_.all = {
        binding("approvers", Role::kKeyApprover,
                {user("bob"), group("security-officers"), serviceAccount("tenant-a", "ci"), user("erin")}),
        binding("admins", Role::kKeyAdministrator, {user("frank")}),
        binding("old-approvers", Role::kKeyApprover, {user("olivia")}, "2020-01-01"),
        binding("prod-approvers", Role::kKeyApprover, {user("sam")}),
        binding("old-admins", Role::kKeyAdministrator, {user("oscar")}, "2020-01-01"),
    };
    roles_.all[3].spec.keySelector = KeySelector{{{"tier", "prod"}}};
  }

  static EncryptionKey modelWeights() {
    auto k = gen::key("model-weights", gen::withPurpose(Purpose::kSign), gen::withAlgorithm(Algorithm::kEcP256),
                      gen::withAnnotation(std::string(kCreatedByAnnotation), "erin"),
                      gen::withRequiredApprovals(2));
    k.metadata.labels["tier"] = "dev";
    return k;
  }

  // A stored request as the API server would hand it back (uid set, requester alice).
  static KeyActivationRequest storedRequest() {
    auto r = gen::request("activate-model-weights", "model-weights");
    r.metadata.uid = "kar-uid-1";
    r.spec.affectedSystems = {"inference-gateway"};
    return r;
  }

  AdmissionRequest review(const std::string& kind, const std::string& op, Json object, Json oldObject,
                          UserInfo u, const std::string& subResource = "") {
    AdmissionRequest r;
    r.uid = "review-" + std::to_string(++counter_);
    r.kind = {"keygate.dev", "v1alpha1", kind};
    r.resource = kind == "EncryptionKey" ? "encryptionkeys"
                 : kind == "KeyRoleBinding" ? "keyrolebindings"
                                            : "keyactivationrequests";
    r.subResource = subResource;
    r.namespace_ = "tenant-a";
    r.name = getString(object.is_null() ? oldObject : object, "metadata.name");
    r.operation = op;
    r.userInfo = std::move(u);
    r.object = std::move(object);
    r.oldObject = std::move(oldObject);
    return r;
  }

  AdmissionResponse mutate(const AdmissionRequest& r) { return handler_.review(Endpoint::kMutate, r); }
  AdmissionResponse validate(const AdmissionRequest& r) { return handler_.review(Endpoint::kValidate, r); }

  // Applies the response's patch as the API server does (after a base64 round trip through
  // the encoded AdmissionReview, so the wire form is what is tested).
  static Json applyPatch(const Json& object, const AdmissionResponse& resp) {
    Json wire = encodeAdmissionReview(resp);
    const Json& response = wire.at("response");
    if (!response.contains("patch")) return object;
    EXPECT_EQ(response.value("patchType", ""), "JSONPatch");
    auto decoded = base64Decode(response.at("patch").get<std::string>());
    EXPECT_TRUE(decoded.ok());
    Json ops = Json::parse(*decoded);
    return object.patch(ops);
  }

  // The full admission chain for an UPDATE of a request: mutate, apply, validate.
  // Returns the validating response; *stored receives the object that would be stored.
  AdmissionResponse updateRequest(const KeyActivationRequest& oldR, const KeyActivationRequest& newR, UserInfo u,
                                  Json* stored = nullptr) {
    Json oldJ = encode(oldR);
    Json newJ = encode(newR);
    auto m = mutate(review("KeyActivationRequest", "UPDATE", newJ, oldJ, u));
    if (!m.allowed) return m;
    Json patched = applyPatch(newJ, m);
    auto v = validate(review("KeyActivationRequest", "UPDATE", patched, oldJ, u));
    if (stored) *stored = patched;
    return v;
  }

  // Appends an approval by `u` (client-side values deliberately wrong: the webhook stamps).
  AdmissionResponse approve(KeyActivationRequest& current, const std::string& name, Decision d = Decision::kApprove,
                            std::vector<std::string> groups = {"system:authenticated"}) {
    KeyActivationRequest next = current;
    next.spec.approvals.push_back(Approval{name, d, "looks good", "", "", ""});
    Json stored;
    auto v = updateRequest(current, next, who(name, groups), &stored);
    if (v.allowed) {
      auto decoded = decodeKeyActivationRequest(stored);
      EXPECT_TRUE(decoded.ok());
      current = *decoded;
    }
    return v;
  }

  keygate::testing::FakeClock clock_;
  FakeRoleView roles_;
  ApprovalSigner signer_;
  AdmissionHandler handler_;
  int counter_ = 0;
};

}  // namespace keygate::webhook::testing

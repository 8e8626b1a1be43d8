// Every change made in the backend is audited, also when the pass that made it ends in a
// permanent failure. A rotation's activation deactivates the superseded version first and
// then activates the new one; when the backend refuses the activation for good (KMIP:
// "... is Compromised and cannot become Active"), the key is marked Failed — and the audit
// trail used to hold only KeyFailed, not the deactivation that had already happened in the
// backend (found in issue 17's two-replica chaos run, where a repair and an activation of
// one pass failed this way). The refusal is injected by a backend that forwards everything
// to the real SoftHSM2 backend except the new version's activation.
#include <gtest/gtest.h>

#include "backends/pkcs11/pkcs11_backend.h"
#include "controllers/backend_set.h"
#include "harness/key_operator.h"
#include "kube/resource.h"
#include "security/forwarding_backend.h"
#include "security/key_flow.h"
#include "support/softhsm_env.h"

namespace keygate::security {
namespace {

using backends::testing::Op;
using backends::testing::Prober;
using backends::testing::SoftHsmEnv;

class RefusesVersion2Activation final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Status applyUsage(const backends::KeySpec& s, backends::UsageState u) override {
    if (s.ref.version == 2 && u == backends::UsageState::kFull)
      return makeError(ErrorCode::kFailedPrecondition, "object of " + s.ref.backendKeyId() +
                                                           " is Compromised and cannot become Active");
    return ForwardingBackend::applyUsage(s, u);
  }
};

bool hasAudit(const std::vector<std::string>& lines, const std::string& event, int version, const std::string& result) {
  for (const auto& l : lines)
    if (l.find("\"event\":\"" + event + "\"") != std::string::npos &&
        l.find("\"version\":" + std::to_string(version)) != std::string::npos &&
        l.find("\"result\":\"" + result + "\"") != std::string::npos)
      return true;
  return false;
}

TEST(AuditOfPartialWorkTest, ADeactivationDoneBeforeAFailedActivationIsAudited) {
  OperatorOver<RefusesVersion2Activation> run;
  ASSERT_NO_FATAL_FAILURE(run.start());
  kube::Client* admin = run.admin.get();
  RefusesVersion2Activation* backend = run.backend;
  testing::KeyOperator& op = *run.op;

  const kube::Resource keys = kube::resources::encryptionKeys(), requests = kube::resources::keyActivationRequests();
  ASSERT_NO_FATAL_FAILURE(createKeyAndApprove(*admin, "tenant-a", "rotating", "activate-v1"));
  testing::waitForObject(*admin, keys, "tenant-a", "rotating",
                         [](const Json& k) { return getString(k, "status.state") == "Active"; });
  // kubectl keygate rotate: version 2, PreActive.
  auto rotated = admin->patch(keys, "tenant-a", "rotating", kube::PatchType::kMerge,
                              R"({"metadata":{"annotations":{"keygate.dev/rotate-requested-at":"2026-12-06T10:00:00Z"}}})");
  ASSERT_TRUE(rotated.ok()) << rotated.error().toString();
  Json key = testing::waitForObject(*admin, keys, "tenant-a", "rotating", [](const Json& k) {
    const Json* v = findPath(k, "status.versions");
    return v && v->is_array() && v->size() == 2;
  });
  ASSERT_EQ(key["status"]["versions"].size(), 2u) << key.dump();
  const std::string v1Id = getString(key["status"]["versions"][0], "backendKeyId");

  auto r = admin->create(requests, "tenant-a",
                         {{"apiVersion", "keygate.dev/v1alpha1"},
                          {"kind", "KeyActivationRequest"},
                          {"metadata", {{"name", "activate-v2"}}},
                          {"spec", {{"keyRef", {{"name", "rotating"}, {"version", 2}}}, {"reason", "rotation"}, {"requester", "alice"}}}});
  ASSERT_TRUE(r.ok()) << r.error().toString();
  Json body = *r;
  body["status"] = {{"phase", "Approved"}, {"approvalsRequired", 1}, {"approvalsReceived", 1}};
  ASSERT_TRUE(admin->update(requests, "tenant-a", body, "status").ok());

  key = testing::waitForObject(*admin, keys, "tenant-a", "rotating",
                               [](const Json& k) { return getString(k, "status.state") == "Failed"; });
  ASSERT_EQ(getString(key, "status.state"), "Failed") << key.dump();
  // The backend: version 1 no longer encrypts (it was deactivated before the refusal).
  {
    auto session = backends::testing::openTenantSession(backend->inner(), "tenant-a");
    Prober probe(*session, backends::Algorithm::kAes256, v1Id);
    EXPECT_EQ(probe.run(Op::kEncrypt), CKR_KEY_FUNCTION_NOT_PERMITTED);
  }
  std::vector<std::string> lines;
  EXPECT_TRUE(testing::waitUntil([&] {
    lines = op.auditLines();
    return hasAudit(lines, "KeyFailed", 2, "Failure");
  }));
  EXPECT_TRUE(hasAudit(lines, "KeyDeactivated", 1, "Success"))
      << "version 1 was deactivated in the backend, but the audit trail does not say so";
  EXPECT_FALSE(hasAudit(lines, "KeyActivated", 2, "Success")) << "version 2 never became usable";
  op.stop();
}

}  // namespace
}  // namespace keygate::security

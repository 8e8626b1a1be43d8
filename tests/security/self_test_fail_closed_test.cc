// Security finding 8 (issue 16): fail closed on a failed self test.
//
// The defect: a key whose known-answer test failed right after activation stayed Active
// (a Warning Event was all), so callers kept using a key the HSM had just shown to be wrong.
// The HSM fault is injected here by a backend that forwards everything to the real SoftHSM2
// backend except the self test's verdict (a module cannot be made to compute wrong results
// on demand). After the fix: the version's usage is removed in the token (checked with raw
// PKCS#11 calls), the key and version are Failed with a SelfTestFailed condition, the request
// is Failed, and the audit trail records KeySelfTestFailed.
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

// The real backend, with a module that gets its known-answer tests wrong.
class WrongAnswerBackend final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Result<backends::SelfTestResult> selfTest(const backends::KeySpec& s) override {
    auto r = inner().selfTest(s);  // the real round trip runs (and passes) ...
    if (!r.ok()) return r;
    backends::SelfTestResult wrong = *r;  // ... the verdict is what a faulty module would give
    wrong.passed = false;
    wrong.detail = "AES-256-GCM known-answer test: the module's output differs from the published vector";
    return wrong;
  }
};

TEST(SelfTestFailClosedTest, KeyThatFailsItsKnownAnswerTestIsNotUsable) {
  OperatorOver<WrongAnswerBackend> run;
  ASSERT_NO_FATAL_FAILURE(run.start());
  kube::Client* admin = run.admin.get();
  WrongAnswerBackend* backend = run.backend;
  testing::KeyOperator& op = *run.op;

  const kube::Resource keys = kube::resources::encryptionKeys(), requests = kube::resources::keyActivationRequests();
  ASSERT_NO_FATAL_FAILURE(createKeyAndApprove(*admin, "tenant-a", "weights", "activate"));

  Json key = testing::waitForObject(*admin, keys, "tenant-a", "weights", [](const Json& k) {
    const std::string s = getString(k, "status.state");
    return s == "Failed" || (s == "Active" && getString(k, "status.selfTest.result") == "Failed");
  });
  ASSERT_EQ(getString(key, "status.state"), "Failed") << "a key that failed its known-answer test stayed usable: "
                                                      << key.dump();
  EXPECT_EQ(getString(key["status"]["versions"][0], "state"), "Failed");
  EXPECT_EQ(getString(key, "status.selfTest.result"), "Failed");
  bool condition = false, ready = true;
  for (const Json& c : key["status"]["conditions"]) {
    if (getString(c, "type") == "SelfTestFailed") condition = getString(c, "status") == "True";
    if (getString(c, "type") == "Ready") ready = getString(c, "status") == "True";
  }
  EXPECT_TRUE(condition) << key.dump();
  EXPECT_FALSE(ready);

  // In the token itself: no operation permitted on the version's object.
  const std::string id = getString(key["status"]["versions"][0], "backendKeyId");
  {
    auto session = backends::testing::openTenantSession(backend->inner(), "tenant-a");
    Prober probe(*session, backends::Algorithm::kAes256, id);
    EXPECT_EQ(probe.run(Op::kEncrypt), CKR_KEY_FUNCTION_NOT_PERMITTED);
    EXPECT_EQ(probe.run(Op::kDecrypt), CKR_KEY_FUNCTION_NOT_PERMITTED);
  }
  // The request did not give anybody a usable key; the audit trail says why.
  testing::waitForObject(*admin, requests, "tenant-a", "activate",
                         [](const Json& r) { return getString(r, "status.phase") == "Failed"; });
  EXPECT_TRUE(testing::waitUntil([&] {  // the records are written as the reconciler goes
    for (const auto& l : op.auditLines())
      if (l.find("\"event\":\"KeySelfTestFailed\"") != std::string::npos &&
          l.find("\"result\":\"Failure\"") != std::string::npos)
        return true;
    return false;
  }));

  // Sticky: a later reconcile does not bring usage back (no drift repair of a Failed key).
  op.poke("tenant-a", "weights");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto session = backends::testing::openTenantSession(backend->inner(), "tenant-a");
  Prober probe(*session, backends::Algorithm::kAes256, id);
  EXPECT_EQ(probe.run(Op::kEncrypt), CKR_KEY_FUNCTION_NOT_PERMITTED);
  op.stop();
}

}  // namespace
}  // namespace keygate::security

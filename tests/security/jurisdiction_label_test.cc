// Finding 5's namespace jurisdiction (issue 16), followed through: the platform team's
// keygate.dev/jurisdiction label binds every key in the namespace, and a change of the label
// takes effect on the keys at once (they are re-queued), not at their next unrelated reconcile.
// Under requireJurisdiction a key written around the webhook without one is Failed; labelling
// its namespace lifts that, and a jurisdiction that forbids the key's backend is reported.
#include <gtest/gtest.h>

#include "controllers/backend_set.h"
#include "harness/key_operator.h"
#include "kube/resource.h"
#include "support/softhsm_env.h"

namespace keygate::security {
namespace {

std::string conditionReason(const Json& key, const std::string& type) {
  for (const Json& c : key["status"]["conditions"])
    if (getString(c, "type") == type) return getString(c, "status") + "/" + getString(c, "reason");
  return "";
}

TEST(JurisdictionLabelTest, ALabelChangeReachesTheNamespacesKeysAtOnce) {
  auto server = testing::TestApiServer::start();
  ASSERT_TRUE(server.ok()) << server.error().toString();
  auto admin = (*server)->adminClient();
  controllers::BackendSet set;
  set.add(backends::testing::SoftHsmEnv::get().openBackend());
  testing::KeyOperatorOptions o;
  o.policy.knownBackends = {"softhsm"};
  o.policy.requireJurisdiction = true;
  o.policy.jurisdictions["EU"] = {};
  o.policy.jurisdictions["EU"].backends = {"softhsm"};
  o.policy.jurisdictions["US"] = {};
  o.policy.jurisdictions["US"].backends = {"cloud-hsm"};
  o.watchNamespaces = true;
  testing::KeyOperator op(**server, &set, o);
  op.start();

  const kube::Resource keys = kube::resources::encryptionKeys();
  ASSERT_TRUE(admin->create(keys, "tenant-a",
                            {{"apiVersion", "keygate.dev/v1alpha1"},
                             {"kind", "EncryptionKey"},
                             {"metadata", {{"name", "weights"}}},
                             {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}})
                  .ok());
  Json key = testing::waitForObject(*admin, keys, "tenant-a", "weights",
                                    [](const Json& k) { return getString(k, "status.state") == "Failed"; });
  ASSERT_EQ(getString(key, "status.state"), "Failed") << key.dump();
  EXPECT_EQ(conditionReason(key, "PolicyCompliant"), "False/PolicyViolation");

  // The platform team labels the namespace: no poke, no key edit; the key proceeds.
  auto label = [&](const std::string& j) {
    return admin->patch(kube::resources::namespaces(), "", "tenant-a", kube::PatchType::kMerge,
                        R"({"metadata":{"labels":{"keygate.dev/jurisdiction":")" + j + R"("}}})");
  };
  ASSERT_TRUE(label("EU").ok());
  key = testing::waitForObject(*admin, keys, "tenant-a", "weights",
                               [](const Json& k) { return getString(k, "status.state") == "PreActive"; },
                               std::chrono::seconds(5));
  ASSERT_EQ(getString(key, "status.state"), "PreActive") << "the label did not reach the key: " << key.dump();
  EXPECT_EQ(conditionReason(key, "PolicyCompliant"), "True/Compliant");

  // Relabelled to a jurisdiction that does not allow the key's backend: reported at once.
  ASSERT_TRUE(label("US").ok());
  key = testing::waitForObject(*admin, keys, "tenant-a", "weights",
                               [](const Json& k) { return conditionReason(k, "PolicyCompliant") == "False/PolicyViolation"; },
                               std::chrono::seconds(5));
  EXPECT_EQ(conditionReason(key, "PolicyCompliant"), "False/PolicyViolation") << key.dump();
  op.stop();
}

}  // namespace
}  // namespace keygate::security

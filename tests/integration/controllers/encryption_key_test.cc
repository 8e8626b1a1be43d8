// The EncryptionKey controller end to end: test API server + real SoftHSM2 tokens.
#include <gtest/gtest.h>

#include "api/v1alpha1/codec.h"
#include "common/time.h"
#include <thread>
#include "kube/resource.h"
#include "harness/key_operator.h"
#include "support/softhsm_env.h"

namespace keygate::controllers {
namespace {

using namespace std::chrono_literals;
using backends::testing::Op;
using backends::testing::Prober;
using backends::testing::SoftHsmEnv;
namespace v1 = keygate::api::v1alpha1;

const kube::Resource kKeys = kube::resources::encryptionKeys();
const kube::Resource kRequests = kube::resources::keyActivationRequests();

Json keyManifest(const std::string& name, const std::string& purpose, const std::string& algorithm,
                 Json extraSpec = Json::object()) {
  Json spec = {{"purpose", purpose}, {"algorithm", algorithm}, {"backend", "softhsm"}};
  spec.update(extraSpec);
  return {{"apiVersion", "keygate.dev/v1alpha1"},
          {"kind", "EncryptionKey"},
          {"metadata", {{"name", name}}},
          {"spec", spec}};
}

std::string stateOf(const Json& k) { return getString(k, "status.state"); }
auto inState(const std::string& s) {
  return [s](const Json& k) { return stateOf(k) == s; };
}

class EncryptionKeyControllerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(*s);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(server_);
    admin_ = server_->adminClient();
    backends_ = std::make_unique<BackendSet>();
    auto b = SoftHsmEnv::get().openBackend();
    ASSERT_TRUE(b);
    backend_ = b.get();
    backends_->add(std::move(b));
    policy_.knownBackends = {"softhsm"};
  }
  void TearDown() override { op_.reset(); }

  void startOperator() {
    testing::KeyOperatorOptions o;
    o.policy = policy_;
    o.clock = &clock_;
    op_ = std::make_unique<testing::KeyOperator>(*server_, backends_.get(), o);
    op_->start();
  }

  Json create(const Json& manifest, const std::string& ns = "tenant-a") {
    auto r = admin_->create(kKeys, ns, manifest);
    EXPECT_TRUE(r.ok()) << r.error().toString();
    return r.ok() ? *r : Json();
  }
  Json waitKey(const std::string& name, const std::function<bool(const Json&)>& pred, const std::string& ns = "tenant-a") {
    return testing::waitForObject(*admin_, kKeys, ns, name, pred);
  }
  bool gone(const std::string& name) {
    auto g = admin_->get(kKeys, "tenant-a", name);
    return !g.ok() && g.error().code == ErrorCode::kNotFound;
  }
  backends::KeySpec specOf(const Json& key, int version = 1) {
    backends::KeySpec s;
    s.ref = {getString(key, "metadata.namespace"), getString(key, "metadata.uid"), version};
    s.purpose = *backends::parsePurpose(getString(key, "spec.purpose"));
    s.algorithm = *backends::parseAlgorithm(getString(key, "spec.algorithm"));
    return s;
  }
  // Marks an activation request Approved the way the activation controller will (issue 4).
  void approve(const std::string& name, const std::string& keyName, int approvals) {
    Json req = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "KeyActivationRequest"},
                {"metadata", {{"name", name}}},
                {"spec", {{"keyRef", {{"name", keyName}}}, {"reason", "rollout"}, {"changeReference", "CHG-1"},
                          {"requester", "alice"}}}};
    auto c = admin_->create(kRequests, "tenant-a", req);
    ASSERT_TRUE(c.ok()) << c.error().toString();
    Json body = *c;
    body["status"] = {{"phase", "Approved"}, {"approvalsRequired", approvals}, {"approvalsReceived", approvals}};
    auto s = admin_->update(kRequests, "tenant-a", body, "status");
    ASSERT_TRUE(s.ok()) << s.error().toString();
  }

  inline static std::unique_ptr<testing::TestApiServer> server_;
  kube::ClientPtr admin_;
  std::unique_ptr<BackendSet> backends_;
  backends::KeyBackend* backend_ = nullptr;
  v1::Policy policy_;
  testing::FakeClock clock_{*parseRfc3339("2027-01-15T08:00:00Z")};
  std::unique_ptr<testing::KeyOperator> op_;
};

// A new key becomes PreActive: one object in the tenant's token, every use refused, a
// finalizer, a KeyGenerated audit line and Event; status carries id and fingerprint only.
TEST_F(EncryptionKeyControllerTest, CreateToPreActiveUnusable) {
  startOperator();
  Json k = create(keyManifest("weights", "Encrypt", "AES-256"));
  Json key = waitKey("weights", inState("PreActive"));
  ASSERT_EQ(stateOf(key), "PreActive") << key.dump();
  const Json& v = key["status"]["versions"][0];
  EXPECT_EQ(getString(v, "backendKeyId"), "keygate/tenant-a/" + getString(k, "metadata.uid") + "/v1");
  EXPECT_EQ(getString(v, "fingerprint").rfind("kcv:", 0), 0u) << v.dump();
  EXPECT_EQ(key["metadata"]["finalizers"], Json::array({"keygate.dev/backend-cleanup"}));
  auto d = backend_->describe(specOf(key));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, backends::BackendKeyState::kNoUsage);
  auto& pk = *static_cast<backends::pkcs11::Pkcs11Backend*>(backend_);
  auto session = backends::testing::openTenantSession(pk, "tenant-a");
  Prober probe(*session, backends::Algorithm::kAes256, getString(v, "backendKeyId"));
  EXPECT_EQ(probe.objectCount(), 1u);
  for (Op op : backends::testing::kAllOps) EXPECT_EQ(probe.run(op), CKR_KEY_FUNCTION_NOT_PERMITTED) << opName(op);
  ASSERT_TRUE(testing::waitUntil([&] {
    for (const auto& l : op_->auditLines())
      if (l.find("\"event\":\"KeyGenerated\"") != std::string::npos && l.find("\"key\":\"weights\"") != std::string::npos) return true;
    return false;
  }));
  for (const auto& l : op_->auditLines()) EXPECT_EQ(l.find("pin"), std::string::npos) << l;
  kube::ListOptions lo;
  lo.fieldSelector = "involvedObject.name=weights";
  EXPECT_TRUE(testing::waitUntil([&] {
    auto evs = admin_->list(kube::resources::events(), "tenant-a");
    if (!evs.ok()) return false;
    for (const auto& e : (*evs)["items"])
      if (getString(e, "reason") == "KeyGenerated" && getString(e, "involvedObject.name") == "weights") return true;
    return false;
  }));
}

// Approved -> Active (self test passes, only the purpose works) -> Deactivated (only
// processing) -> DestroyScheduled -> (window elapses) Destroyed: material gone, CR kept.
TEST_F(EncryptionKeyControllerTest, ActivateDeactivateDestroy) {
  startOperator();
  create(keyManifest("signer", "Sign", "EC-P256", {{"destruction", {{"pendingWindow", "2h"}}}}));
  Json key = waitKey("signer", inState("PreActive"));
  approve("activate-signer", "signer", 1);
  key = waitKey("signer", inState("Active"));
  ASSERT_EQ(stateOf(key), "Active") << key.dump();
  EXPECT_EQ(getString(key, "status.selfTest.result"), "Passed");
  std::string id = getString(key["status"]["versions"][0], "backendKeyId");
  auto& pk = *static_cast<backends::pkcs11::Pkcs11Backend*>(backend_);
  {
    auto session = backends::testing::openTenantSession(pk, "tenant-a");
    Prober probe(*session, backends::Algorithm::kEcP256, id);
    EXPECT_EQ(probe.run(Op::kSign), CKR_OK);
    EXPECT_EQ(probe.run(Op::kVerify), CKR_OK);
  }
  EXPECT_EQ(getString(testing::waitForObject(*admin_, kRequests, "tenant-a", "activate-signer",
                                             [](const Json& r) { return getString(r, "status.phase") == "Activated"; }),
                      "status.phase"),
            "Activated");

  ASSERT_TRUE(admin_->patch(kKeys, "tenant-a", "signer", kube::PatchType::kMerge, R"({"spec":{"deactivate":true}})").ok());
  key = waitKey("signer", inState("Deactivated"));
  ASSERT_EQ(stateOf(key), "Deactivated");
  {
    auto session = backends::testing::openTenantSession(pk, "tenant-a");
    Prober probe(*session, backends::Algorithm::kEcP256, id);
    EXPECT_EQ(probe.run(Op::kSign), CKR_KEY_FUNCTION_NOT_PERMITTED);
  }

  ASSERT_TRUE(admin_->patch(kKeys, "tenant-a", "signer", kube::PatchType::kMerge, R"({"spec":{"scheduleDestruction":true}})").ok());
  key = waitKey("signer", inState("DestroyScheduled"));
  ASSERT_EQ(stateOf(key), "DestroyScheduled");
  EXPECT_TRUE(backend_->describe(specOf(key))->state != backends::BackendKeyState::kAbsent);
  clock_.advance(3h);
  op_->poke("tenant-a", "signer");
  key = waitKey("signer", inState("Destroyed"));
  ASSERT_EQ(stateOf(key), "Destroyed") << key.dump();
  EXPECT_EQ(backend_->describe(specOf(key))->state, backends::BackendKeyState::kAbsent);
}

// A crash after "generated in the HSM" and before "status written": on restart the
// controller finds the object instead of making a second one.
TEST_F(EncryptionKeyControllerTest, CrashAfterGenerateMakesNoSecondObject) {
  Json k = create(keyManifest("crashy", "Encrypt", "AES-256"));
  auto g = backend_->generate(specOf(k));  // what the crashed process did
  ASSERT_TRUE(g.ok()) << g.error().toString();
  startOperator();
  Json key = waitKey("crashy", inState("PreActive"));
  ASSERT_EQ(stateOf(key), "PreActive");
  EXPECT_EQ(getString(key["status"]["versions"][0], "fingerprint"), g->fingerprint);
  auto& pk = *static_cast<backends::pkcs11::Pkcs11Backend*>(backend_);
  auto session = backends::testing::openTenantSession(pk, "tenant-a");
  EXPECT_EQ(session->findByLabel(g->backendKeyId).size(), 1u);
}

// preActiveTTL elapses (injected clock) before activation: material destroyed, Expired.
TEST_F(EncryptionKeyControllerTest, PreActiveTtlExpiry) {
  startOperator();
  create(keyManifest("ephemeral", "MAC", "HMAC-SHA256", {{"activation", {{"preActiveTTL", "1h"}}}}));
  Json key = waitKey("ephemeral", inState("PreActive"));
  ASSERT_EQ(stateOf(key), "PreActive");
  EXPECT_FALSE(getString(key, "status.preActiveExpiresAt").empty());
  clock_.advance(30min);
  op_->poke("tenant-a", "ephemeral");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(stateOf(*admin_->get(kKeys, "tenant-a", "ephemeral")), "PreActive");
  clock_.advance(31min);
  op_->poke("tenant-a", "ephemeral");
  key = waitKey("ephemeral", inState("Expired"));
  ASSERT_EQ(stateOf(key), "Expired") << key.dump();
  EXPECT_EQ(backend_->describe(specOf(key))->state, backends::BackendKeyState::kAbsent);
}

// Bad input: misfit algorithm, unknown backend -> clear Failed conditions, nothing created;
// an immutable field change is refused by the API server.
TEST_F(EncryptionKeyControllerTest, BadInputGetsClearConditions) {
  startOperator();
  // The CRD's CEL rule refuses a misfit algorithm at the API server, as a real one does ...
  auto refused = admin_->create(kKeys, "tenant-a", keyManifest("misfit", "MAC", "RSA-3072"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("spec.algorithm: the algorithm cannot serve spec.purpose"), std::string::npos)
      << refused.error().message;
  // (On a real server the same rule also refuses every later write of an object stored before
  // it existed, status included, so the reconciler's own misfit check — unit-tested in
  // api/validation — is the only one a stored misfit ever meets.)
  Json key;
  Json m = keyManifest("nowhere", "Encrypt", "AES-256");
  m["spec"]["backend"] = "nope";
  create(m);
  key = waitKey("nowhere", inState("Failed"));
  ASSERT_EQ(stateOf(key), "Failed") << key.dump();
  EXPECT_NE(key["status"].dump().find("unknown backend \\\"nope\\\""), std::string::npos) << key.dump();

  create(keyManifest("fixed", "Encrypt", "AES-256"));
  key = waitKey("fixed", inState("PreActive"));
  auto change = admin_->patch(kKeys, "tenant-a", "fixed", kube::PatchType::kMerge, R"({"spec":{"purpose":"Wrap"}})");
  ASSERT_FALSE(change.ok());
  EXPECT_EQ(change.error().httpStatus, 422);
  EXPECT_EQ(backend_->describe(specOf(key))->state, backends::BackendKeyState::kNoUsage);
}

// Someone flips CKA_ENCRYPT on a PreActive key behind Keygate's back; the
// reconcile-requested-at annotation makes the controller notice and turn it off again.
TEST_F(EncryptionKeyControllerTest, DriftIsRepairedOnRequest) {
  startOperator();
  create(keyManifest("drifty", "Encrypt", "AES-256"));
  Json key = waitKey("drifty", inState("PreActive"));
  ASSERT_TRUE(backend_->applyUsage(specOf(key), backends::UsageState::kFull).ok());  // the tamperer
  ASSERT_EQ(backend_->describe(specOf(key))->state, backends::BackendKeyState::kActive);
  ASSERT_TRUE(admin_->patch(kKeys, "tenant-a", "drifty", kube::PatchType::kMerge,
                            R"({"metadata":{"annotations":{"keygate.dev/reconcile-requested-at":"now-1"}}})")
                  .ok());
  EXPECT_TRUE(testing::waitUntil([&] { return backend_->describe(specOf(key))->state == backends::BackendKeyState::kNoUsage; }));
  EXPECT_TRUE(testing::waitUntil([&] {
    for (const auto& l : op_->auditLines())
      if (l.find("DriftRepaired") != std::string::npos && l.find("drifty") != std::string::npos) return true;
    return false;
  }));
}

// Deleting the CR: Retain (default) keeps the HSM object and removes the CR; Destroy holds
// the CR through the window, then destroys the material and lets the CR go.
TEST_F(EncryptionKeyControllerTest, DeletionPolicies) {
  startOperator();
  Json kept = create(keyManifest("kept", "Encrypt", "AES-256"));
  waitKey("kept", inState("PreActive"));
  ASSERT_TRUE(admin_->remove(kKeys, "tenant-a", "kept").ok());
  EXPECT_TRUE(testing::waitUntil([&] { return gone("kept"); }));
  EXPECT_EQ(backend_->describe(specOf(kept))->state, backends::BackendKeyState::kNoUsage);
  // Nothing stays remembered of a key that is gone (own_writes.h: the resourceVersion a write
  // replaced is forgotten when the key is deleted, even if its watch event never got a reconcile).
  EXPECT_TRUE(testing::waitUntil([&] { return op_->keyReconciler().ownWritesPending() == 0; }))
      << op_->keyReconciler().ownWritesPending();

  Json destroyed = create(keyManifest("gone", "Encrypt", "AES-256", {{"destruction", {{"policy", "Destroy"}, {"pendingWindow", "1h"}}}}));
  waitKey("gone", inState("PreActive"));
  ASSERT_TRUE(admin_->remove(kKeys, "tenant-a", "gone").ok());
  Json key = waitKey("gone", inState("DestroyScheduled"));
  ASSERT_EQ(stateOf(key), "DestroyScheduled") << key.dump();
  EXPECT_NE(backend_->describe(specOf(destroyed))->state, backends::BackendKeyState::kAbsent);
  clock_.advance(2h);
  op_->poke("tenant-a", "gone");
  EXPECT_TRUE(testing::waitUntil([&] { return gone("gone"); }));
  EXPECT_EQ(backend_->describe(specOf(destroyed))->state, backends::BackendKeyState::kAbsent);
}

}  // namespace
}  // namespace keygate::controllers

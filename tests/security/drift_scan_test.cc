// Security finding 3, second half (issue 16): whoever reads a token's user PIN (from the
// PIN Secret, a backup of it, the pod) can flip a key's usage attributes with any PKCS#11
// tool: the objects are modifiable. Keygate repaired such drift only when it next described
// the key (at its start, or when asked), so a PreActive key made usable this way stayed usable
// — the activation workflow silently bypassed. The periodic drift scan describes every key
// version once per interval and repairs and audits what it finds (DriftRepaired, which the
// KeygateKeyDriftRepaired alert turns into a page).
#include <gtest/gtest.h>

#include <span>
#include <thread>

#include "backends/pkcs11/pkcs11_backend.h"
#include "controllers/backend_set.h"
#include "harness/key_operator.h"
#include "kube/resource.h"
#include "support/softhsm_env.h"

namespace keygate::security {
namespace {

using backends::testing::Op;
using backends::testing::Prober;
using backends::testing::SoftHsmEnv;

struct DriftRun {
  bool usableAfterWait = false;
  bool audited = false;
};

// A PreActive AES key; the attacker logs in to the tenant's token with its user PIN and sets
// CKA_ENCRYPT and CKA_DECRYPT (as `pkcs11-tool` or any PKCS#11 program could), encrypts with
// the unapproved key, and we watch whether Keygate notices within `wait`.
DriftRun attack(Duration scanInterval, std::chrono::seconds wait, const std::string& ns) {
  DriftRun out;
  auto server = testing::TestApiServer::start();
  EXPECT_TRUE(server.ok()) << server.error().toString();
  if (!server.ok()) return out;
  auto admin = (*server)->adminClient();
  controllers::BackendSet set;
  auto owned = SoftHsmEnv::get().openBackend();
  backends::pkcs11::Pkcs11Backend* backend = owned.get();
  set.add(std::move(owned));
  testing::KeyOperatorOptions o;
  o.policy.knownBackends = {"softhsm"};
  o.driftScanInterval = scanInterval;
  testing::KeyOperator op(**server, &set, o);
  op.start();
  const kube::Resource keys = kube::resources::encryptionKeys();
  auto created = admin->create(keys, ns,
                               {{"apiVersion", "keygate.dev/v1alpha1"},
                                {"kind", "EncryptionKey"},
                                {"metadata", {{"name", "weights"}}},
                                {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}});
  EXPECT_TRUE(created.ok()) << created.error().toString();
  Json key = testing::waitForObject(*admin, keys, ns, "weights",
                                    [](const Json& k) { return getString(k, "status.state") == "PreActive"; });
  const std::string id = getString(key["status"]["versions"][0], "backendKeyId");
  {
    auto session = backends::testing::openTenantSession(*backend, ns);  // the user PIN, as read from the Secret
    auto objects = session->findByLabel(id);
    EXPECT_FALSE(objects.empty());
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE attrs[] = {{CKA_ENCRYPT, &yes, sizeof yes}, {CKA_DECRYPT, &yes, sizeof yes}};
    for (CK_OBJECT_HANDLE h : objects) EXPECT_EQ(session->ck().setAttributeValue(session->handle(), h, std::span<const CK_ATTRIBUTE>(attrs, 2)), CKR_OK);
    Prober probe(*session, backends::Algorithm::kAes256, id);
    EXPECT_EQ(probe.run(Op::kEncrypt), CKR_OK) << "the attacker could not use the PreActive key at all";
  }
  op.poke(ns, "weights");  // an ordinary reconcile (a status change, a resync) in between
  std::this_thread::sleep_for(wait);
  auto session = backends::testing::openTenantSession(*backend, ns);
  Prober probe(*session, backends::Algorithm::kAes256, id);
  out.usableAfterWait = probe.run(Op::kEncrypt) == CKR_OK;
  for (const auto& l : op.auditLines())
    if (l.find("\"event\":\"DriftRepaired\"") != std::string::npos && l.find("weights") != std::string::npos) out.audited = true;
  op.stop();
  return out;
}

// Control: without the scan, the tampered PreActive key stays usable and nothing is recorded.
TEST(DriftScanTest, WithoutTheScanAPinHolderKeepsAPreActiveKeyUsable) {
  DriftRun r = attack(Duration::zero(), std::chrono::seconds(4), "tenant-a");
  EXPECT_TRUE(r.usableAfterWait);
  EXPECT_FALSE(r.audited);
}

// With a scan every 2 s: within two intervals the usage is off again and DriftRepaired names the key.
TEST(DriftScanTest, TheScanUndoesTheChangeAndAuditsIt) {
  DriftRun r = attack(std::chrono::seconds(2), std::chrono::seconds(6), "tenant-a");
  EXPECT_FALSE(r.usableAfterWait) << "the tampered PreActive key was still usable after two scan intervals";
  EXPECT_TRUE(r.audited) << "no DriftRepaired audit record";
}

}  // namespace
}  // namespace keygate::security

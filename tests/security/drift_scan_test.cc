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

// A restart with many keys must not describe them all at once in one HSM (issue 17), yet
// drift that happened while the operator was down must still be found. Six keys; one is
// tampered with while no operator runs; the next operator may describe 2 at once and then
// 2 per second: it starts with 2 describes, reaches the other keys at their slots (the last
// 2 s after the first reservation), repairs and audits the tampered key, and writes nothing
// for the five untouched keys (a restart is a no-op for them).
TEST(DriftScanTest, AfterARestartFirstDescribesArePacedAndStillFindDrift) {
  const std::string ns = "tenant-b";
  auto server = testing::TestApiServer::start();
  ASSERT_TRUE(server.ok()) << server.error().toString();
  auto admin = (*server)->adminClient();
  controllers::BackendSet set;
  auto owned = SoftHsmEnv::get().openBackend();
  backends::pkcs11::Pkcs11Backend* backend = owned.get();
  set.add(std::move(owned));
  const kube::Resource keys = kube::resources::encryptionKeys();
  std::vector<std::string> ids;
  {
    testing::KeyOperatorOptions o;
    o.policy.knownBackends = {"softhsm"};
    testing::KeyOperator first(**server, &set, o);
    first.start();
    for (int i = 0; i < 6; ++i) {
      auto created = admin->create(keys, ns,
                                   {{"apiVersion", "keygate.dev/v1alpha1"},
                                    {"kind", "EncryptionKey"},
                                    {"metadata", {{"name", "k" + std::to_string(i)}}},
                                    {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}});
      ASSERT_TRUE(created.ok()) << created.error().toString();
    }
    for (int i = 0; i < 6; ++i) {
      Json k = testing::waitForObject(*admin, keys, ns, "k" + std::to_string(i),
                                      [](const Json& o) { return getString(o, "status.state") == "PreActive"; });
      ASSERT_EQ(getString(k, "status.state"), "PreActive");
      ids.push_back(getString(k["status"]["versions"][0], "backendKeyId"));
    }
    first.stop();
  }
  {  // While no operator runs, a PIN holder turns on encryption for k3.
    auto session = backends::testing::openTenantSession(*backend, ns);
    auto objects = session->findByLabel(ids[3]);
    ASSERT_FALSE(objects.empty());
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE attrs[] = {{CKA_ENCRYPT, &yes, sizeof yes}, {CKA_DECRYPT, &yes, sizeof yes}};
    for (CK_OBJECT_HANDLE h : objects)
      ASSERT_EQ(session->ck().setAttributeValue(session->handle(), h, std::span<const CK_ATTRIBUTE>(attrs, 2)), CKR_OK);
  }
  ASSERT_TRUE((*server)->control("DELETE", "/__test/requests").ok());

  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> describes;
  int scheduled = 0, maxScheduled = 0;
  testing::KeyOperatorOptions o;
  o.policy.knownBackends = {"softhsm"};
  o.firstDescribeQps = 2;
  o.firstDescribeBurst = 2;
  o.onBackendOperation = [&](const std::string&, const std::string& op) {
    std::lock_guard<std::mutex> l(mu);
    if (op == "describe") describes.push_back(std::chrono::steady_clock::now());
  };
  o.onFirstDescribeScheduled = [&](const std::string& b, int delta) {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(b, "softhsm");
    scheduled += delta;
    maxScheduled = std::max(maxScheduled, scheduled);
  };
  testing::KeyOperator second(**server, &set, o);
  second.start();
  ASSERT_TRUE(testing::waitUntil([&] {
    std::lock_guard<std::mutex> l(mu);
    return describes.size() >= 6 && scheduled == 0;
  })) << "not every key was described";
  bool repaired = testing::waitUntil([&] {
    for (const auto& l : second.auditLines())
      if (l.find("\"event\":\"DriftRepaired\"") != std::string::npos && l.find("\"k3\"") != std::string::npos) return true;
    return false;
  });
  second.stop();
  {
    std::lock_guard<std::mutex> l(mu);
    ASSERT_EQ(describes.size(), 6u);
    // 2 at once, the other 4 at their slots (0.5 s apart). A slow machine can only make the
    // describes later, never earlier: the last slot is 2 s after the first reservation.
    EXPECT_GE(maxScheduled, 2) << "no describe was put off";
    EXPECT_LE(maxScheduled, 4);
    EXPECT_GE(describes.back() - describes.front(), std::chrono::milliseconds(1000))
        << "the 4 paced describes came faster than 2 per second";
  }
  EXPECT_TRUE(repaired) << "drift made while the operator was down was not repaired";
  {
    auto session = backends::testing::openTenantSession(*backend, ns);
    Prober probe(*session, backends::Algorithm::kAes256, ids[3]);
    EXPECT_NE(probe.run(Op::kEncrypt), CKR_OK) << "the tampered PreActive key is still usable";
  }
  // Writes after the restart: only for k3 (its repair), none for the five untouched keys.
  auto log = (*server)->control("GET", "/__test/requests");
  ASSERT_TRUE(log.ok());
  int keyWrites = 0;
  for (const Json& r : *log) {
    std::string verb = getString(r, "verb"), path = getString(r, "path");
    if (verb == "get" || verb == "list" || verb == "watch") continue;
    if (path.find("/encryptionkeys/") == std::string::npos) continue;
    ++keyWrites;
    EXPECT_NE(path.find("/encryptionkeys/k3"), std::string::npos) << verb << " " << path;
  }
  EXPECT_LE(keyWrites, 2);
}

}  // namespace
}  // namespace keygate::security

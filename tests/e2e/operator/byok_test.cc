// BYOK end to end (issue 15) with the operator binary under deploy/'s RBAC, the real kubectl
// and openssl: the operator may not read the tenant's Secret until the tenant grants it
// (SecretForbidden); `keygate wrap` + `kubectl apply` import one key; the commands of
// docs/byok.md, by hand with openssl and kubectl, import another; both fingerprints match the
// tenant's own; the operator's log has neither the material nor the blob.
#include <gtest/gtest.h>

#include <fstream>

#include "e2e/operator/kubectl_fixture.h"

namespace keygate {
namespace {

using namespace e2e;

class ByokE2E : public KubectlE2E {
 protected:
  void createExternalKey(const std::string& name, const std::string& algorithm, const std::string& purpose) {
    Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "EncryptionKey"},
                {"metadata", {{"name", name}}},
                {"spec", {{"purpose", purpose}, {"algorithm", algorithm}, {"backend", "softhsm"}, {"origin", "External"},
                          {"import", {{"secretRef", {{"name", name + "-material"}, {"key", "wrapped"}}}}}}}};
    auto r = createThroughWebhook(*admin_, kube::resources::encryptionKeys(), "tenant-a", key);
    ASSERT_TRUE(r.ok()) << r.error().toString();
  }
  Json keyWhen(const std::string& name, const std::function<bool(const Json&)>& pred) {
    // The operator looks at a waiting import's Secret every 15 s (it watches no Secrets).
    Json last;
    waitUntil(
        [&] {
          auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", name);
          if (k.ok()) last = *k;
          return k.ok() && pred(*k);
        },
        std::chrono::seconds(60));
    return last;
  }
  static std::string condition(const Json& key, const std::string& type) {
    if (const Json* cs = findPath(key, "status.conditions"); cs && cs->is_array())
      for (const auto& c : *cs)
        if (getString(c, "type") == type) return getString(c, "status") + "/" + getString(c, "reason");
    return "absent";
  }
  static std::string fingerprintOf(const Json& key) {
    const Json* v = findPath(key, "status.versions");
    return v && v->is_array() && !v->empty() ? (*v)[0].value("fingerprint", "") : "";
  }
  std::string sh(const std::string& command) {
    auto r = shell("(cd " + dir_.path() + " && " + command + ")");
    EXPECT_EQ(r.rc, 0) << command << "\n" << r.out;
    return r.out;
  }
};

TEST_F(ByokE2E, TenantGrantsReadWrapsWithKeygateWrapAndByHandAndBothImport) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  const std::string admin = "--kubeconfig " + server_->writeKubeconfig("admin");
  const std::string kg = std::string(KEYGATE_BINARY);

  // 1. keygate wrap. The Secret alone first: the operator may not read it.
  createExternalKey("customer-data", "AES-256", "Encrypt");
  Json key = keyWhen("customer-data", [](const Json& k) { return !getString(k, "status.wrappingKey.publicKeyPem").empty(); });
  ASSERT_EQ(getString(key, "status.state"), "Pending") << key.dump();
  sh("head -c 32 /dev/urandom > aes.bin");
  const std::string wrapOut = sh(kg + " wrap " + admin + " --key tenant-a/customer-data --material aes.bin --out wrapped.yaml 2>&1");
  auto at = wrapOut.find("fingerprint kcv:");
  ASSERT_NE(at, std::string::npos) << wrapOut;
  const std::string aesFingerprint = wrapOut.substr(at + 12, 10);
  // The tenant first creates only the Secret (the first document of wrapped.yaml).
  sh("awk 'BEGIN{d=0} /^---/{d++; next} d==1' wrapped.yaml > secret-only.yaml");
  sh("kubectl " + admin + " -n tenant-a apply -f secret-only.yaml");
  key = keyWhen("customer-data", [](const Json& k) { return condition(k, "ImportFailed") == "True/SecretForbidden"; });
  EXPECT_EQ(condition(key, "ImportFailed"), "True/SecretForbidden") << key["status"].dump(2);
  EXPECT_EQ(getString(key, "status.state"), "Pending");
  // Then the Role and RoleBinding: imported PreActive with the tenant's fingerprint.
  sh("kubectl " + admin + " -n tenant-a apply -f wrapped.yaml");
  key = keyWhen("customer-data", [](const Json& k) { return getString(k, "status.state") == "PreActive"; });
  ASSERT_EQ(getString(key, "status.state"), "PreActive") << key["status"].dump(2) << readAll(op.proc.log);
  EXPECT_EQ(fingerprintOf(key), aesFingerprint);
  EXPECT_EQ(condition(key, "ImportPending"), "False/Imported");
  // Activated like any key: alice requests with kubectl, bob (KeyApprover) approves with a
  // JSON patch, the webhook stamps and signs, the operator counts and activates.
  createApprovers({"bob"});
  grant(*admin_, "tenant-a", "alice", {"get", "create"});
  auto requested = kubectl("alice", "create -f " + requestYaml("activate-customer-data", "customer-data"));
  ASSERT_EQ(requested.rc, 0) << requested.out;
  auto approved = kubectl("bob", R"(patch kar activate-customer-data --type=json -p '[{"op":"add","path":"/spec/approvals/-","value":{"decision":"Approve"}}]')");
  ASSERT_EQ(approved.rc, 0) << approved.out;
  key = keyWhen("customer-data", [](const Json& k) { return getString(k, "status.state") == "Active"; });
  EXPECT_EQ(getString(key, "status.state"), "Active") << key["status"].dump(2) << readAll(op.proc.log);
  EXPECT_EQ(getString(key, "status.activatedBy.request"), "activate-customer-data");

  // 2. By hand, with the commands of docs/byok.md (an HMAC key).
  createExternalKey("ledger-mac", "HMAC-SHA256", "MAC");
  keyWhen("ledger-mac", [](const Json& k) { return !getString(k, "status.wrappingKey.publicKeyPem").empty(); });
  sh("head -c 32 /dev/urandom > mac.bin");
  // kubectl keygate wrap (the plugin, found on PATH) writes the same kind of manifest for a
  // key of the current namespace; once a key is imported it says there is nothing to wrap for.
  sh("mkdir -p bin && ln -sf " + kg + " bin/kubectl-keygate");
  const std::string plugin = "PATH=" + dir_.path() + "/bin:$PATH KUBECONFIG=" + server_->writeKubeconfig("admin") + " kubectl keygate ";
  sh(plugin + "wrap ledger-mac --material mac.bin --out plugin-wrapped.yaml 2>/dev/null");
  const std::string manifest = sh("cat plugin-wrapped.yaml");
  EXPECT_NE(manifest.find("kind: \"Secret\""), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("name: \"ledger-mac-material\""), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("keygate.dev/wrapping-key"), std::string::npos) << manifest;
  auto done = shell("(cd " + dir_.path() + " && " + plugin + "wrap customer-data --material aes.bin)");
  EXPECT_EQ(done.rc, 1) << done.out;
  EXPECT_EQ(done.out.rfind("error: encryptionkey tenant-a/customer-data publishes no wrapping key", 0), 0u) << done.out;
  EXPECT_EQ(std::count(done.out.begin(), done.out.end(), '\n'), 1) << done.out;
  sh("kubectl " + admin + " -n tenant-a get ek ledger-mac -o jsonpath='{.status.wrappingKey.publicKeyPem}' > wrapping.pem");
  sh("openssl rand 32 > ephemeral.bin");
  sh("openssl pkeyutl -encrypt -pubin -inkey wrapping.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 "
     "-pkeyopt rsa_mgf1_md:sha1 -in ephemeral.bin -out part1.bin");
  sh("openssl enc -id-aes256-wrap-pad -K \"$(od -An -tx1 ephemeral.bin | tr -d ' \\n')\" -iv A65959A6 -in mac.bin -out part2.bin");
  sh("cat part1.bin part2.bin > blob.bin && shred -u ephemeral.bin");
  sh("kubectl " + admin + " -n tenant-a create secret generic ledger-mac-material --from-file=wrapped=blob.bin");
  sh("kubectl " + admin + " -n tenant-a create role keygate-read-ledger-mac-material --verb=get --resource=secrets "
     "--resource-name=ledger-mac-material");
  sh("kubectl " + admin + " -n tenant-a create rolebinding keygate-read-ledger-mac-material "
     "--role=keygate-read-ledger-mac-material --serviceaccount=keygate-system:keygate");
  const std::string sha1 = sh("openssl dgst -sha1 -r mac.bin | cut -c1-6");
  key = keyWhen("ledger-mac", [](const Json& k) { return getString(k, "status.state") == "PreActive"; });
  ASSERT_EQ(getString(key, "status.state"), "PreActive") << key["status"].dump(2);
  EXPECT_EQ(fingerprintOf(key), "kcv:" + sha1.substr(0, 6));

  // Nothing of the material or the blobs in the operator's log.
  const std::string log = readAll(op.proc.log);
  EXPECT_NE(log.find("imported key"), std::string::npos);
  for (const char* file : {"aes.bin", "mac.bin", "blob.bin"}) {
    const std::string hex = sh(std::string("od -An -tx1 ") + file + " | tr -d ' \\n' | head -c 48");
    const std::string b64 = sh(std::string("base64 -w0 ") + file + " | head -c 40");
    EXPECT_EQ(log.find(hex), std::string::npos) << file;
    EXPECT_EQ(log.find(b64), std::string::npos) << file;
  }
  stopOperator(op);
}

}  // namespace
}  // namespace keygate

// Issue 17, "a kill at the wrong instant leaves a usable orphan in the HSM": the operator
// binary, restarted, finds an object in the tenant's token that no key accounts for, disables
// it at once, audits it and counts it, and leaves the keys alone. The object is planted the way
// a person with the tenant's PIN would, with pkcs11-tool (an AES key without id or label:
// what a process killed inside C_GenerateKey leaves is the same, SoftHSM's defaults).
#include "api/v1alpha1/approval_signing.h"
#include "operator_process.h"

namespace keygate::e2e {
namespace {

class StrayE2E : public OperatorE2E {};

TEST_F(StrayE2E, RestartFindsAnObjectNoKeyAccountsForDisablesAuditsAndCountsIt) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready);
  const kube::Resource keys = kube::resources::encryptionKeys();
  auto created = createThroughWebhook(*admin_, keys, "tenant-a",
                                      keygateObject("EncryptionKey", "k1",
                                                    {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}));
  ASSERT_TRUE(created.ok()) << created.error().toString();
  ASSERT_TRUE(waitUntil([&] {
    auto k = admin_->get(keys, "tenant-a", "k1");
    return k.ok() && getString(*k, "status.state") == "PreActive";
  })) << readAll(op.proc.log);
  stopOperator(op);

  // The tenant's user PIN, as anyone who can read the Secret has it.
  auto pins = admin_->get(kube::resources::secrets(), "keygate-system", "keygate-token-user-pins");
  ASSERT_TRUE(pins.ok()) << pins.error().toString();
  std::string pinB64 = (*pins)["data"].value("softhsm.tenant-a.user-pin", "");
  ASSERT_FALSE(pinB64.empty()) << pins->dump();
  auto pin = api::v1alpha1::base64Decode(pinB64);
  ASSERT_TRUE(pin.ok());
  const std::string env = "SOFTHSM2_CONF=" + dir_.path() + "/state/softhsm2/softhsm2.conf ";
  const std::string tool = env + "pkcs11-tool --module " KEYGATE_SOFTHSM2_MODULE " --token-label keygate:tenant-a --login --pin " +
                           *pin;
  const std::string made = commandOutput(tool + " --keygen --key-type AES:32 2>&1");
  ASSERT_NE(made.find("Key generated"), std::string::npos) << made;
  const std::string before = commandOutput(tool + " --list-objects --type secrkey 2>&1");
  ASSERT_NE(before.find("encrypt"), std::string::npos) << "the planted key is usable:\n" << before;

  // Restart: the sweep runs once the keys are known.
  StartedOperator again;
  again.metricsPort = op.metricsPort, again.healthPort = op.healthPort;
  again.proc = spawn({KEYGATE_BINARY, "operator", "--config", dir_.path() + "/config.yaml", "--kubeconfig",
                      server_->writeKubeconfig(kOperatorUser), "--pod-name", "keygate-0"},
                     dir_.path() + "/operator-2.log");
  const std::string auditFile = dir_.path() + "/state/audit/audit.log";
  ASSERT_TRUE(waitUntil([&] { return readAll(auditFile).find("\"event\":\"StrayObjectDisabled\"") != std::string::npos; }, 30s))
      << readAll(again.proc.log);
  const std::string audit = readAll(auditFile);
  const size_t at = audit.find("\"event\":\"StrayObjectDisabled\"");
  const size_t from = audit.rfind('\n', at) == std::string::npos ? 0 : audit.rfind('\n', at) + 1;
  const std::string line = audit.substr(from, audit.find('\n', at) - from);
  EXPECT_NE(line.find("\"namespace\":\"tenant-a\""), std::string::npos) << line;
  EXPECT_NE(line.find("no CKA_ID"), std::string::npos) << line;
  EXPECT_NE(line.find("usage on: "), std::string::npos) << line;

  const std::string m = metrics::testing::httpGet(again.metricsPort, "/metrics").body;
  EXPECT_NE(m.find(R"(keygate_backend_stray_objects_total{action="Disabled",backend="softhsm"} 1)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(keygate_backend_stray_objects{backend="softhsm",state="Pending"} 1)"), std::string::npos);
  EXPECT_NE(m.find(R"(keygate_backend_stray_objects{backend="softhsm",state="Retained"} 0)"), std::string::npos);
  EXPECT_NE(m.find(R"(keygate_audit_events_total{event="StrayObjectDisabled"} 1)"), std::string::npos);
  kill(again.proc.pid, SIGTERM);
  EXPECT_EQ(waitExit(again.proc.pid, 15s), 0) << readAll(again.proc.log);

  // In the token: the planted object has no usage left and carries the time it was found; the
  // key's own object is as it was.
  const std::string after = commandOutput(tool + " --list-objects --type secrkey 2>&1");
  EXPECT_NE(after.find("keygate-stray 20"), std::string::npos) << after;
  const size_t stray = after.find("keygate-stray");
  const size_t next = after.find("Secret Key Object", stray);
  const std::string strayBlock = after.substr(stray, next == std::string::npos ? std::string::npos : next - stray);
  EXPECT_EQ(strayBlock.find("encrypt"), std::string::npos) << strayBlock;
  EXPECT_EQ(strayBlock.find("decrypt"), std::string::npos) << strayBlock;
  auto k1 = admin_->get(keys, "tenant-a", "k1");
  ASSERT_TRUE(k1.ok());
  EXPECT_EQ(getString(*k1, "status.state"), "PreActive");
  EXPECT_EQ(after.find("Usage:     encrypt"), std::string::npos) << "nothing in the token encrypts: " << after;
}

}  // namespace
}  // namespace keygate::e2e

// The crypto API of the operator binary, as a workload uses it: a ServiceAccount token from
// TokenRequest (audience keygate.dev), the `keygate encrypt|decrypt` client over TLS, a key
// activated by two approvers through the webhook. The operator verifies the token with the
// test API server's TokenReview under deploy/'s RBAC (create tokenreviews).
#include "e2e/operator/operator_process.h"

namespace keygate {
namespace {

using namespace e2e;
using metrics::testing::httpGet;

TEST_F(OperatorE2E, WorkloadEncryptsWithAnActivatedKeyThroughTheCryptoApi) {
  const int cryptoPort = freePort();
  const std::string tls = dir_.path() + "/state-tls";
  StartedOperator op = startOperatorWithWebhooks(
      *server_, *admin_, dir_,
      "dataPlane: {bindAddress: \"127.0.0.1:" + std::to_string(cryptoPort) + "\", certFile: " + tls +
          "/tls.crt, keyFile: " + tls + "/tls.key, usageAuditInterval: 1s}\n");
  ASSERT_TRUE(op.ready);

  grant(*admin_, "tenant-a", "alice", {"get", "create"});
  ASSERT_NO_FATAL_FAILURE(bindThroughWebhook(*admin_, "tenant-a", "approvers", "KeyApprover", users({"bob", "carol"})));
  ASSERT_NO_FATAL_FAILURE(bindThroughWebhook(
      *admin_, "tenant-a", "model-server", "KeyUser",
      Json::array({{{"kind", "ServiceAccount"}, {"name", "model-server"}, {"namespace", "tenant-a"}}})));
  for (const char* name : {"weights", "later"}) {
    auto k = admin_->create(kube::resources::encryptionKeys(), "tenant-a",
                            keygateObject("EncryptionKey", name,
                                          {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"},
                                           {"activation", {{"requiredApprovals", 2}}}}));
    ASSERT_TRUE(k.ok()) << k.error().toString();
  }
  ASSERT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "later");
    return k.ok() && getString(*k, "status.state") == "PreActive";
  })) << readAll(op.proc.log);

  // alice requests, bob and carol approve (JSON patch append, as kubectl patch does).
  ASSERT_NO_FATAL_FAILURE(requestAndApprove(*server_, "tenant-a", "activate-weights", "weights", "alice", {"bob", "carol"}));
  ASSERT_TRUE(waitUntil([&] {
    auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "weights");
    return k.ok() && getString(*k, "status.state") == "Active";
  })) << readAll(op.proc.log);

  // The workload's token: TokenRequest for its ServiceAccount, audience keygate.dev.
  kube::Resource sas{"", "v1", "serviceaccounts", "ServiceAccount", true};
  ASSERT_TRUE(admin_->create(sas, "tenant-a", {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", "model-server"}}}}).ok());
  kube::Resource tr{"", "v1", "serviceaccounts/model-server/token", "TokenRequest", true};
  auto token = admin_->create(tr, "tenant-a",
                              {{"apiVersion", "authentication.k8s.io/v1"},
                               {"kind", "TokenRequest"},
                               {"spec", {{"audiences", {"keygate.dev"}}, {"expirationSeconds", 3600}}}});
  ASSERT_TRUE(token.ok()) << token.error().toString();
  std::string tokenFile = dir_.write("token", getString(*token, "status.token"));
  std::string in = dir_.write("in.txt", "customer data\n");
  auto run = [&](const std::string& sub, const std::string& args, const std::string& stdinFile, const std::string& out) {
    std::string cmd = std::string(KEYGATE_BINARY) + " " + sub + " --server 127.0.0.1:" + std::to_string(cryptoPort) +
                      " --ca-file " + tls + "/tls.crt --token-file " + tokenFile + " " + args + " < " + stdinFile +
                      " > " + out + " 2> " + out + ".err";
    return std::system(cmd.c_str());
  };
  std::string ct = dir_.path() + "/ct.bin", pt = dir_.path() + "/pt.txt";
  ASSERT_EQ(run("encrypt", "--key tenant-a/weights --aad doc-1", in, ct), 0) << readAll(ct + ".err") << readAll(op.proc.log);
  EXPECT_NE(readAll(ct + ".err").find("encrypted with tenant-a/weights@1"), std::string::npos);
  ASSERT_EQ(run("decrypt", "--key tenant-a/weights --aad doc-1", ct, pt), 0) << readAll(pt + ".err");
  EXPECT_EQ(readAll(pt), "customer data\n");
  // Wrong aad: refused, nothing written.
  EXPECT_NE(run("decrypt", "--key tenant-a/weights --aad doc-2", ct, pt), 0);
  EXPECT_NE(readAll(pt + ".err").find("does not authenticate"), std::string::npos) << readAll(pt + ".err");
  EXPECT_EQ(readAll(pt), "");
  // The PreActive key is refused, and the refusal is audited.
  std::string refused = dir_.path() + "/refused";
  EXPECT_NE(run("encrypt", "--key tenant-a/later", in, refused), 0);
  EXPECT_NE(readAll(refused + ".err").find("PreActive"), std::string::npos) << readAll(refused + ".err");
  // A token without the keygate.dev audience is not accepted.
  auto other = admin_->create(tr, "tenant-a",
                              {{"apiVersion", "authentication.k8s.io/v1"},
                               {"kind", "TokenRequest"},
                               {"spec", {{"audiences", {"other.dev"}}}}});
  ASSERT_TRUE(other.ok());
  tokenFile = dir_.write("token", getString(*other, "status.token"));
  std::string unauth = dir_.path() + "/unauth";
  EXPECT_NE(run("encrypt", "--key tenant-a/weights", in, unauth), 0);
  EXPECT_NE(readAll(unauth + ".err").find("Unauthenticated"), std::string::npos) << readAll(unauth + ".err");

  std::string log;
  EXPECT_TRUE(waitUntil([&] {
    log = readAll(op.proc.log);
    return log.find(R"("event":"KeyUseDenied","namespace":"tenant-a","key":"later")") != std::string::npos &&
           log.find(R"("event":"KeyUsed","namespace":"tenant-a","key":"weights")") != std::string::npos;
  })) << log;
  auto m = httpGet(op.metricsPort, "/metrics");
  EXPECT_NE(m.body.find(R"(keygate_crypto_requests_total{code="OK",namespace="tenant-a",operation="Encrypt",purpose="Encrypt"} 1)"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find(R"(keygate_crypto_denied_total{namespace="tenant-a",operation="Encrypt",reason="WrongState"} 1)"),
            std::string::npos);
  kill(op.proc.pid, SIGTERM);
  EXPECT_EQ(waitExit(op.proc.pid, 15s), 0) << readAll(op.proc.log);
}

}  // namespace
}  // namespace keygate

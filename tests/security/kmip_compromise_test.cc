// Security finding 9 (issue 16): compromising a Pre-Active KMIP key left it Pre-Active on the
// KMIP server. Keygate then called the key Compromised, but the server would still activate
// it: the attack is one Activate (by Keygate after a bug or a restored old status, or by any
// other client of the KMIP server) and the compromised key encrypts again. Marked compromised,
// a KMIP object must be in the server's Compromised state, from which nothing activates it.
#include <gtest/gtest.h>

#include "backends/kmip/kmip_backend.h"
#include "support/pykmip_server.h"

namespace keygate::backends::kmip {
namespace {

TEST(KmipCompromiseTest, APreActiveKeyMarkedCompromisedCanNeverBeActivated) {
  auto server = keygate::testing::PyKmipServer::start();
  ASSERT_TRUE(server.ok()) << server.error().toString();
  auto cert = (*server)->clientCert("keygate");
  ASSERT_TRUE(cert.ok()) << cert.error().toString();
  TlsOptions o;
  o.host = "127.0.0.1";
  o.port = (*server)->port();
  o.caFile = (*server)->caFile();
  o.certFile = cert->certFile;
  o.keyFile = cert->keyFile;
  o.timeout = std::chrono::seconds(20);
  auto c = tlsConnector(o);
  ASSERT_TRUE(c.ok()) << c.error().toString();
  KmipBackend b(std::make_unique<KmipClient>(std::move(*c)), KmipBackendOptions{"kmip"});

  for (auto [uid, algorithm, purpose] : {std::tuple{"pre-aes", Algorithm::kAes256, Purpose::kEncrypt},
                                         std::tuple{"pre-rsa", Algorithm::kRsa3072, Purpose::kSign}}) {
    KeySpec s{KeyRef{"tenant-a", uid, 1}, purpose, algorithm};
    ASSERT_TRUE(b.generate(s).ok()) << uid;
    ASSERT_TRUE(b.markCompromised(s).ok()) << uid;
    // The attack: activate the "compromised" key on the server.
    auto activated = b.activate(s);
    EXPECT_FALSE(activated.ok()) << uid << ": the KMIP server activated a key Keygate marked compromised";
    if (!activated.ok()) {
      EXPECT_EQ(activated.error().code, ErrorCode::kFailedPrecondition);
      EXPECT_NE(activated.error().message.find("Compromised"), std::string::npos) << activated.error().message;
    }
    auto test = b.selfTest(s);
    EXPECT_TRUE(!test.ok() || !test->passed) << uid << ": the compromised key still works";
    // Idempotent: a retried reconcile marks it again without error.
    EXPECT_TRUE(b.markCompromised(s).ok()) << uid;
  }
}

}  // namespace
}  // namespace keygate::backends::kmip

// Crypto API Batch: many calls in one round trip, each authorized, checked, audited and
// answered on its own (through gRPC, TokenReview and SoftHSM2 like the unary tests).
#include "integration/dataplane/crypto_fixture.h"

namespace keygate::dataplane::testing {
namespace {

v1::Call* encryptCall(v1::BatchRequest& b, uint64_t id, const std::string& key, const std::string& pt) {
  auto* c = b.add_calls();
  c->set_id(id);
  c->mutable_encrypt()->set_key(key);
  c->mutable_encrypt()->set_plaintext(pt);
  return c;
}

std::string errorOf(const v1::CallResult& r) {
  return r.has_error() ? std::to_string(r.error().code()) + " " + r.error().message() : "(no error)";
}

TEST_F(CryptoApiTest, BatchAnswersEachCallInOrderWithItsOwnResultOrError) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  addKey("tenant-a", "signer", "Sign", "EC-P256", {{1, "Active"}});
  addKey("tenant-a", "pre", "Encrypt", "AES-256", {{1, "PreActive"}});
  addKey("tenant-b", "secret", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  bindKeyUser("tenant-b", "users", serviceAccount("tenant-b", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));
  const std::string digest = sha256("release-1.2.3");

  v1::BatchRequest b;
  encryptCall(b, 7, "tenant-a/weights", "row 7");
  auto* dk = b.add_calls();
  dk->set_id(8);
  dk->mutable_generate_data_key()->set_key("tenant-a/weights");
  auto* sign = b.add_calls();
  sign->set_id(9);
  sign->mutable_sign()->set_key("tenant-a/signer");
  sign->mutable_sign()->set_digest(digest);
  encryptCall(b, 10, "tenant-a/pre", "x");       // PreActive
  encryptCall(b, 11, "tenant-a/signer", "x");    // wrong purpose
  encryptCall(b, 12, "tenant-b/secret", "x");    // another tenant's key
  b.add_calls()->set_id(13);                      // no method
  auto* garbage = b.add_calls();
  garbage->set_id(14);
  garbage->mutable_decrypt()->set_key("tenant-a/weights");
  garbage->mutable_decrypt()->set_ciphertext("not a keygate ciphertext");

  auto r = c->batch(b);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  ASSERT_EQ(r->results_size(), 8);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r->results(i).id(), b.calls(i).id()) << i;
  ASSERT_TRUE(r->results(0).has_encrypt()) << errorOf(r->results(0));
  EXPECT_EQ(r->results(0).encrypt().key_version(), "tenant-a/weights@1");
  ASSERT_TRUE(r->results(1).has_generate_data_key()) << errorOf(r->results(1));
  EXPECT_EQ(r->results(1).generate_data_key().plaintext().size(), 32u);
  ASSERT_TRUE(r->results(2).has_sign()) << errorOf(r->results(2));
  auto expectError = [&](int i, int code, const std::string& text) {
    ASSERT_TRUE(r->results(i).has_error()) << i;
    EXPECT_EQ(r->results(i).error().code(), code) << i << ": " << errorOf(r->results(i));
    EXPECT_NE(r->results(i).error().message().find(text), std::string::npos) << i << ": " << errorOf(r->results(i));
  };
  expectError(3, 9 /* FAILED_PRECONDITION */, "PreActive (version 1 is PreActive)");
  expectError(4, 9, "has purpose Sign");
  expectError(5, 7 /* PERMISSION_DENIED */, "");
  expectError(6, 3 /* INVALID_ARGUMENT */, "names no method");
  expectError(7, 3, "");

  // The results are real: a second batch decrypts, unwraps and verifies them.
  v1::BatchRequest back;
  auto* d1 = back.add_calls();
  d1->mutable_decrypt()->set_key("tenant-a/weights");
  d1->mutable_decrypt()->set_ciphertext(r->results(0).encrypt().ciphertext());
  auto* d2 = back.add_calls();
  d2->mutable_decrypt()->set_key("tenant-a/weights");
  d2->mutable_decrypt()->set_ciphertext(r->results(1).generate_data_key().ciphertext());
  auto* v = back.add_calls();
  v->mutable_verify()->set_key("tenant-a/signer");
  v->mutable_verify()->set_digest(digest);
  v->mutable_verify()->set_signature(r->results(2).sign().signature());
  auto again = c->batch(back);
  ASSERT_TRUE(again.ok()) << again.error().toString();
  ASSERT_EQ(again->results_size(), 3);
  ASSERT_TRUE(again->results(0).has_decrypt()) << errorOf(again->results(0));
  EXPECT_EQ(again->results(0).decrypt().plaintext(), "row 7");
  ASSERT_TRUE(again->results(1).has_decrypt()) << errorOf(again->results(1));
  EXPECT_EQ(again->results(1).decrypt().plaintext(), r->results(1).generate_data_key().plaintext());
  ASSERT_TRUE(again->results(2).has_verify()) << errorOf(again->results(2));
  EXPECT_TRUE(again->results(2).verify().valid());

  // Each refusal is audited as its unary call would be, and every call that reached the
  // service was counted (the call without a method never did).
  std::vector<std::string> reasons;
  for (const auto& a : audit("KeyUseDenied")) reasons.push_back(getString(a, "reason") + ":" + getString(a, "key"));
  EXPECT_EQ(reasons, (std::vector<std::string>{"WrongState:pre", "WrongPurpose:signer", "OtherTenant:secret"}));
  std::lock_guard<std::mutex> lock(callsMu_);
  EXPECT_EQ(calls_.size(), 7u + 3u);
}

TEST_F(CryptoApiTest, BatchRefusesBadCredentialsEmptyAndOversizedBatchesAsAWhole) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  v1::BatchRequest one;
  encryptCall(one, 1, "tenant-a/weights", "x");

  auto anonymous = client("")->batch(one);
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.error().code, ErrorCode::kUnauthenticated);
  auto wrongAudience = client(serviceAccountToken("tenant-a", "app", "vault"))->batch(one);
  ASSERT_FALSE(wrongAudience.ok());
  EXPECT_EQ(wrongAudience.error().code, ErrorCode::kUnauthenticated);
  auto denied = audit("KeyUseDenied");
  ASSERT_EQ(denied.size(), 2u);
  EXPECT_EQ(getString(denied[0], "reason"), "Unauthenticated");
  EXPECT_EQ(getString(denied[0], "key"), "weights");

  auto c = client(serviceAccountToken("tenant-a", "app"));
  auto empty = c->batch(v1::BatchRequest());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(empty.error().message.find("1..256 calls; this one has 0"), std::string::npos) << empty.error().message;
  v1::BatchRequest tooMany;
  for (int i = 0; i < 257; ++i) encryptCall(tooMany, i, "tenant-a/weights", "x");
  auto many = c->batch(tooMany);
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(many.error().message.find("this one has 257"), std::string::npos) << many.error().message;
  // A request over the message limit is refused by gRPC before any call runs.
  v1::BatchRequest huge;
  for (int i = 0; i < 5; ++i) encryptCall(huge, i, "tenant-a/weights", std::string(65536, 'h'));
  auto big = c->batch(huge);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, ErrorCode::kResourceExhausted);
  {
    std::lock_guard<std::mutex> lock(callsMu_);
    for (const auto& rec : calls_) EXPECT_NE(rec.code, ErrorCode::kOk) << "no call may have run";
  }
  // And the server goes on serving.
  auto fine = c->batch(one);
  ASSERT_TRUE(fine.ok()) << fine.error().toString();
  EXPECT_TRUE(fine->results(0).has_encrypt());
}

// A response can outgrow its request (each ciphertext is longer than its plaintext): calls
// whose answer might not fit are not run and say so, the rest is answered.
TEST_F(CryptoApiTest, BatchWhoseResponseWouldOutgrowTheLimitRunsOnlyWhatFits) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  auto c = client(serviceAccountToken("tenant-a", "app"));
  v1::BatchRequest b;
  for (int i = 0; i < 250; ++i) encryptCall(b, i, "tenant-a/weights", std::string(1000, 'p'));
  ASSERT_LT(b.ByteSizeLong(), 4u * 65536 + 4096);
  auto r = c->batch(b);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  ASSERT_EQ(r->results_size(), 250);
  int answered = 0;
  while (answered < 250 && r->results(answered).has_encrypt()) ++answered;
  EXPECT_GT(answered, 200);
  EXPECT_LT(answered, 250);
  for (int i = answered; i < 250; ++i) {
    ASSERT_TRUE(r->results(i).has_error()) << i;
    EXPECT_EQ(r->results(i).error().code(), 8 /* RESOURCE_EXHAUSTED */) << i;
    EXPECT_NE(r->results(i).error().message().find("not run"), std::string::npos) << errorOf(r->results(i));
  }
  std::lock_guard<std::mutex> lock(callsMu_);
  EXPECT_EQ(calls_.size(), static_cast<size_t>(answered)) << "the calls not run never reached the HSM";
}

// The per-namespace rate limit applies to each call of a batch; a replica that does not
// serve refuses the whole batch.
TEST_F(CryptoApiLimitTest, BatchCallsEachTakeFromTheRateLimitAndAStandbyRefusesTheBatch) {
  addKey("tenant-a", "weights", "Encrypt", "AES-256", {{1, "Active"}});
  bindKeyUser("tenant-a", "users", serviceAccount("tenant-a", "app"));
  const std::string token = serviceAccountToken("tenant-a", "app");
  v1::BatchRequest b;
  for (int i = 0; i < 5; ++i) encryptCall(b, i, "tenant-a/weights", "x");
  auto r = client(token)->batch(b);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(r->results(i).has_encrypt()) << i << ": " << errorOf(r->results(i));
  for (int i = 3; i < 5; ++i) {
    EXPECT_EQ(r->results(i).error().code(), 8 /* RESOURCE_EXHAUSTED */) << i;
    EXPECT_NE(r->results(i).error().message().find("rate limit"), std::string::npos) << errorOf(r->results(i));
  }

  GrpcServerOptions o;
  o.address = "127.0.0.1:0";
  o.serving = [] { return Status(makeError(ErrorCode::kUnavailable, "this replica is not the leader; retry")); };
  auto standby = GrpcServer::start(o, *authn_, *service_);
  ASSERT_TRUE(standby.ok()) << standby.error().toString();
  CryptoClientOptions co;
  co.target = "127.0.0.1:" + std::to_string((*standby)->port());
  co.insecure = true;
  co.token = token;
  auto sc = CryptoClient::connect(co);
  ASSERT_TRUE(sc.ok());
  auto refused = (*sc)->batch(b);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message.find("not the leader"), std::string::npos) << refused.error().message;
  (*standby)->stop(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace keygate::dataplane::testing

// Security finding 2 (issue 16): the approval-signing key could fork. Two replicas starting
// together each read "no key", each generated one, and the second write overwrote the first:
// approvals signed by one replica then failed on the other. The attack is timing only: each
// replica's read of the Secret returns only once both have read (a barrier around the real
// store), then both write to the test API server.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <filesystem>
#include <memory>
#include <thread>

#include "backends/file_secret_store.h"
#include "controllers/credential_secrets.h"
#include "controllers/kube_secret_store.h"
#include "controllers/signing_key.h"
#include "support/temp_dir.h"
#include "support/test_api_server.h"

namespace keygate::controllers {
namespace {

// The real store, with get() answering only once both replicas have read: the interleaving
// of two replicas starting at the same instant, made certain.
class BothReadFirst final : public backends::SecretStore {
 public:
  BothReadFirst(backends::SecretStore& inner, std::shared_ptr<std::barrier<>> barrier)
      : inner_(inner), barrier_(std::move(barrier)) {}
  Result<std::optional<backends::SecretValue>> get(std::string_view name) override {
    auto r = inner_.get(name);
    if (first_.exchange(false)) barrier_->arrive_and_wait();
    return r;
  }
  Status put(std::string_view name, const backends::SecretValue& v) override { return inner_.put(name, v); }
  Result<backends::SecretValue> putIfAbsent(std::string_view name, const backends::SecretValue& v) override {
    return inner_.putIfAbsent(name, v);
  }
  Result<bool> replace(std::string_view name, const backends::SecretValue& e, const backends::SecretValue& n) override {
    return inner_.replace(name, e, n);
  }

 private:
  backends::SecretStore& inner_;
  std::shared_ptr<std::barrier<>> barrier_;
  std::atomic<bool> first_{true};
};

// The pattern the operator used before (and a naive fix would): get, generate, put.
Result<std::string> getThenPut(backends::SecretStore& store, const std::string& mine) {
  ASSIGN_OR_RETURN(auto stored, store.get(kSigningKeySecret));
  if (stored) return stored->value();
  RETURN_IF_ERROR(store.put(kSigningKeySecret, backends::SecretValue(mine)));
  return mine;
}

class SigningKeyRaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    api_ = std::move(*s);
  }
  std::unique_ptr<testing::TestApiServer> api_;
};

TEST_F(SigningKeyRaceTest, GetThenPutForksTheKeyTheAttackReproduces) {
  KubeSecretStore ra(api_->adminClient(), "keygate-system", kApprovalSigningSecretName),
      rb(api_->adminClient(), "keygate-system", kApprovalSigningSecretName);
  auto barrier = std::make_shared<std::barrier<>>(2);
  BothReadFirst a(ra, barrier), b(rb, barrier);
  Result<std::string> ka = std::string(), kb = std::string();
  std::thread ta([&] { ka = getThenPut(a, "key-of-replica-a"); });
  std::thread tb([&] { kb = getThenPut(b, "key-of-replica-b"); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ka.ok() && kb.ok());
  // Each replica believes its own key is the one: the fork.
  EXPECT_NE(*ka, *kb);
}

TEST_F(SigningKeyRaceTest, ReplicasStartingTogetherAgreeOnOneKey) {
  KubeSecretStore ra(api_->adminClient(), "keygate-system", kApprovalSigningSecretName),
      rb(api_->adminClient(), "keygate-system", kApprovalSigningSecretName);
  auto barrier = std::make_shared<std::barrier<>>(2);
  BothReadFirst a(ra, barrier), b(rb, barrier);
  const WallTime now = realClock().now();
  Result<LoadedKeyring> ka = LoadedKeyring{}, kb = LoadedKeyring{};
  std::thread ta([&] { ka = loadOrCreateSigningKeyring(a, now); });
  std::thread tb([&] { kb = loadOrCreateSigningKeyring(b, now); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ka.ok()) << ka.error().toString();
  ASSERT_TRUE(kb.ok()) << kb.error().toString();
  ASSERT_EQ(ka->keys.size(), 1u);
  EXPECT_EQ(ka->keys, kb->keys) << "the replicas use different approval-signing keys";
  EXPECT_NE(ka->generatedHere, kb->generatedHere) << "exactly one replica's key won";
  // A restart reads it back.
  auto again = loadOrCreateSigningKeyring(b, now);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->keys, ka->keys);
  EXPECT_FALSE(again->generatedHere);
}

// putIfAbsent never overwrites, whatever the store; many writers agree on the first value.
TEST(SecretStorePutIfAbsent, NeverOverwritesAndWritersAgree) {
  testing::TempDir dir("keygate-secrets");
  auto file = backends::FileSecretStore::open(dir.path() + "/s");
  ASSERT_TRUE(file.ok());
  auto mem = std::make_shared<backends::MemorySecretStore>();
  for (backends::SecretStore* store : {static_cast<backends::SecretStore*>(file->get()), static_cast<backends::SecretStore*>(mem.get())}) {
    std::vector<std::string> got(8);
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; ++i)
      ts.emplace_back([&, i] {
        auto r = store->putIfAbsent("pin", backends::SecretValue("value-" + std::to_string(i)));
        got[i] = r.ok() ? r->value() : "error: " + r.error().message;
      });
    for (auto& t : ts) t.join();
    for (const auto& g : got) EXPECT_EQ(g, got[0]);
    EXPECT_EQ(got[0].rfind("value-", 0), 0u) << got[0];
    auto later = store->putIfAbsent("pin", backends::SecretValue("late"));
    ASSERT_TRUE(later.ok());
    EXPECT_EQ(later->value(), got[0]);
  }
  // No temporary files left behind in the store's directory.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/s")) {
    ++files;
    EXPECT_EQ(e.path().filename(), "pin");
  }
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace keygate::controllers

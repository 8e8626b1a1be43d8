// Security finding 3 (issue 16): one Secret held everything. The approval-signing key and
// every tenant token's SO and user PINs were data keys of keygate-backend-credentials, and the
// operator could read every Secret in its namespace. Now:
//   - each kind of credential has its own Secret (backends::SecretKind), so a copy of one (a
//     backup, a mis-scoped Role) hands out nothing else;
//   - the operator's Role names those Secrets (resourceNames) and reads no other;
//   - the SO PIN is read only to create a token or finish an interrupted one, never to use one;
//   - the single Secret of earlier releases is moved into the three and deleted at start,
//     never losing a value.
#include <gmock/gmock.h>

#include <atomic>

#include "backends/split_secret_store.h"
#include "controllers/credential_secrets.h"
#include "controllers/kube_secret_store.h"
#include "kube/resource.h"
#include "support/deploy_rbac.h"
#include "support/softhsm_env.h"
#include "support/temp_dir.h"
#include "support/test_api_server.h"

namespace keygate::security {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using controllers::base64Encode;

const char* kNs = "keygate-system";

Json secret(const std::string& name, const std::map<std::string, std::string>& data) {
  Json d = Json::object();
  for (const auto& [k, v] : data) d[k] = base64Encode(v);
  return {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", name}}}, {"type", "Opaque"}, {"data", d}};
}

std::vector<std::string> dataKeys(kube::Client& c, const std::string& name) {
  std::vector<std::string> out;
  auto s = c.get(kube::resources::secrets(), kNs, name);
  if (!s.ok()) return {"<" + s.error().toString() + ">"};
  for (const auto& [k, v] : (*s)["data"].items()) out.push_back(k);
  return out;
}

class CredentialsSplitTest : public e2e::DeployRbacTest {};

// The attack: whoever holds the operator's token reads every Secret in keygate-system (the
// webhook's and crypto API's TLS keys, anything a platform team put there). With deploy/'s
// Role it reads its three credential Secrets and nothing else.
TEST_F(CredentialsSplitTest, OperatorIdentityReadsOnlyItsOwnCredentialSecrets) {
  ASSERT_TRUE(admin_->create(kube::resources::secrets(), kNs, secret("keygate-webhook-tls", {{"tls.key", "PRIVATE"}})).ok());
  auto tls = operator_->get(kube::resources::secrets(), kNs, "keygate-webhook-tls");
  ASSERT_FALSE(tls.ok()) << "the operator's identity read the webhook's TLS key";
  EXPECT_EQ(tls.error().code, ErrorCode::kPermissionDenied) << tls.error().toString();
  auto list = operator_->list(kube::resources::secrets(), kNs);
  ASSERT_FALSE(list.ok()) << "the operator's identity listed Secrets";
  EXPECT_EQ(list.error().code, ErrorCode::kPermissionDenied);
  auto elsewhere = operator_->get(kube::resources::secrets(), "default", "anything");
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_EQ(elsewhere.error().code, ErrorCode::kPermissionDenied);

  // What it needs works under the same rules: create, read back, add a value.
  auto stores = controllers::kubeCredentialStores(operator_, kNs);
  ASSERT_TRUE(stores->putIfAbsent("p11.tenant-a.user-pin", backends::SecretValue("1111")).ok());
  ASSERT_TRUE(stores->putIfAbsent("p11.tenant-a.so-pin", backends::SecretValue("2222")).ok());
  ASSERT_TRUE(stores->putIfAbsent("approval-signing-keys", backends::SecretValue("{}")).ok());
  ASSERT_TRUE(stores->putIfAbsent("p11.tenant-b.user-pin", backends::SecretValue("3333")).ok());
  auto got = stores->get("p11.tenant-b.user-pin");
  ASSERT_TRUE(got.ok() && got->has_value()) << (got.ok() ? "absent" : got.error().toString());
  EXPECT_EQ((*got)->value(), "3333");
}

// Each Secret holds one kind: the user PINs' Secret carries no SO PIN and no signing key.
TEST_F(CredentialsSplitTest, EachKindOfCredentialHasASecretOfItsOwn) {
  auto stores = controllers::kubeCredentialStores(operator_, kNs);
  for (const char* name : {"p11.tenant-a.user-pin", "p11.tenant-a.so-pin", "p11.tenant-b.user-pin", "p11.tenant-b.so-pin",
                           "approval-signing-keys"})
    ASSERT_TRUE(stores->putIfAbsent(name, backends::SecretValue(std::string("v-") + name)).ok()) << name;
  EXPECT_THAT(dataKeys(*admin_, controllers::kUserPinsSecretName),
              UnorderedElementsAre("p11.tenant-a.user-pin", "p11.tenant-b.user-pin"));
  EXPECT_THAT(dataKeys(*admin_, controllers::kSoPinsSecretName),
              UnorderedElementsAre("p11.tenant-a.so-pin", "p11.tenant-b.so-pin"));
  EXPECT_THAT(dataKeys(*admin_, controllers::kApprovalSigningSecretName), UnorderedElementsAre("approval-signing-keys"));
  // A name of no known kind lands nowhere.
  auto stray = stores->put("tenant-a.token", backends::SecretValue("x"));
  ASSERT_FALSE(stray.ok());
  EXPECT_THAT(stray.error().message, HasSubstr("no known kind"));
}

// An upgrade from the single Secret: every value is moved (as the operator's identity, under
// deploy/'s Role), the old Secret is deleted, and a second start finds nothing to move.
TEST_F(CredentialsSplitTest, LegacySecretIsMovedIntoTheThreeAndDeleted) {
  ASSERT_TRUE(admin_->create(kube::resources::secrets(), kNs,
                             secret(controllers::kLegacyCredentialsSecretName,
                                    {{"approval-signing-key", "K-32-bytes-of-signing-key-000000"},
                                     {"p11.tenant-a.user-pin", "1111"},
                                     {"p11.tenant-a.so-pin", "2222"}}))
                  .ok());
  auto stores = controllers::kubeCredentialStores(operator_, kNs);
  auto moved = controllers::migrateLegacyCredentials(*operator_, kNs, *stores);
  ASSERT_TRUE(moved.ok()) << moved.error().toString();
  EXPECT_EQ(*moved, 3);
  EXPECT_EQ(admin_->get(kube::resources::secrets(), kNs, controllers::kLegacyCredentialsSecretName).error().code,
            ErrorCode::kNotFound);
  EXPECT_THAT(dataKeys(*admin_, controllers::kUserPinsSecretName), UnorderedElementsAre("p11.tenant-a.user-pin"));
  EXPECT_THAT(dataKeys(*admin_, controllers::kSoPinsSecretName), UnorderedElementsAre("p11.tenant-a.so-pin"));
  EXPECT_THAT(dataKeys(*admin_, controllers::kApprovalSigningSecretName), UnorderedElementsAre("approval-signing-key"));
  auto pin = stores->get("p11.tenant-a.user-pin");
  ASSERT_TRUE(pin.ok() && pin->has_value());
  EXPECT_EQ((*pin)->value(), "1111");
  auto again = controllers::migrateLegacyCredentials(*operator_, kNs, *stores);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

// Two different PINs for one token: the operator refuses to start and deletes nothing,
// because either may be the one the token was initialised with.
TEST_F(CredentialsSplitTest, ConflictingValuesStopTheMoveAndKeepBoth) {
  ASSERT_TRUE(admin_->create(kube::resources::secrets(), kNs,
                             secret(controllers::kLegacyCredentialsSecretName, {{"p11.tenant-a.user-pin", "1111"}}))
                  .ok());
  ASSERT_TRUE(admin_->create(kube::resources::secrets(), kNs,
                             secret(controllers::kUserPinsSecretName, {{"p11.tenant-a.user-pin", "9999"}}))
                  .ok());
  auto stores = controllers::kubeCredentialStores(operator_, kNs);
  auto moved = controllers::migrateLegacyCredentials(*operator_, kNs, *stores);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(moved.error().message, HasSubstr("p11.tenant-a.user-pin"));
  EXPECT_THAT(moved.error().message, ::testing::Not(HasSubstr("1111")));
  EXPECT_THAT(moved.error().message, ::testing::Not(HasSubstr("9999")));
  EXPECT_TRUE(admin_->get(kube::resources::secrets(), kNs, controllers::kLegacyCredentialsSecretName).ok());
  auto pin = stores->get("p11.tenant-a.user-pin");
  ASSERT_TRUE(pin.ok() && pin->has_value());
  EXPECT_EQ((*pin)->value(), "9999");
}

// Counts reads per kind of secret.
class CountingStore final : public backends::SecretStore {
 public:
  explicit CountingStore(backends::SecretStorePtr inner) : inner_(std::move(inner)) {}
  Result<std::optional<backends::SecretValue>> get(std::string_view name) override {
    if (auto k = backends::secretKindOf(name); k.ok() && *k == backends::SecretKind::kSoPin) ++soReads;
    return inner_->get(name);
  }
  Status put(std::string_view n, const backends::SecretValue& v) override { return inner_->put(n, v); }
  Result<backends::SecretValue> putIfAbsent(std::string_view n, const backends::SecretValue& v) override {
    return inner_->putIfAbsent(n, v);
  }
  Result<bool> replace(std::string_view n, const backends::SecretValue& e, const backends::SecretValue& v) override {
    return inner_->replace(n, e, v);
  }
  std::atomic<int> soReads{0};

 private:
  backends::SecretStorePtr inner_;
};

// The SO PIN can re-initialise a token (erasing its keys) and reset its user PIN; it has no
// business being read when a token is only used. A restarted operator opening an existing
// tenant token (SoftHSM2) reads the user PIN only.
TEST(SoPinUse, ReadOnlyToCreateATokenNeverToUseOne) {
  auto& env = backends::testing::SoftHsmEnv::get();
  const std::string ns = backends::testing::uniqueNamespace("so-pin");
  backends::KeySpec k{backends::KeyRef{ns, backends::testing::uniqueUid(), 1}, backends::Purpose::kEncrypt,
                      backends::Algorithm::kAes256};
  {
    auto counting = std::make_shared<CountingStore>(env.secrets());
    auto first = env.openBackend(counting);
    ASSERT_TRUE(first->generate(k).ok());
    EXPECT_GE(counting->soReads.load(), 1) << "creating the token reads (and stores) its SO PIN";
  }
  auto counting = std::make_shared<CountingStore>(env.secrets());
  auto restarted = env.openBackend(counting);
  auto d = restarted->describe(k);
  ASSERT_TRUE(d.ok()) << d.error().toString();
  EXPECT_NE(d->state, backends::BackendKeyState::kAbsent);
  backends::KeySpec second{backends::KeyRef{ns, backends::testing::uniqueUid(), 1}, backends::Purpose::kEncrypt,
                           backends::Algorithm::kAes256};
  ASSERT_TRUE(restarted->generate(second).ok());
  EXPECT_EQ(counting->soReads.load(), 0) << "using an existing token read its SO PIN";
}

}  // namespace
}  // namespace keygate::security

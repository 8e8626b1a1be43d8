// Security finding 2, second half (issue 16): the approval-signing key could not be rotated.
// A new key made every approval signed with the old one fail (the reconciler would count none
// of them), so an exposed key stayed in use. Now the operator keeps a keyring: each signature
// names its key (hmac-sha256:<keyId>:...), a rotation adds a key that signs once every
// replica has read it, older keys keep verifying, and retiring a key voids what it signed.
// `keygate signing-key list|rotate|retire` is the command for it.
#include <gmock/gmock.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "api/v1alpha1/approval_signing.h"
#include "backends/file_secret_store.h"
#include "controllers/credential_secrets.h"
#include "controllers/kube_secret_store.h"
#include "controllers/signing_key.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"
#include "support/test_api_server.h"

namespace keygate::security {
namespace {

using ::testing::HasSubstr;
namespace av1 = api::v1alpha1;
using controllers::kSigningKeyPropagation;

av1::SignedFields approval(const std::string& who) {
  return {"req-uid-1", "key-uid-1", "sha256:abc", who, "Approve", "2026-12-06T09:00:00Z"};
}

std::string keyIdOf(const std::string& signature) {
  std::string rest = signature.substr(std::string(av1::kSignaturePrefix).size());
  size_t colon = rest.find(':');
  return colon == std::string::npos ? "" : rest.substr(0, colon);
}

// A replica: its own view of the keyring, refreshed from the shared store.
struct Replica {
  Replica(backends::SecretStore& s, const Clock& clock)
      : store(s), ring(std::make_shared<av1::SigningKeyring>(kSigningKeyPropagation, &clock)), signer(ring) {}
  void refresh() {
    auto r = controllers::refreshSigningKeyring(store, *ring);
    ASSERT_TRUE(r.ok()) << r.error().toString();
  }
  backends::SecretStore& store;
  std::shared_ptr<av1::SigningKeyring> ring;
  av1::ApprovalSigner signer;
};

TEST(SigningKeyRotation, ApprovalsSignedBeforeARotationStillVerifyAndRetiringVoidsThem) {
  testing::FakeClock clock;
  backends::MemorySecretStore store;
  auto loaded = controllers::loadOrCreateSigningKeyring(store, clock.now());
  ASSERT_TRUE(loaded.ok()) << loaded.error().toString();
  ASSERT_TRUE(loaded->generatedHere);
  Replica a(store, clock), b(store, clock);
  a.refresh();
  b.refresh();
  const std::string before = a.signer.sign(approval("alice"));
  const std::string firstId = keyIdOf(before);
  ASSERT_EQ(firstId.size(), 8u) << before;
  ASSERT_TRUE(b.signer.verify(approval("alice"), before));

  // The defect this replaces: a fresh key alone does not verify what the old one signed.
  auto replaced = av1::generateSigningKey();
  ASSERT_TRUE(replaced.ok());
  EXPECT_FALSE(av1::ApprovalSigner(*replaced).verify(approval("alice"), before));

  clock.advance(std::chrono::hours(24 * 30));
  auto added = controllers::rotateSigningKey(store, clock.now());
  ASSERT_TRUE(added.ok()) << added.error().toString();
  EXPECT_TRUE(added->key.empty()) << "rotate must not hand the key bytes back";
  a.refresh();
  // Until every replica can have read the new key, the old one keeps signing.
  EXPECT_EQ(keyIdOf(a.signer.sign(approval("bob"))), firstId);
  clock.advance(kSigningKeyPropagation);
  b.refresh();
  const std::string after = a.signer.sign(approval("bob"));
  EXPECT_EQ(keyIdOf(after), added->id);
  EXPECT_TRUE(b.signer.verify(approval("bob"), after)) << "a replica that refreshed verifies the new key's signatures";
  EXPECT_TRUE(b.signer.verify(approval("alice"), before)) << "an approval signed before the rotation no longer counts";
  EXPECT_FALSE(b.signer.verify(approval("mallory"), before)) << "the signature covers the approver";

  // The old key was exposed: retire it. What it signed counts no more; its bytes are gone.
  ASSERT_TRUE(controllers::retireSigningKey(store, firstId, clock.now()).ok());
  b.refresh();
  EXPECT_FALSE(b.signer.verify(approval("alice"), before));
  EXPECT_TRUE(b.signer.verify(approval("bob"), after));
  auto keys = controllers::readSigningKeyring(store);
  ASSERT_TRUE(keys.ok());
  for (const auto& k : *keys)
    if (k.id == firstId) {
      EXPECT_TRUE(k.retired.has_value());
      EXPECT_TRUE(k.key.empty()) << "a retired key's bytes stay in the store";
    }
  // The last key cannot be retired: nothing could sign.
  auto last = controllers::retireSigningKey(store, added->id, clock.now());
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code, ErrorCode::kFailedPrecondition);
  // Rotate, then retire at once: the new key signs immediately when it is the only one left.
  auto third = controllers::rotateSigningKey(store, clock.now());
  ASSERT_TRUE(third.ok());
  ASSERT_TRUE(controllers::retireSigningKey(store, added->id, clock.now()).ok());
  a.refresh();
  EXPECT_EQ(keyIdOf(a.signer.sign(approval("carol"))), third->id);
}

// Approvals stamped by a release before rotation carry no key id. The keyring is created from
// that release's key, which keeps verifying them until it is retired.
TEST(SigningKeyRotation, SignaturesWithoutAKeyIdFromTheEarlierSingleKeyStillVerify) {
  testing::FakeClock clock;
  backends::MemorySecretStore store;
  auto old = av1::generateSigningKey();
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE(store.put(controllers::kSigningKeySecret, backends::SecretValue(*old)).ok());
  const std::string unversioned = av1::ApprovalSigner(*old).sign(approval("alice"));
  ASSERT_EQ(keyIdOf(unversioned), "");

  auto loaded = controllers::loadOrCreateSigningKeyring(store, clock.now());
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->fromUnversioned);
  EXPECT_FALSE(loaded->generatedHere);
  Replica r(store, clock);
  r.refresh();
  EXPECT_TRUE(r.signer.verify(approval("alice"), unversioned));
  const std::string stamped = r.signer.sign(approval("bob"));
  EXPECT_EQ(keyIdOf(stamped), loaded->keys.at(0).id) << "the carried-over key signs with its new key id";

  auto added = controllers::rotateSigningKey(store, clock.now());
  ASSERT_TRUE(added.ok());
  ASSERT_TRUE(controllers::retireSigningKey(store, loaded->keys.at(0).id, clock.now()).ok());
  r.refresh();
  EXPECT_FALSE(r.signer.verify(approval("alice"), unversioned));
  // A forged key id or an empty one verifies nothing.
  std::string forged = std::string(av1::kSignaturePrefix) + added->id + ":" + stamped.substr(stamped.rfind(':') + 1);
  EXPECT_FALSE(r.signer.verify(approval("bob"), forged));
  EXPECT_FALSE(r.signer.verify(approval("bob"), std::string(av1::kSignaturePrefix) + ":" + stamped.substr(stamped.rfind(':') + 1)));
}

// Two operators of the platform team rotating at once: compare-and-swap on the stored keyring,
// so neither new key is lost (a lost key would void the approvals it signed).
TEST(SigningKeyRotation, ConcurrentRotationsLoseNoKey) {
  auto api = testing::TestApiServer::start();
  ASSERT_TRUE(api.ok()) << api.error().toString();
  controllers::KubeSecretStore store((*api)->adminClient(), "keygate-system", controllers::kApprovalSigningSecretName);
  ASSERT_TRUE(controllers::loadOrCreateSigningKeyring(store, realClock().now()).ok());
  std::vector<std::string> ids[2];
  std::thread t[2];
  for (int i = 0; i < 2; ++i)
    t[i] = std::thread([&, i] {
      controllers::KubeSecretStore own((*api)->adminClient(), "keygate-system", controllers::kApprovalSigningSecretName);
      for (int n = 0; n < 5; ++n) {
        auto e = controllers::rotateSigningKey(own, realClock().now());
        if (e.ok()) ids[i].push_back(e->id);
        else ADD_FAILURE() << e.error().toString();
      }
    });
  for (auto& th : t) th.join();
  auto keys = controllers::readSigningKeyring(store);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->size(), 11u);
  for (const auto& list : ids)
    for (const auto& id : list)
      EXPECT_TRUE(std::any_of(keys->begin(), keys->end(), [&](const auto& k) { return k.id == id; })) << id << " was lost";
}

struct CommandRun {
  int code;
  std::string out;
};

CommandRun keygate(const std::string& args, const std::string& scratch) {
  const std::string file = scratch + "/out.txt";
  int rc = std::system((std::string(KEYGATE_BINARY) + " signing-key " + args + " > " + file + " 2>&1").c_str());
  std::ifstream in(file);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, std::string(std::istreambuf_iterator<char>(in), {})};
}

// The command as a platform operator runs it (kubectl exec ... keygate signing-key), here on
// the file store of secretStore: file.
TEST(SigningKeyCommand, ListsRotatesAndRetiresWithClearRefusals) {
  testing::TempDir dir("keygate-signing-cmd");
  std::filesystem::create_directories(dir.path() + "/state");
  const std::string cfg = dir.write("config.yaml", "backends: [{name: softhsm, type: pkcs11, module: /m.so}]\nstateDir: " +
                                                       dir.path() + "/state\nsecretStore: {type: file}\n");
  CommandRun none = keygate("list --config " + cfg, dir.path());
  EXPECT_EQ(none.code, 1) << none.out;
  EXPECT_THAT(none.out, HasSubstr("no approval-signing keyring"));

  auto store = backends::FileSecretStore::open(dir.path() + "/state/secrets");
  ASSERT_TRUE(store.ok());
  auto loaded = controllers::loadOrCreateSigningKeyring(**store, realClock().now());
  ASSERT_TRUE(loaded.ok());
  const std::string first = loaded->keys.at(0).id;

  CommandRun rotated = keygate("rotate --config " + cfg, dir.path());
  ASSERT_EQ(rotated.code, 0) << rotated.out;
  EXPECT_THAT(rotated.out, HasSubstr("added approval-signing key "));
  CommandRun listed = keygate("list --config " + cfg, dir.path());
  ASSERT_EQ(listed.code, 0) << listed.out;
  EXPECT_THAT(listed.out, HasSubstr(first + "  "));
  EXPECT_THAT(listed.out, HasSubstr("signing"));
  EXPECT_THAT(listed.out, HasSubstr("verifying (signs from "));
  EXPECT_EQ(listed.out.find(av1::base64Encode(loaded->keys.at(0).key)), std::string::npos) << "list printed key bytes";

  CommandRun retired = keygate("retire " + first + " --config " + cfg, dir.path());
  EXPECT_EQ(retired.code, 0) << retired.out;
  CommandRun unknown = keygate("retire 00000000 --config " + cfg, dir.path());
  EXPECT_EQ(unknown.code, 1) << unknown.out;
  EXPECT_THAT(unknown.out, HasSubstr("no approval-signing key 00000000"));
  auto keys = controllers::readSigningKeyring(**store);
  ASSERT_TRUE(keys.ok());
  std::string lastId;
  for (const auto& k : *keys)
    if (!k.retired) lastId = k.id;
  CommandRun lastOne = keygate("retire " + lastId + " --config " + cfg, dir.path());
  EXPECT_EQ(lastOne.code, 1) << lastOne.out;
  EXPECT_THAT(lastOne.out, HasSubstr("rotate first"));
  CommandRun badConfig = keygate("list --config " + dir.write("bad.yaml", "backends: 7\n"), dir.path());
  EXPECT_EQ(badConfig.code, 2) << badConfig.out;
}

}  // namespace
}  // namespace keygate::security

// Pure pieces of this session's security work: the stored approval-signing keyring's codec
// (bad input is refused with a reason, never half-read), when a key's next drift scan is due,
// and which keys a Namespace change re-queues.
#include <gmock/gmock.h>

#include <set>

#include "controllers/encryption_key/reconciler.h"
#include "controllers/indexes.h"
#include "controllers/signing_key.h"
#include "kube/cache.h"

namespace keygate::controllers {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

TEST(SigningKeyringCodec, RoundTripsAndRefusesBadInput) {
  api::v1alpha1::SigningKeyEntry live{"0a1b2c3d", std::string(32, 'k'), WallTime(std::chrono::seconds(1'800'000'000)),
                                      std::nullopt, true};
  api::v1alpha1::SigningKeyEntry retired{"ffffffff", "", WallTime(std::chrono::seconds(1'700'000'000)),
                                         WallTime(std::chrono::seconds(1'800'000'000)), false};
  auto back = decodeSigningKeyring(encodeSigningKeyring({live, retired}));
  ASSERT_TRUE(back.ok()) << back.error().toString();
  EXPECT_EQ(*back, (std::vector<api::v1alpha1::SigningKeyEntry>{live, retired}));

  const std::pair<const char*, const char*> bad[] = {
      {"not json", "approval-signing keyring: not valid JSON"},
      {"{}", "no \"keys\" list"},
      {R"({"keys":[1]})", "not an object"},
      {R"({"keys":[{"id":"XYZ","key":"","created":"2026-01-01T00:00:00Z"}]})", "8 lowercase hex"},
      {R"({"keys":[{"id":"0a1b2c3d","key":"!!","created":"2026-01-01T00:00:00Z"}]})", "not base64"},
      {R"({"keys":[{"id":"0a1b2c3d","key":"","created":"yesterday"}]})", "RFC 3339"},
      {R"({"keys":[{"id":"0a1b2c3d","key":"","created":"2026-01-01T00:00:00Z"}]})", "not retired but has no key"},
      {R"({"keys":[{"id":"0a1b2c3d","key":"","created":"2026-01-01T00:00:00Z","retired":5}]})", "retired is not"},
      {R"({"keys":[{"id":"0a1b2c3d","key":"a2V5","created":"2026-01-01T00:00:00Z"},)"
       R"({"id":"0a1b2c3d","key":"a2V5","created":"2026-01-01T00:00:00Z"}]})",
       "appears twice"},
  };
  for (const auto& [text, why] : bad) {
    auto r = decodeSigningKeyring(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_THAT(r.error().message, HasSubstr(why)) << text;
  }
  // The message never quotes the stored text (it holds key bytes).
  auto r = decodeSigningKeyring(R"({"keys":[{"id":"0a1b2c3d","key":"c2VjcmV0LWtleS1ieXRlcw==",)");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, ::testing::Not(HasSubstr("c2VjcmV0")));
}

TEST(DriftScan, EachKeyOncePerIntervalAtItsOwnOffset) {
  const Duration hour = std::chrono::hours(1);
  const WallTime start(std::chrono::seconds(1'800'000'000));
  std::set<int64_t> offsets;
  for (int i = 0; i < 50; ++i) {
    const std::string uid = "uid-" + std::to_string(i);
    WallTime next = nextDriftScan(uid, start, hour);
    EXPECT_GT(next, start);
    EXPECT_LE(next, start + hour);
    // The same offset every interval: due again exactly one interval later.
    EXPECT_EQ(nextDriftScan(uid, next, hour), next + hour);
    EXPECT_EQ(nextDriftScan(uid, next - std::chrono::milliseconds(1), hour), next);
    offsets.insert(std::chrono::duration_cast<std::chrono::seconds>(next - start).count());
  }
  // Keys described together at start-up are not scanned together afterwards.
  EXPECT_GT(offsets.size(), 45u);
}

Json ns(const std::string& name, const std::string& jurisdiction) {
  Json n = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
  if (!jurisdiction.empty()) n["metadata"]["labels"] = {{"keygate.dev/jurisdiction", jurisdiction}, {"team", "a"}};
  return n;
}

TEST(NamespaceChange, RequeuesTheNamespacesKeysOnlyWhenTheJurisdictionLabelChanges) {
  kube::Cache keys;
  for (const auto& [n, name] : std::vector<std::pair<std::string, std::string>>{{"tenant-a", "k1"}, {"tenant-a", "k2"}, {"tenant-b", "k3"}})
    keys.upsert(std::make_shared<const Json>(Json{{"metadata", {{"namespace", n}, {"name", name}}}}));
  EXPECT_THAT(keysForNamespaceChange(keys, nullptr, ns("tenant-a", "eu")), UnorderedElementsAre("tenant-a/k1", "tenant-a/k2"));
  Json eu = ns("tenant-a", "eu"), us = ns("tenant-a", "us"), none = ns("tenant-a", "");
  EXPECT_THAT(keysForNamespaceChange(keys, &eu, us), UnorderedElementsAre("tenant-a/k1", "tenant-a/k2"));
  EXPECT_THAT(keysForNamespaceChange(keys, &eu, none), UnorderedElementsAre("tenant-a/k1", "tenant-a/k2"));
  Json relabelled = eu;
  relabelled["metadata"]["labels"]["team"] = "b";
  EXPECT_TRUE(keysForNamespaceChange(keys, &eu, relabelled).empty());
  EXPECT_TRUE(keysForNamespaceChange(keys, nullptr, ns("tenant-c", "")).empty());
}

}  // namespace
}  // namespace keygate::controllers

// controllers/stray_sweeper: what the informer cache accounts for in a namespace (every live
// version, the version a reconcile may be creating, the wrapping keys of an open import, the
// Destroyed versions), and how the sweeper audits and counts what a backend reports.
#include "controllers/stray_sweeper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "kube/informer.h"
#include "kube/resource.h"
#include "support/fake_clock.h"

namespace keygate::controllers {
namespace {

using backends::StrayObject;

kube::ObjectPtr key(const std::string& ns, const std::string& name, const std::string& uid, Json versions,
                    Json wrappingKey = nullptr) {
  Json k = {{"apiVersion", "keygate.dev/v1alpha1"},
            {"kind", "EncryptionKey"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"uid", uid}}},
            {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}},
            {"status", {{"versions", versions}}}};
  if (!wrappingKey.is_null()) k["status"]["wrappingKey"] = wrappingKey;
  return std::make_shared<const Json>(k);
}

bool has(const std::vector<backends::KeyRef>& refs, const std::string& uid, int version) {
  return std::any_of(refs.begin(), refs.end(), [&](const auto& r) { return r.keyUid == uid && r.version == version; });
}

TEST(StraySweeperTest, AccountsForLiveVersionsTheNextOneOpenImportsAndDestroyedVersions) {
  kube::Cache keys;
  keys.upsert(key("tenant-a", "rotated", "uid-rot",
                  Json::array({{{"version", 1}, {"state", "Destroyed"}}, {{"version", 2}, {"state", "Active"}}})));
  keys.upsert(key("tenant-a", "byok", "uid-byok", Json::array({{{"version", 1}, {"state", "Pending"}}}),
                  {{"version", 1}, {"serial", 2}, {"algorithm", "RSAES_OAEP_SHA_256"}}));
  keys.upsert(key("tenant-a", "fresh", "uid-fresh", Json::array()));
  keys.upsert(key("tenant-b", "other", "uid-other", Json::array({{{"version", 1}, {"state", "Active"}}})));

  auto acc = accountedIn(keys, "tenant-a");
  ASSERT_TRUE(acc.ok()) << acc.error().toString();
  EXPECT_TRUE(has(acc->keys, "uid-rot", 2));
  EXPECT_TRUE(has(acc->keys, "uid-rot", 3)) << "a rotation may be creating v3 right now";
  EXPECT_FALSE(has(acc->keys, "uid-rot", 1));
  EXPECT_TRUE(has(acc->destroyed, "uid-rot", 1));
  EXPECT_TRUE(has(acc->keys, "uid-fresh", 1)) << "a new key's first version, before its status is written";
  bool freshWrappingKey = false;
  for (const auto& [r, s] : acc->wrappingKeys) freshWrappingKey |= r.keyUid == "uid-fresh" && r.version == 1 && s == 1;
  EXPECT_TRUE(freshWrappingKey) << "a BYOK key's first wrapping key is made before its version is in status";
  EXPECT_TRUE(has(acc->keys, "uid-byok", 1));
  std::vector<int> serials;
  for (const auto& [r, s] : acc->wrappingKeys)
    if (r.keyUid == "uid-byok" && r.version == 1) serials.push_back(s);
  EXPECT_EQ(serials, (std::vector<int>{2, 3})) << "the open window's wrapping key and the next one";
  bool nextOfPending = false;
  for (const auto& [r, s] : acc->wrappingKeys) nextOfPending |= r.keyUid == "uid-byok" && r.version == 2 && s == 1;
  EXPECT_TRUE(nextOfPending) << "and the first of the next version";
  EXPECT_FALSE(has(acc->keys, "uid-other", 1)) << "another namespace";
}

// The index the operator keeps from informer events gives the cache's answer, through adds,
// updates, deletes and an unreadable key, without decoding anything at sweep time.
TEST(StraySweeperTest, AccountingIndexAnswersAsTheCache) {
  kube::Informer inf(nullptr, kube::resources::encryptionKeys());
  KeyAccountingIndex index;
  inf.addHandlers(index.handlers());
  inf.replace({*key("tenant-a", "rotated", "uid-rot",
                    Json::array({{{"version", 1}, {"state", "Destroyed"}}, {{"version", 2}, {"state", "Active"}}})),
               *key("tenant-a", "byok", "uid-byok", Json::array({{{"version", 1}, {"state", "Pending"}}}),
                    {{"version", 1}, {"serial", 2}, {"algorithm", "RSAES_OAEP_SHA_256"}}),
               *key("tenant-a", "gone", "uid-gone", Json::array({{{"version", 1}, {"state", "Active"}}})),
               *key("tenant-b", "other", "uid-other", Json::array({{{"version", 1}, {"state", "Active"}}}))},
              "1");
  inf.apply({kube::WatchEvent::Type::kModified,
             *key("tenant-a", "rotated", "uid-rot",
                  Json::array({{{"version", 1}, {"state", "Destroyed"}}, {{"version", 2}, {"state", "Deactivated"}},
                               {{"version", 3}, {"state", "PreActive"}}}))});
  inf.apply({kube::WatchEvent::Type::kDeleted, *key("tenant-a", "gone", "uid-gone", Json::array())});
  inf.apply({kube::WatchEvent::Type::kAdded, *key("tenant-a", "fresh", "uid-fresh", Json::array())});
  auto show = [](const Result<backends::AccountedObjects>& a) {
    if (!a.ok()) return "error: " + a.error().message;
    std::string out;
    for (const auto& r : a->keys) out += "key " + r.tenantNamespace + " " + r.keyUid + " " + std::to_string(r.version) + "\n";
    for (const auto& r : a->destroyed) out += "destroyed " + r.keyUid + " " + std::to_string(r.version) + "\n";
    for (const auto& [r, s] : a->wrappingKeys) out += "wrap " + r.keyUid + " " + std::to_string(r.version) + "#" + std::to_string(s) + "\n";
    return out;
  };
  for (const char* ns : {"tenant-a", "tenant-b", "tenant-c"})
    EXPECT_EQ(show(index.accountedIn(ns)), show(accountedIn(inf.cache(), ns))) << ns;
  EXPECT_NE(show(index.accountedIn("tenant-a")).find("key tenant-a uid-rot 4"), std::string::npos);
  EXPECT_EQ(show(index.accountedIn("tenant-a")).find("uid-gone"), std::string::npos);
  EXPECT_EQ(index.tenantsByBackend(), (std::map<std::string, std::set<std::string>>{{"softhsm", {"tenant-a", "tenant-b"}}}));
  Json bad = *key("tenant-a", "bad", "uid-bad", Json::array({{{"version", "one"}, {"state", "Active"}}}));
  inf.apply({kube::WatchEvent::Type::kAdded, bad});
  auto a = index.accountedIn("tenant-a");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(show(a), show(accountedIn(inf.cache(), "tenant-a")));
  EXPECT_TRUE(index.accountedIn("tenant-b").ok()) << "only the namespace of the unreadable key";
}

// What the accounting reads (uid, versions, the wrapping key) must be readable, or nothing in
// the tenant is called a stray; the rest of the key is not the accounting's business.
TEST(StraySweeperTest, AnUnreadableKeyMeansNothingIsAStray) {
  const std::vector<std::pair<std::string, std::function<void(Json&)>>> breakages = {
      {"status.versions[0].version: must be an integer", [](Json& k) { k["status"]["versions"][0]["version"] = "one"; }},
      {"status.versions[0].state: ", [](Json& k) { k["status"]["versions"][0]["state"] = "Gone"; }},
      {"status.versions[0].state: must be a string", [](Json& k) { k["status"]["versions"][0]["state"] = 3; }},
      {"status.versions[0]: must be an object", [](Json& k) { k["status"]["versions"][0] = "v1"; }},
      {"status.versions: must be an array", [](Json& k) { k["status"]["versions"] = "v1"; }},
      {"status: must be an object", [](Json& k) { k["status"] = 7; }},
      {"metadata.uid: must be a string", [](Json& k) { k["metadata"]["uid"] = 7; }},
      {"status.wrappingKey.serial: must be an integer", [](Json& k) { k["status"]["wrappingKey"] = {{"version", 1}, {"serial", 1.5}}; }},
      {"status.wrappingKey: must be an object", [](Json& k) { k["status"]["wrappingKey"] = Json::array(); }},
  };
  for (const auto& [message, breakIt] : breakages) {
    kube::Cache keys;
    keys.upsert(key("tenant-a", "fine", "uid-fine", Json::array({{{"version", 1}, {"state", "Active"}}})));
    Json bad = *key("tenant-a", "bad", "uid-bad", Json::array({{{"version", 1}, {"state", "Active"}}}));
    breakIt(bad);
    keys.upsert(std::make_shared<const Json>(bad));
    auto acc = accountedIn(keys, "tenant-a");
    ASSERT_FALSE(acc.ok()) << message;
    EXPECT_EQ(acc.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_NE(acc.error().message.find("tenant-a/bad cannot be read"), std::string::npos) << acc.error().message;
    EXPECT_NE(acc.error().message.find(message), std::string::npos) << acc.error().message;
    EXPECT_TRUE(KeyAccountingIndex::entryOf(bad).versions.empty()) << message;
  }
  // A spec the codec would refuse does not hide what the key accounts for.
  Json oddSpec = *key("tenant-a", "odd", "uid-odd", Json::array({{{"version", 2}, {"state", "Destroyed"}}}),
                      {{"version", 3}, {"serial", 4}});
  oddSpec["spec"]["algorithm"] = 42;
  auto e = KeyAccountingIndex::entryOf(oddSpec);
  EXPECT_EQ(e.error, "");
  EXPECT_EQ(e.uid, "uid-odd");
  ASSERT_EQ(e.versions.size(), 1u);
  EXPECT_EQ(e.versions[0].version, 2);
  EXPECT_TRUE(e.versions[0].destroyed);
  EXPECT_FALSE(e.versions[0].pending);
  EXPECT_EQ(e.wrappingVersion, 3);
  EXPECT_EQ(e.wrappingSerial, 4);
  EXPECT_EQ(e.backend, "softhsm");
}

// A backend that reports scripted strays and remembers what it was told.
class ScriptedBackend final : public backends::KeyBackend {
 public:
  std::vector<StrayObject> report;
  std::vector<std::string> swept;
  Result<backends::AccountedObjects> lastAccounted = makeError(ErrorCode::kInternal, "never asked");
  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "scripted"; }
  Result<std::vector<StrayObject>> sweepStrays(const std::string& ns, const backends::StraySweepOptions& o) override {
    swept.push_back(ns);
    lastAccounted = o.accounted();
    if (!lastAccounted.ok()) return lastAccounted.takeError();
    return report;
  }
  Result<backends::GeneratedKey> generate(const backends::KeySpec&, const backends::GenerateOptions&) override {
    return makeError(ErrorCode::kUnimplemented, "");
  }
  Status applyUsage(const backends::KeySpec&, backends::UsageState) override { return okStatus(); }
  Status destroy(const backends::KeyRef&) override { return okStatus(); }
  Result<backends::KeyDescription> describe(const backends::KeySpec&) override { return backends::KeyDescription{}; }
  Status probe() override { return okStatus(); }
  Result<backends::SelfTestResult> selfTest(const backends::KeySpec&) override { return backends::SelfTestResult{}; }

 private:
  std::string name_ = "softhsm";
};

struct RecordingAudit final : AuditSink {
  std::vector<AuditRecord> records;
  void write(const AuditRecord& r) override { records.push_back(r); }
};

TEST(StraySweeperTest, AuditsAndCountsDisabledAndDestroyedReportsRetainedAndSkipsWaiting) {
  kube::Cache keys;
  keys.upsert(key("tenant-a", "k", "uid-k", Json::array({{{"version", 1}, {"state", "PreActive"}}})));
  BackendSet set;
  auto owned = std::make_unique<ScriptedBackend>();
  ScriptedBackend* b = owned.get();
  set.add(std::move(owned));
  auto stray = [](StrayObject::Action a, std::string label) {
    StrayObject s;
    s.action = a;
    s.location = "keygate:tenant-a";
    s.objectClass = "secretKey";
    s.label = std::move(label);
    s.usage = "encrypt,decrypt";
    s.detail = "no CKA_ID";
    return s;
  };
  b->report = {stray(StrayObject::Action::kDisabled, ""), stray(StrayObject::Action::kWaiting, "keygate-stray x"),
               stray(StrayObject::Action::kDestroyed, "keygate-stray y"),
               stray(StrayObject::Action::kRetained, "keygate/tenant-a/uid-gone/v1")};
  auto audit = std::make_shared<RecordingAudit>();
  std::vector<std::string> counted;
  size_t pending = 99, retained = 99;
  testing::FakeClock clock;
  StraySweeperOptions o;
  o.keys = &keys;
  o.backends = &set;
  o.audit = audit;
  o.clock = &clock;
  o.counted = [&](const std::string& backend, const std::string& action) { counted.push_back(backend + "/" + action); };
  o.present = [&](const std::string&, size_t p, size_t r) { pending = p, retained = r; };
  StraySweeper sweeper(o);
  auto found = sweeper.sweepAll();
  EXPECT_EQ(b->swept, (std::vector<std::string>{"tenant-a"}));
  ASSERT_TRUE(b->lastAccounted.ok());
  EXPECT_TRUE(has(b->lastAccounted->keys, "uid-k", 1));
  EXPECT_EQ(found.size(), 4u);
  EXPECT_EQ(counted, (std::vector<std::string>{"softhsm/Disabled", "softhsm/Destroyed"}));
  EXPECT_EQ(pending, 2u) << "Disabled + Waiting";
  EXPECT_EQ(retained, 1u);
  ASSERT_EQ(audit->records.size(), 2u);
  EXPECT_EQ(audit->records[0].event, "StrayObjectDisabled");
  EXPECT_EQ(audit->records[0].ns, "tenant-a");
  EXPECT_EQ(audit->records[0].backend, "softhsm");
  EXPECT_EQ(audit->records[0].backendKeyId, "(no id)");
  EXPECT_NE(audit->records[0].message.find("usage on: encrypt,decrypt"), std::string::npos) << audit->records[0].message;
  EXPECT_EQ(audit->records[1].event, "StrayObjectDestroyed");
  EXPECT_EQ(audit->records[1].backendKeyId, "keygate-stray y");
}

}  // namespace
}  // namespace keygate::controllers

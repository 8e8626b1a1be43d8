// Security finding 6 (issue 16): administrative actions had no human in the audit trail, and
// the trail lived only on stdout.
//
// 1. Deactivate, compromise, schedule or cancel destruction were recorded with initiator
//    system:keygate. The mutating webhook now stamps keygate.dev/requested-by with the user
//    who changed such a field (clients cannot set it); the reconciler's audit record and Event
//    name that user. A delete is recorded by the webhook itself (KeyDeletionRequested).
// 2. The durable copy: a hash-chained file on the state volume; `keygate audit verify` finds
//    an edited, removed or inserted record and names the first broken line.
#include <gmock/gmock.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "controllers/audit_file.h"
#include "controllers/backend_set.h"
#include "harness/key_operator.h"
#include "kube/resource.h"
#include "security/key_flow.h"
#include "support/softhsm_env.h"
#include "support/temp_dir.h"
#include "unit/webhook/fixture.h"

namespace keygate::webhook::testing {
namespace {

using ::testing::HasSubstr;
const std::string kRequestedBy(kRequestedByAnnotation);

class RequestedByTest : public WebhookFixture {
 protected:
  Json storedKey() {
    Json k = encode(modelWeights());
    k["metadata"]["uid"] = "key-uid-1";
    return k;
  }
};

TEST_F(RequestedByTest, TheWebhookStampsWhoChangedAnAdminField) {
  Json old = storedKey();
  Json next = old;
  next["spec"]["deactivate"] = true;
  auto m = mutate(review("EncryptionKey", "UPDATE", next, old, who("frank")));
  ASSERT_TRUE(m.allowed) << m.message;
  Json patched = applyPatch(next, m);
  EXPECT_EQ(patched["metadata"]["annotations"][kRequestedBy], "frank");
  auto v = validate(review("EncryptionKey", "UPDATE", patched, old, who("frank")));
  EXPECT_TRUE(v.allowed) << v.message;
}

TEST_F(RequestedByTest, ClientsCannotWriteTheAnnotation) {
  Json old = storedKey();
  old["metadata"]["annotations"][kRequestedBy] = "frank";
  // bob relabels the key and claims frank's action as his: the webhook puts frank back.
  Json forged = old;
  forged["metadata"]["annotations"][kRequestedBy] = "bob";
  forged["metadata"]["labels"]["team"] = "x";
  auto m = mutate(review("EncryptionKey", "UPDATE", forged, old, who("bob")));
  EXPECT_EQ(applyPatch(forged, m)["metadata"]["annotations"][kRequestedBy], "frank");
  // With the mutating webhook bypassed, the validating one refuses the change.
  auto v = validate(review("EncryptionKey", "UPDATE", forged, old, who("bob")));
  EXPECT_FALSE(v.allowed);
  EXPECT_THAT(v.message, HasSubstr(kRequestedBy));
  // On create: removed by the mutating webhook, refused by the validating one.
  Json created = encode(modelWeights());
  created["metadata"]["annotations"][kRequestedBy] = "frank";
  auto mc = mutate(review("EncryptionKey", "CREATE", created, nullptr, who("erin")));
  EXPECT_FALSE(applyPatch(created, mc)["metadata"]["annotations"].contains(kRequestedBy));
  created["metadata"]["annotations"][std::string(kCreatedByAnnotation)] = "erin";
  EXPECT_FALSE(validate(review("EncryptionKey", "CREATE", created, nullptr, who("erin"))).allowed);
}

// The reconciler: a KeyDeactivated record names the person the webhook stamped.
TEST(AuditInitiatorTest, DeactivationIsAttributedToThePersonWhoAskedForIt) {
  auto server = keygate::testing::TestApiServer::start();
  ASSERT_TRUE(server.ok()) << server.error().toString();
  auto admin = (*server)->adminClient();
  controllers::BackendSet backends;
  backends.add(backends::testing::SoftHsmEnv::get().openBackend());
  keygate::testing::KeyOperatorOptions o;
  o.policy.knownBackends = {"softhsm"};
  keygate::testing::KeyOperator op(**server, &backends, o);
  op.start();
  const kube::Resource keys = kube::resources::encryptionKeys();
  ASSERT_NO_FATAL_FAILURE(keygate::security::createKeyAndApprove(*admin, "tenant-a", "weights", "activate"));
  keygate::testing::waitForObject(*admin, keys, "tenant-a", "weights",
                                  [](const Json& k) { return getString(k, "status.state") == "Active"; });
  // What the webhook leaves behind when frank sets deactivate.
  ASSERT_TRUE(admin->patch(keys, "tenant-a", "weights", kube::PatchType::kMerge,
                           R"({"metadata":{"annotations":{"keygate.dev/requested-by":"frank"}},"spec":{"deactivate":true}})")
                  .ok());
  keygate::testing::waitForObject(*admin, keys, "tenant-a", "weights",
                                  [](const Json& k) { return getString(k, "status.state") == "Deactivated"; });
  // Wait for the record (written ahead of the status write; the test may look before either).
  std::string line;
  EXPECT_TRUE(keygate::testing::waitUntil([&] {
    for (const auto& l : op.auditLines())
      if (l.find("\"event\":\"KeyDeactivated\"") != std::string::npos) line = l;
    return !line.empty();
  }));
  EXPECT_THAT(line, HasSubstr("\"initiator\":\"frank\"")) << line;
  op.stop();
}

controllers::AuditRecord record(int i) {
  controllers::AuditRecord r;
  r.time = gen::t0();
  r.event = i % 2 ? "KeyActivated" : "KeyGenerated";
  r.ns = "tenant-a";
  r.key = "k" + std::to_string(i);
  r.initiator = "alice";
  return r;
}

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
void writeLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : lines) out << l << "\n";
}

int verifyWithBinary(const std::string& args, std::string* out) {
  const std::string file = ::testing::TempDir() + "/verify.out";
  int rc = std::system((std::string(KEYGATE_BINARY) + " audit verify " + args + " > " + file + " 2>&1").c_str());
  std::ifstream in(file);
  out->assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(AuditFileTest, TamperingIsFoundAndNamed) {
  keygate::testing::TempDir dir("keygate-audit");
  const std::string path = dir.path() + "/audit/audit.log";
  {
    auto sink = controllers::FileAuditSink::open({path, 1 << 20, 3});
    ASSERT_TRUE(sink.ok()) << sink.error().toString();
    for (int i = 1; i <= 5; ++i) (*sink)->write(record(i));
  }
  {  // Reopened (an operator restart): the chain continues.
    auto sink = controllers::FileAuditSink::open({path, 1 << 20, 3});
    ASSERT_TRUE(sink.ok());
    EXPECT_EQ((*sink)->nextSeq(), 6u);
    (*sink)->write(record(6));
  }
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string out;
  ASSERT_EQ(verifyWithBinary(path, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("ok: 6 records, seq 1..6"));

  const auto good = readLines(path);
  // Someone rewrites who activated k3.
  auto edited = good;
  edited[2].replace(edited[2].find("\"initiator\":\"alice\""), 19, "\"initiator\":\"mallo\"");
  writeLines(path, edited);
  EXPECT_EQ(verifyWithBinary(path, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr(path + ":4: record seq 4: prevHash does not match"));
  // Someone removes a record.
  auto removed = good;
  removed.erase(removed.begin() + 3);
  writeLines(path, removed);
  EXPECT_EQ(verifyWithBinary(path, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr(path + ":4: seq 5 follows seq 3"));
  // A file that is not an audit file, and one that does not exist.
  writeLines(path, {"hello"});
  EXPECT_EQ(verifyWithBinary(path, &out), 1);
  EXPECT_EQ(verifyWithBinary(dir.path() + "/missing", &out), 2) << out;
}

// An audit file whose last line is not a chained record (hand-edited, truncated mid-line,
// another program's file) stops the sink from opening: continuing would fork the chain. A
// path that cannot be written is an error too.
TEST(AuditFileTest, RefusesToContinueAChainItCannotRead) {
  keygate::testing::TempDir dir("keygate-audit-bad");
  const std::string path = dir.path() + "/audit.log";
  for (const std::string last : {"not json", R"({"event":"KeyActivated"})", R"({"seq":-3,"prevHash":""})"}) {
    writeLines(path, {last});
    auto sink = controllers::FileAuditSink::open({path, 1 << 20, 3});
    ASSERT_FALSE(sink.ok()) << last;
    EXPECT_THAT(sink.error().message, HasSubstr("not a chained audit record")) << last;
  }
  std::ofstream(dir.path() + "/plainfile") << "x";
  auto blocked = controllers::FileAuditSink::open({dir.path() + "/plainfile/audit.log", 1 << 20, 3});
  ASSERT_FALSE(blocked.ok());
  EXPECT_THAT(blocked.error().message, HasSubstr("audit file"));
  EXPECT_FALSE(controllers::FileAuditSink::open({"", 1 << 20, 3}).ok());
}

TEST(AuditFileTest, RotatesBySizeAndTheChainSpansFiles) {
  keygate::testing::TempDir dir("keygate-audit-rot");
  const std::string path = dir.path() + "/audit.log";
  auto sink = controllers::FileAuditSink::open({path, 4096, 2});
  ASSERT_TRUE(sink.ok());
  for (int i = 1; i <= 40; ++i) (*sink)->write(record(i));  // ~300 bytes each: several files
  ASSERT_TRUE(std::filesystem::exists(path + ".1"));
  ASSERT_TRUE(std::filesystem::exists(path + ".2"));
  EXPECT_FALSE(std::filesystem::exists(path + ".3")) << "maxFiles 2: older files are deleted";
  auto r = controllers::verifyAuditChain({path + ".2", path + ".1", path});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->file << ":" << r->line << " " << r->problem;
  EXPECT_EQ(r->lastSeq, 40u);
  EXPECT_GT(r->firstSeq, 1u);
  // Out of order, the chain does not hold.
  auto wrong = controllers::verifyAuditChain({path + ".1", path + ".2", path});
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE(wrong->ok);
}

// Group commit: 8 writers, one line each. The first sync is held until all 8 lines are in
// the file (every writer is then waiting); it covers only the lines written before it began,
// so exactly one more sync covers the rest: 2 syncs for 8 records, where each record used to
// have its own.
TEST(AuditFileTest, WritersArrivingDuringASyncShareTheNextOne) {
  keygate::testing::TempDir dir("keygate-audit-share");
  const std::string path = dir.path() + "/audit.log";
  constexpr int kWriters = 8;
  std::atomic<int> syncs{0};
  auto linesInFile = [&] {
    std::ifstream in(path, std::ios::binary);
    return static_cast<int>(std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
  };
  controllers::FileAuditSinkOptions o{path, 64 << 20, 2};
  o.sync = [&](int fd) {
    if (syncs++ == 0) {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (linesInFile() < kWriters && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return ::fdatasync(fd);
  };
  auto sink = controllers::FileAuditSink::open(o);
  ASSERT_TRUE(sink.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) threads.emplace_back([&, t] { (*sink)->write(record(t)); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(linesInFile(), kWriters);
  EXPECT_LE(syncs.load(), 2) << "writers that arrived during a sync did not share the next one";
  auto r = controllers::verifyAuditChain({path});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->problem;
}

// None returns before a sync that began after its own line was written (checked with the
// file's size at each sync's start), with many writers and a slow disk.
TEST(AuditFileTest, EachWriterReturnsOnlyWhenItsLineIsOnDisk) {
  keygate::testing::TempDir dir("keygate-audit-group");
  const std::string path = dir.path() + "/audit.log";
  std::atomic<int> syncs{0};
  std::atomic<uint64_t> syncedBytes{0};  // the file's size when the latest completed sync began
  controllers::FileAuditSinkOptions o{path, 64 << 20, 2};
  o.sync = [&](int fd) {
    struct stat st{};
    ::fstat(fd, &st);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow disk: writers pile up
    int rc = ::fdatasync(fd);
    uint64_t size = static_cast<uint64_t>(st.st_size), seen = syncedBytes.load();
    while (seen < size && !syncedBytes.compare_exchange_weak(seen, size)) {
    }
    ++syncs;
    return rc;
  };
  auto sink = controllers::FileAuditSink::open(o);
  ASSERT_TRUE(sink.ok());
  constexpr int kThreads = 8, kEach = 40;
  std::atomic<int> early{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        controllers::AuditRecord r = record(i);
        r.key = "writer" + std::to_string(t) + "-" + std::to_string(i) + "-end";
        (*sink)->write(r);
        // Where this writer's line ends in the file.
        std::ifstream in(path, std::ios::binary);
        std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        size_t at = all.find("\"" + r.key + "\"");
        size_t end = at == std::string::npos ? std::string::npos : all.find('\n', at) + 1;
        if (end == std::string::npos || end > syncedBytes.load()) ++early;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(early.load(), 0) << "write() returned before a sync covered its line";
  EXPECT_GE(syncs.load(), 1);
  auto r = controllers::verifyAuditChain({path});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->file << ":" << r->line << " " << r->problem;
  EXPECT_EQ(r->lastSeq, static_cast<uint64_t>(kThreads * kEach));
}

// The same with rotation every few lines: a sync may still hold the file a rotation closed,
// and what the old file holds is synced by the rotation itself.
TEST(AuditFileTest, GroupCommitAcrossRotations) {
  keygate::testing::TempDir dir("keygate-audit-group-rot");
  const std::string path = dir.path() + "/audit.log";
  auto sink = controllers::FileAuditSink::open({path, 2048, 200});
  ASSERT_TRUE(sink.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) (*sink)->write(record(i));
    });
  for (auto& th : threads) th.join();
  std::vector<std::string> files;
  for (int i = 200; i >= 1; --i)
    if (std::filesystem::exists(path + "." + std::to_string(i))) files.push_back(path + "." + std::to_string(i));
  files.push_back(path);
  ASSERT_GT(files.size(), 10u);
  auto r = controllers::verifyAuditChain(files);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->file << ":" << r->line << " " << r->problem;
  EXPECT_EQ(r->firstSeq, 1u);
  EXPECT_EQ(r->lastSeq, 300u);
}

}  // namespace
}  // namespace keygate::webhook::testing

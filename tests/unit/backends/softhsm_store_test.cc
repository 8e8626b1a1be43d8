// The SoftHSM2 file-store guard on plain files: which token.object files it restores, which
// copies it writes, what it leaves alone.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "backends/pkcs11/softhsm_store.h"
#include "common/file.h"
#include "support/temp_dir.h"

namespace keygate::backends::pkcs11 {
namespace {

namespace fs = std::filesystem;

// A token file: an 8-byte generation counter, then the token's attributes.
std::string tokenFile(char generation, const std::string& body = std::string(312, 'T')) {
  return std::string(7, '\0') + generation + body;
}

std::string read(const std::string& path) {
  auto r = readWholeFile(path);
  return r.ok() ? *r : "(missing)";
}

TEST(SoftHsmStore, ACopyIsMadeAndAnEmptiedTokenFileIsRestoredFromIt) {
  keygate::testing::TempDir dir("softhsm-store");
  dir.write("tokens/a/token.object", tokenFile(1));
  dir.write("tokens/a/0f00.object", "an object");
  auto first = checkSoftHsmTokens(dir.path() + "/tokens", true);
  ASSERT_TRUE(first.ok()) << first.error().toString();
  EXPECT_EQ(first->copied, 2);  // token.object and the object file
  EXPECT_EQ(read(dir.path() + "/tokens/a/keygate-token-copy"), tokenFile(1));

  // A kill between SoftHSM's ftruncate and write: the file is empty.
  dir.write("tokens/a/token.object", "");
  auto second = checkSoftHsmTokens(dir.path() + "/tokens", true);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->restored.size(), 1u);
  EXPECT_EQ(second->restored[0], dir.path() + "/tokens/a/token.object");
  EXPECT_EQ(read(dir.path() + "/tokens/a/token.object"), tokenFile(1));
  EXPECT_EQ(read(dir.path() + "/tokens/a/0f00.object"), "an object") << "an intact object file is left as it is";
  for (const auto& e : fs::directory_iterator(dir.path() + "/tokens/a"))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "no temporary file left: " << e.path();
  EXPECT_EQ(fs::status(dir.path() + "/tokens/a/token.object").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  // A file cut short (only its generation counter) is damaged too.
  dir.write("tokens/a/token.object", std::string(8, '\0'));
  auto third = checkSoftHsmTokens(dir.path() + "/tokens", true);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->restored.size(), 1u);
  EXPECT_EQ(read(dir.path() + "/tokens/a/token.object"), tokenFile(1));
}

TEST(SoftHsmStore, TheCopyFollowsRealChangesButNotTheGenerationCounter) {
  keygate::testing::TempDir dir("softhsm-store");
  dir.write("tokens/a/token.object", tokenFile(1));
  ASSERT_EQ(checkSoftHsmTokens(dir.path() + "/tokens", true)->copied, 1);
  // Objects created: only the counter moved. The copy stays as it is.
  dir.write("tokens/a/token.object", tokenFile(9));
  auto counter = checkSoftHsmTokens(dir.path() + "/tokens", true);
  EXPECT_EQ(counter->copied, 0);
  EXPECT_EQ(read(dir.path() + "/tokens/a/keygate-token-copy"), tokenFile(1));
  // A PIN change rewrote the wrapped token key: the copy follows.
  dir.write("tokens/a/token.object", tokenFile(10, std::string(312, 'P')));
  auto pin = checkSoftHsmTokens(dir.path() + "/tokens", true);
  EXPECT_EQ(pin->copied, 1);
  EXPECT_EQ(read(dir.path() + "/tokens/a/keygate-token-copy"), tokenFile(10, std::string(312, 'P')));
}

TEST(SoftHsmStore, WithoutRestoreOrWithoutACopyNothingIsWritten) {
  keygate::testing::TempDir dir("softhsm-store");
  dir.write("tokens/a/token.object", tokenFile(1));
  ASSERT_TRUE(checkSoftHsmTokens(dir.path() + "/tokens", true).ok());
  dir.write("tokens/a/token.object", "");
  dir.write("tokens/b/token.object", "");  // damaged, never copied
  dir.write("tokens/c/notes.txt", "not a token");
  auto r = checkSoftHsmTokens(dir.path() + "/tokens", false);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->restored.empty()) << "restore = false: a loaded module may be writing";
  EXPECT_EQ(read(dir.path() + "/tokens/a/token.object"), "");
  EXPECT_EQ(r->unrecoverable, std::vector<std::string>{dir.path() + "/tokens/b/token.object"});
  EXPECT_FALSE(fs::exists(dir.path() + "/tokens/b/keygate-token-copy")) << "an empty file is never copied";
  EXPECT_FALSE(fs::exists(dir.path() + "/tokens/c/keygate-token-copy"));

  auto missing = checkSoftHsmTokens(dir.path() + "/no-such-dir", true);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kUnavailable);
}

// Object files: copied, refreshed when they change, put back when emptied, and the copy
// deleted once the object is destroyed; only the token with the given label is looked at.
TEST(SoftHsmStore, ObjectFilesAreCopiedRestoredAndTheirCopiesGoWithThem) {
  keygate::testing::TempDir dir("softhsm-store");
  const std::string label = std::string("keygate:tenant-a") + std::string(16, ' ');
  dir.write("tokens/a/token.object", tokenFile(1, std::string(24, 'T') + label + std::string(256, 'T')));
  dir.write("tokens/b/token.object", tokenFile(1, std::string(24, 'T') + "keygate:tenant-ab" + std::string(271, ' ')));
  const std::string key = tokenFile(3, "usage=off " + std::string(700, 'K'));
  dir.write("tokens/a/1111.object", key);
  dir.write("tokens/b/2222.object", key);
  auto first = checkSoftHsmTokens(dir.path() + "/tokens", false, "keygate:tenant-a");
  ASSERT_TRUE(first.ok()) << first.error().toString();
  EXPECT_EQ(first->copied, 2);  // token.object and 1111.object of tenant-a only
  EXPECT_EQ(read(dir.path() + "/tokens/a/1111.keygate-copy"), key);
  EXPECT_FALSE(fs::exists(dir.path() + "/tokens/b/2222.keygate-copy")) << "tenant-ab is another token";

  // Nothing changed: nothing is rewritten. A usage change: the copy follows.
  EXPECT_EQ(checkSoftHsmTokens(dir.path() + "/tokens", false, "keygate:tenant-a")->copied, 0);
  const std::string active = tokenFile(4, "usage=on  " + std::string(700, 'K'));
  dir.write("tokens/a/1111.object", active);
  fs::last_write_time(dir.path() + "/tokens/a/1111.object",
                      fs::last_write_time(dir.path() + "/tokens/a/1111.keygate-copy") + std::chrono::seconds(1));
  EXPECT_EQ(checkSoftHsmTokens(dir.path() + "/tokens", false, "keygate:tenant-a")->copied, 1);
  EXPECT_EQ(read(dir.path() + "/tokens/a/1111.keygate-copy"), active);

  // A kill inside the next change empties the file: not restored while loaded, then restored.
  dir.write("tokens/a/1111.object", "");
  auto loaded = checkSoftHsmTokens(dir.path() + "/tokens", false, "keygate:tenant-a");
  EXPECT_TRUE(loaded->restored.empty());
  EXPECT_EQ(read(dir.path() + "/tokens/a/1111.keygate-copy"), active) << "an empty file never replaces a copy";
  auto start = checkSoftHsmTokens(dir.path() + "/tokens", true);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(start->restored, std::vector<std::string>{dir.path() + "/tokens/a/1111.object"});
  EXPECT_EQ(read(dir.path() + "/tokens/a/1111.object"), active);

  // Destroyed: the copy is deleted with it.
  fs::remove(dir.path() + "/tokens/a/1111.object");
  auto destroyed = checkSoftHsmTokens(dir.path() + "/tokens", false, "keygate:tenant-a");
  EXPECT_EQ(destroyed->dropped, 1);
  EXPECT_FALSE(fs::exists(dir.path() + "/tokens/a/1111.keygate-copy"));
}

// The flake CI met (integration UsageChangesKeepACopy...): the copy refreshed just before a
// usage change and the change itself fall in the same tick of the kernel's coarse file clock,
// so a copy "not older than its object" was one change behind. Same size, same time: the
// contents decide.
TEST(SoftHsmStore, AChangeInTheSameClockTickAsTheCopyIsStillCopied) {
  keygate::testing::TempDir dir("softhsm-store");
  dir.write("tokens/a/token.object", tokenFile(1));
  const std::string before = tokenFile(3, "usage=off " + std::string(700, 'K'));
  dir.write("tokens/a/1111.object", before);
  ASSERT_EQ(checkSoftHsmTokens(dir.path() + "/tokens", false)->copied, 2);
  const auto copyTime = fs::last_write_time(dir.path() + "/tokens/a/1111.keygate-copy");

  const std::string after = tokenFile(4, "usage=on  " + std::string(700, 'K'));
  dir.write("tokens/a/1111.object", after);
  fs::last_write_time(dir.path() + "/tokens/a/1111.object", copyTime);
  auto check = checkSoftHsmTokens(dir.path() + "/tokens", false);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->copied, 1);
  EXPECT_EQ(read(dir.path() + "/tokens/a/1111.keygate-copy"), after);

  // A copy written long after its object is trusted by its time (no read at 100k objects).
  fs::last_write_time(dir.path() + "/tokens/a/1111.object", copyTime - std::chrono::hours(1));
  EXPECT_EQ(checkSoftHsmTokens(dir.path() + "/tokens", false)->copied, 0);
}

// A file that shrank but is not empty was rewritten whole (one write() below 4 KiB): someone's
// change, kept; only a large file shorter than its copy can be a cut write.
TEST(SoftHsmStore, ASmallerFileIsAChangeUnlessItIsLargerThanOneWrite) {
  keygate::testing::TempDir dir("softhsm-store");
  dir.write("tokens/a/token.object", tokenFile(1));
  dir.write("tokens/a/1111.object", tokenFile(1, std::string(700, 'K')));
  dir.write("tokens/a/2222.object", tokenFile(1, std::string(6000, 'R')));
  ASSERT_EQ(checkSoftHsmTokens(dir.path() + "/tokens", true)->copied, 3);
  dir.write("tokens/a/1111.object", tokenFile(2, std::string(600, 'k')));
  dir.write("tokens/a/2222.object", tokenFile(1, std::string(4088, 'R')));  // the first 4 KiB only
  auto r = checkSoftHsmTokens(dir.path() + "/tokens", true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->restored, std::vector<std::string>{dir.path() + "/tokens/a/2222.object"});
  EXPECT_EQ(read(dir.path() + "/tokens/a/1111.object"), tokenFile(2, std::string(600, 'k')));
  EXPECT_EQ(read(dir.path() + "/tokens/a/1111.keygate-copy"), tokenFile(2, std::string(600, 'k')));
  EXPECT_EQ(read(dir.path() + "/tokens/a/2222.object"), tokenFile(1, std::string(6000, 'R')));
}

TEST(SoftHsmStore, TheTokenDirectoryComesFromTheConfigWhenItUsesTheFileStore) {
  keygate::testing::TempDir dir("softhsm-conf");
  const std::string file = dir.write("file.conf", "# tokens\n directories.tokendir = /var/lib/tokens \nlog.level = ERROR\n");
  EXPECT_EQ(softHsmFileStoreDir(file), std::optional<std::string>("/var/lib/tokens"));
  const std::string explicitFile =
      dir.write("explicit.conf", "directories.tokendir=/t\nobjectstore.backend = file\n");
  EXPECT_EQ(softHsmFileStoreDir(explicitFile), std::optional<std::string>("/t"));
  const std::string db = dir.write("db.conf", "directories.tokendir = /t\nobjectstore.backend = db\n");
  EXPECT_EQ(softHsmFileStoreDir(db), std::nullopt);
  const std::string none = dir.write("none.conf", "# directories.tokendir = /t\nlog.level = INFO\n");
  EXPECT_EQ(softHsmFileStoreDir(none), std::nullopt);
  EXPECT_EQ(softHsmFileStoreDir(dir.path() + "/missing.conf"), std::nullopt);
}

}  // namespace
}  // namespace keygate::backends::pkcs11

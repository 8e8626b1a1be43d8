// The SoftHSM2 file-store guard on plain files: which token.object files it restores, which
// copies it writes, what it leaves alone.
#include <gtest/gtest.h>

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
  EXPECT_EQ(first->copied, 1);
  EXPECT_EQ(read(dir.path() + "/tokens/a/keygate-token-copy"), tokenFile(1));

  // A kill between SoftHSM's ftruncate and write: the file is empty.
  dir.write("tokens/a/token.object", "");
  auto second = checkSoftHsmTokens(dir.path() + "/tokens", true);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->restored.size(), 1u);
  EXPECT_EQ(second->restored[0], dir.path() + "/tokens/a");
  EXPECT_EQ(read(dir.path() + "/tokens/a/token.object"), tokenFile(1));
  EXPECT_EQ(read(dir.path() + "/tokens/a/0f00.object"), "an object") << "object files are not touched";
  EXPECT_FALSE(fs::exists(dir.path() + "/tokens/a/token.object.tmp"));

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
  EXPECT_EQ(r->unrecoverable, std::vector<std::string>{dir.path() + "/tokens/b"});
  EXPECT_FALSE(fs::exists(dir.path() + "/tokens/b/keygate-token-copy")) << "an empty file is never copied";
  EXPECT_FALSE(fs::exists(dir.path() + "/tokens/c/keygate-token-copy"));

  auto missing = checkSoftHsmTokens(dir.path() + "/no-such-dir", true);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kUnavailable);
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

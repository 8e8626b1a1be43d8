// SoftHSM2's token file emptied by a kill, and put back: with the real softhsm2-util and
// pkcs11-tool, each in its own process (as an operator restart would be). The kill itself is
// reproduced by bench/softhsm_kill_bench --create (a process creating keys SIGKILLed at random
// moments: SoftHSM2 rewrites token.object with ftruncate + write, and a kill between the two
// leaves it empty); here the file is emptied directly so the test is deterministic.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "backends/pkcs11/softhsm_store.h"
#include "backends/pkcs11/templates.h"
#include "support/softhsm_env.h"
#include "support/temp_dir.h"

namespace keygate::backends::pkcs11 {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;
  std::string output;
};

class SoftHsmStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() + "/tokens");
    conf_ = dir_.write("softhsm2.conf", "directories.tokendir = " + dir_.path() +
                                            "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n");
  }

  // A command with this test's SoftHSM2 configuration (not the process's own: the module
  // may already be loaded here by other tests).
  Outcome run(const std::string& command) {
    Outcome r;
    std::unique_ptr<FILE, int (*)(FILE*)> p(
        ::popen(("SOFTHSM2_CONF=" + conf_ + " " + command + " 2>&1").c_str(), "r"), ::pclose);
    if (!p) return r;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p.get())) > 0) r.output.append(buf.data(), n);
    r.status = ::pclose(p.release());
    return r;
  }

  Outcome tool(const std::string& args) {
    return run(std::string("pkcs11-tool --module ") + KEYGATE_SOFTHSM2_MODULE + " --token-label tenant-a --login --pin 1234 " + args);
  }

  std::string tokenFile() {
    for (const auto& e : fs::directory_iterator(dir_.path() + "/tokens"))
      if (fs::exists(e.path() / "token.object")) return (e.path() / "token.object").string();
    return "";
  }

  keygate::testing::TempDir dir_{"softhsm-store"};
  std::string conf_;
};

TEST_F(SoftHsmStoreTest, AnEmptiedTokenFileIsPutBackAndTheTokensKeysWorkAgain) {
  ASSERT_EQ(run("softhsm2-util --init-token --free --label tenant-a --pin 1234 --so-pin 5678").status, 0);
  Outcome gen = tool("--keygen --key-type AES:32 --label model-weights --id 0a0b --sensitive");
  ASSERT_EQ(gen.status, 0) << gen.output;
  auto dir = softHsmFileStoreDir(conf_);
  ASSERT_TRUE(dir.has_value());
  auto copied = checkSoftHsmTokens(*dir, true);
  ASSERT_TRUE(copied.ok()) << copied.error().toString();
  EXPECT_EQ(copied->copied, 2);  // token.object and the key's object file
  // More objects afterwards: SoftHSM2 rewrites token.object (its generation counter) each time.
  ASSERT_EQ(tool("--keygen --key-type AES:32 --label other --id 0c0d --sensitive").status, 0);
  ASSERT_EQ(run("softhsm2-util --show-slots").status, 0) << "the copy beside token.object does not disturb SoftHSM2";

  const std::string token = tokenFile();
  ASSERT_FALSE(token.empty());
  std::ofstream(token, std::ios::trunc).close();  // what the kill leaves
  Outcome broken = tool("--list-objects --type secrkey");
  EXPECT_NE(broken.status, 0) << "without token.object the token is gone: " << broken.output;

  auto repaired = checkSoftHsmTokens(*dir, true);
  ASSERT_TRUE(repaired.ok());
  EXPECT_EQ(repaired->restored, std::vector<std::string>{token});
  Outcome listed = tool("--list-objects --type secrkey");
  ASSERT_EQ(listed.status, 0) << listed.output;
  EXPECT_NE(listed.output.find("model-weights"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("other"), std::string::npos) << "objects made after the copy are kept: " << listed.output;
  EXPECT_NE(listed.output.find("AES length 32"), std::string::npos) << listed.output;
  // Still the same protected key: its value cannot be read.
  Outcome value = tool("--read-object --type secrkey --id 0a0b");
  EXPECT_NE(value.status, 0) << value.output;
  // And the token still creates keys.
  EXPECT_EQ(tool("--keygen --key-type AES:32 --label after --id 0e0f --sensitive").status, 0);
}

// Through Keygate's own backend: the usage change leaves a copy of the key's object file
// equal to the file (taken after the change), a restart puts an emptied file back, and the
// copies go when the key is destroyed.
TEST(SoftHsmStoreBackendTest, UsageChangesKeepACopyThatARestartPutsBackAndDestroyDeletes) {
  auto& env = testing::SoftHsmEnv::get();
  auto backend = env.openBackend();
  const std::string ns = testing::uniqueNamespace("store");
  KeySpec spec{{ns, testing::uniqueUid(), 1}, Purpose::kEncrypt, Algorithm::kAes256};
  ASSERT_TRUE(backend->generate(spec).ok());
  ASSERT_TRUE(backend->activate(spec).ok());
  auto dir = softHsmFileStoreDir(env.confPath());
  ASSERT_TRUE(dir.has_value());

  // The tenant's token directory: the one whose token.object carries its label.
  std::string padded = tokenLabel(ns);
  padded.resize(32, ' ');
  fs::path tokenDir;
  for (const auto& e : fs::directory_iterator(*dir)) {
    std::ifstream in(e.path() / "token.object", std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (body.find(padded) != std::string::npos) tokenDir = e.path();
  }
  ASSERT_FALSE(tokenDir.empty());
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  std::vector<fs::path> objects;
  for (const auto& e : fs::directory_iterator(tokenDir))
    if (e.path().extension() == ".object" && e.path().filename() != "token.object") objects.push_back(e.path());
  ASSERT_EQ(objects.size(), 1u);
  const fs::path object = objects[0];
  const fs::path copy = tokenDir / (object.stem().string() + ".keygate-copy");
  ASSERT_TRUE(fs::exists(copy)) << "applyUsage leaves a copy";
  const std::string active = slurp(object);
  EXPECT_EQ(slurp(copy), active) << "refreshed after the change";

  // A kill inside the next usage change empties the file; the next start puts it back.
  std::ofstream(object, std::ios::trunc).close();
  auto check = checkSoftHsmTokens(*dir, true, tokenLabel(ns));
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->restored, std::vector<std::string>{object.string()});
  EXPECT_EQ(slurp(object), active);

  ASSERT_TRUE(backend->destroy(spec.ref).ok());
  EXPECT_FALSE(fs::exists(object));
  EXPECT_FALSE(fs::exists(copy)) << "the copy goes with the key";
}

}  // namespace
}  // namespace keygate::backends::pkcs11

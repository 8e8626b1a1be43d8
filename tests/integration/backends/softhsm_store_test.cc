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
  EXPECT_EQ(copied->copied, 1);
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
  EXPECT_EQ(repaired->restored.size(), 1u);
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

}  // namespace
}  // namespace keygate::backends::pkcs11

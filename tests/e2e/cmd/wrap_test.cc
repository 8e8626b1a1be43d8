// End-to-end: `keygate wrap` as a process, without a cluster (--wrapping-key FILE): it wraps
// for the given RSA public key and prints the fingerprint; bad input is one line naming the
// problem, and nothing is written.
#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>

#include "e2e/cmd/run_keygate.h"

namespace keygate {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class WrapE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("keygate-wrap-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ASSERT_EQ(std::system(("cd " + dir_.string() +
                           " && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out wk.pem 2>/dev/null"
                           " && openssl pkey -in wk.pem -pubout -out wrapping.pem"
                           " && head -c 32 /dev/urandom > aes.bin && head -c 16 /dev/urandom > short.bin"
                           " && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem 2>/dev/null")
                              .c_str()),
              0);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* f) const { return (dir_ / f).string(); }
  fs::path dir_;
};

TEST_F(WrapE2E, WrapsForAPublicKeyFileAndPrintsTheFingerprint) {
  KeygateRun r = runKeygate("wrap --wrapping-key " + path("wrapping.pem") + " --algorithm AES-256 --material " + path("aes.bin") +
                            " -o raw --out " + path("blob.bin"));
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("keygate wrap: AES-256 material wrapped with RSA_AES_KEY_WRAP_SHA_1"));
  EXPECT_THAT(r.err, HasSubstr("keygate wrap: fingerprint kcv:"));
  EXPECT_EQ(fs::file_size(path("blob.bin")), 384u + 40u) << "RSA-OAEP of the ephemeral key, then RFC 5649 of 32 bytes";
  // The blob's second part unwraps with the private key (RSA-OAEP SHA-1) to an AES key.
  KeygateRun oaep = runKeygate("wrap --wrapping-key " + path("wrapping.pem") + " --algorithm AES-256 --format RSAES_OAEP_SHA_1 "
                               "--material " + path("aes.bin") + " -o raw --out " + path("oaep.bin"));
  ASSERT_EQ(oaep.exitCode, 0) << oaep.err;
  ASSERT_EQ(std::system(("cd " + dir_.string() +
                         " && openssl pkeyutl -decrypt -inkey wk.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1"
                         " -pkeyopt rsa_mgf1_md:sha1 -in oaep.bin -out back.bin && cmp -s back.bin aes.bin")
                            .c_str()),
            0);
}

TEST_F(WrapE2E, BadInputIsOneLineAndWritesNothing) {
  const std::string wk = " --wrapping-key " + path("wrapping.pem");
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {"wrap --material " + path("aes.bin"), "--key NAMESPACE/NAME is required"},
           {"wrap --key tenant-a --material " + path("aes.bin"), "--key must be NAMESPACE/NAME"},
           {"wrap" + wk + " --material " + path("aes.bin"), "--wrapping-key needs --algorithm"},
           {"wrap" + wk + " --algorithm AES-256 --material " + path("short.bin"), "holds 16 bytes; AES-256 key material is exactly 32"},
           {"wrap" + wk + " --algorithm AES-256 --material /nonexistent/key.bin", "/nonexistent/key.bin"},
           {"wrap --wrapping-key " + path("aes.bin") + " --algorithm AES-256 --material " + path("aes.bin"),
            "the wrapping key is not a PEM public key"},
           {"wrap" + wk + " --algorithm AES-256 --format RSAES_OAEP_SHA_256 --material " + path("aes.bin"),
            "RSAES_OAEP_SHA_256 is not a format the backend unwraps here"},
           {"wrap" + wk + " --algorithm AES-256 --format DES --material " + path("aes.bin"), "unsupported wrapping format \"DES\""},
           {"wrap" + wk + " --algorithm RSA-3072 --material " + path("ec.pem"), "is not an RSA-3072 key"},
           {"wrap" + wk + " --algorithm RSA-3072 --format RSAES_OAEP_SHA_1 --material " + path("wk.pem"),
            "carries raw secret material"},
           {"wrap" + wk + " --algorithm EC-P384 --material " + path("ec.pem"), "is not an EC-P384 key"},
           {"wrap" + wk + " --algorithm AES-256 --material " + path("aes.bin"), "pass --secret-name and --secret-key"},
       }) {
    KeygateRun r = runKeygate(c.args + " --out " + path("out.yaml"));
    EXPECT_NE(r.exitCode, 0) << c.args;
    EXPECT_THAT(r.err, HasSubstr("keygate wrap: ")) << c.args;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(path("out.yaml"))) << c.args;
  }
}

}  // namespace
}  // namespace keygate

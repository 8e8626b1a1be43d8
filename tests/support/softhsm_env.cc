#include "support/softhsm_env.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backends/pkcs11/mechanisms.h"
#include "backends/pkcs11/templates.h"
#include "backends/pkcs11/token_manager.h"

namespace keygate::backends::testing {
namespace fs = std::filesystem;
using namespace keygate::backends::pkcs11;

namespace {

// Removes the temp dir after the last test of the process.
class CleanupEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    if (created) SoftHsmEnv::get().cleanup();
  }
  static inline bool created = false;
};
[[maybe_unused]] auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new CleanupEnvironment);

const pkcs11::Bytes kMessage = {'p', 'r', 'o', 'b', 'e', ' ', 'm', 'e', 's', 's', 'a', 'g', 'e'};

}  // namespace

SoftHsmEnv& SoftHsmEnv::get() {
  static SoftHsmEnv* env = new SoftHsmEnv();
  CleanupEnvironment::created = true;
  return *env;
}

SoftHsmEnv::SoftHsmEnv() {
  const char* module = std::getenv("KEYGATE_PKCS11_MODULE");
  module_ = module ? module : KEYGATE_SOFTHSM2_MODULE;
  std::string tmpl = (fs::temp_directory_path() / "keygate-softhsm-XXXXXX").string();
  dir_ = ::mkdtemp(tmpl.data());
  fs::create_directories(dir_ + "/tokens");
  conf_ = dir_ + "/softhsm2.conf";
  std::ofstream(conf_) << "directories.tokendir = " << dir_ << "/tokens\n"
                       << "objectstore.backend = file\n"
                       << "log.level = ERROR\n"
                       << "slots.removable = false\n";
  ::setenv("SOFTHSM2_CONF", conf_.c_str(), 1);
  secrets_ = FileSecretStore::open(dir_ + "/secrets").value();
}

void SoftHsmEnv::cleanup() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::unique_ptr<Pkcs11Backend> SoftHsmEnv::openBackend(SecretStorePtr store) const {
  Pkcs11BackendOptions o;
  o.name = "softhsm";
  o.modulePath = module_;
  auto b = Pkcs11Backend::open(o, store ? store : secrets_);
  EXPECT_TRUE(b.ok()) << b.error().toString();
  return b.ok() ? std::move(b).value() : nullptr;
}

std::string uniqueNamespace(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

std::string uniqueUid() {
  static std::atomic<int> n{0};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "9d2c%04x-0000-4000-8000-%012d", static_cast<unsigned>(::getpid() & 0xffff),
                n++);
  return buf;
}

const char* opName(Op op) {
  switch (op) {
    case Op::kEncrypt: return "encrypt";
    case Op::kDecrypt: return "decrypt";
    case Op::kSign: return "sign";
    case Op::kVerify: return "verify";
    case Op::kWrap: return "wrap";
    case Op::kUnwrap: return "unwrap";
  }
  return "?";
}

// ---- TestSession ----

TestSession::TestSession(Cryptoki& ck, CK_SLOT_ID slot, const std::string& userPin) : ck_(ck) {
  CK_RV rv = ck_.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, &h_);
  EXPECT_EQ(rv, CKR_OK) << ckrName(rv);
  loginRv_ = ck_.login(h_, CKU_USER, userPin);
  if (loginRv_ == CKR_USER_ALREADY_LOGGED_IN) loginRv_ = CKR_OK;  // the backend's login covers us
}

TestSession::~TestSession() { ck_.closeSession(h_); }

std::vector<CK_OBJECT_HANDLE> TestSession::findByLabel(const std::string& label) {
  AttributeList t;
  t.addString(CKA_LABEL, label);
  std::vector<CK_OBJECT_HANDLE> out;
  CK_RV rv = ck_.findObjects(h_, t.span(), &out, 64);
  EXPECT_EQ(rv, CKR_OK) << ckrName(rv);
  return out;
}

std::vector<CK_OBJECT_HANDLE> TestSession::findAll() {
  std::vector<CK_OBJECT_HANDLE> out;
  CK_RV rv = ck_.findObjects(h_, {}, &out, 1000);
  EXPECT_EQ(rv, CKR_OK) << ckrName(rv);
  return out;
}

CK_ULONG TestSession::ulongAttr(CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t) {
  CK_ULONG v = 0;
  CK_ATTRIBUTE a{t, &v, sizeof(v)};
  EXPECT_EQ(ck_.getAttributeValue(h_, o, std::span<CK_ATTRIBUTE>(&a, 1)), CKR_OK);
  return v;
}

int TestSession::boolAttr(CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t) {
  CK_BBOOL v = CK_FALSE;
  CK_ATTRIBUTE a{t, &v, sizeof(v)};
  if (ck_.getAttributeValue(h_, o, std::span<CK_ATTRIBUTE>(&a, 1)) != CKR_OK) return -1;
  return v ? 1 : 0;
}

std::unique_ptr<TestSession> openTenantSession(Pkcs11Backend& b, const std::string& ns, SecretStorePtr store) {
  auto token = b.tokenFor(ns);
  EXPECT_TRUE(token.ok()) << token.error().toString();
  if (!token.ok()) return nullptr;
  auto slot = findSlotByLabel(*b.cryptoki(), (*token)->label());
  EXPECT_TRUE(slot.ok() && slot->has_value());
  auto pin = (store ? store : SoftHsmEnv::get().secrets())->get(b.tokens().userPinName(ns));
  EXPECT_TRUE(pin.ok() && pin->has_value());
  return std::make_unique<TestSession>(*b.cryptoki(), **slot, (*pin)->value());
}

// ---- Prober ----

Prober::Prober(TestSession& s, Algorithm alg, const std::string& backendKeyId) : s_(s), alg_(alg) {
  objects_ = s_.findByLabel(backendKeyId);
  for (CK_OBJECT_HANDLE o : objects_) {
    switch (s_.ulongAttr(o, CKA_CLASS)) {
      case CKO_SECRET_KEY: secret_ = o; break;
      case CKO_PUBLIC_KEY: pub_ = o; break;
      case CKO_PRIVATE_KEY: priv_ = o; break;
    }
  }
  // An extractable session key to wrap.
  AttributeList t;
  t.addUlong(CKA_CLASS, CKO_SECRET_KEY).addUlong(CKA_KEY_TYPE, CKK_AES).add(CKA_TOKEN, false);
  t.add(CKA_SENSITIVE, false).add(CKA_EXTRACTABLE, true).addBytes(CKA_VALUE, pkcs11::Bytes(32, 0x5a));
  EXPECT_EQ(s_.ck().createObject(s_.handle(), t.span(), &ephemeral_), CKR_OK);
}

bool Prober::natural(Op op) const {
  switch (alg_) {
    case Algorithm::kAes256:
    case Algorithm::kRsa3072:
    case Algorithm::kRsa4096:
      return true;
    case Algorithm::kHmacSha256:
    case Algorithm::kEcP256:
    case Algorithm::kEcP384:
      return op == Op::kSign || op == Op::kVerify;
  }
  return false;
}

CK_OBJECT_HANDLE Prober::protectKey(Op op) const {
  if (secret_ != CK_INVALID_HANDLE) return secret_;
  bool publicHalf = op == Op::kEncrypt || op == Op::kVerify || op == Op::kWrap;
  return publicHalf ? pub_ : priv_;
}

CK_RV Prober::run(Op op) {
  Cryptoki& ck = s_.ck();
  const CK_SESSION_HANDLE h = s_.handle();
  const bool rsa = alg_ == Algorithm::kRsa3072 || alg_ == Algorithm::kRsa4096;
  const bool ec = alg_ == Algorithm::kEcP256 || alg_ == Algorithm::kEcP384;
  Mechanism m;
  const std::array<uint8_t, 12> iv{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  // Mechanism per key type and operation family.
  if (op == Op::kEncrypt || op == Op::kDecrypt || op == Op::kWrap || op == Op::kUnwrap) {
    if (rsa) setRsaOaepSha1(m);
    else if (ec) setPlain(m, CKM_ECDSA);
    else if (op == Op::kWrap || op == Op::kUnwrap) setPlain(m, CKM_AES_KEY_WRAP_PAD);
    else setAesGcm(m, iv);
  } else {
    if (rsa) setRsaPssSha256(m);
    else if (ec) setPlain(m, CKM_ECDSA);
    else if (alg_ == Algorithm::kAes256) setPlain(m, CKM_AES_CMAC);
    else setPlain(m, CKM_SHA256_HMAC);
  }
  pkcs11::Bytes data = kMessage;
  if (ec) {
    data.assign(32, 0);
    SHA256(kMessage.data(), kMessage.size(), data.data());
  }
  const CK_OBJECT_HANDLE key = protectKey(op);
  CK_RV rv = CKR_OK;
  switch (op) {
    case Op::kEncrypt: {
      if ((rv = ck.encryptInit(h, m.get(), key)) != CKR_OK) return rv;
      pkcs11::Bytes out;
      if ((rv = ck.encrypt(h, kMessage, &out)) == CKR_OK) ciphertext_ = out;
      return rv;
    }
    case Op::kDecrypt: {
      if ((rv = ck.decryptInit(h, m.get(), key)) != CKR_OK) return rv;
      pkcs11::Bytes in = ciphertext_.empty() ? pkcs11::Bytes(rsa ? 384 : 48, 7) : ciphertext_, out;
      if ((rv = ck.decrypt(h, in, &out)) != CKR_OK) return rv;
      return out == kMessage ? CKR_OK : CKR_GENERAL_ERROR;
    }
    case Op::kSign: {
      if ((rv = ck.signInit(h, m.get(), key)) != CKR_OK) return rv;
      pkcs11::Bytes sig;
      if ((rv = ck.sign(h, data, &sig)) == CKR_OK) signature_ = sig;
      return rv;
    }
    case Op::kVerify: {
      if ((rv = ck.verifyInit(h, m.get(), key)) != CKR_OK) return rv;
      pkcs11::Bytes sig = signature_.empty() ? pkcs11::Bytes(32, 1) : signature_;
      return ck.verify(h, data, sig);
    }
    case Op::kWrap: {
      pkcs11::Bytes blob;
      if ((rv = ck.wrapKey(h, m.get(), key, ephemeral_, &blob)) == CKR_OK) wrapped_ = blob;
      return rv;
    }
    case Op::kUnwrap: {
      AttributeList t;
      t.addUlong(CKA_CLASS, CKO_SECRET_KEY).addUlong(CKA_KEY_TYPE, CKK_AES).add(CKA_TOKEN, false);
      t.add(CKA_SENSITIVE, false).add(CKA_EXTRACTABLE, true);
      pkcs11::Bytes blob = wrapped_.empty() ? pkcs11::Bytes(rsa ? 384 : 40, 3) : wrapped_;
      CK_OBJECT_HANDLE out = CK_INVALID_HANDLE;
      rv = ck.unwrapKey(h, m.get(), key, blob, t.span(), &out);
      if (rv == CKR_OK) ck.destroyObject(h, out);
      return rv;
    }
  }
  return CKR_GENERAL_ERROR;
}

}  // namespace keygate::backends::testing

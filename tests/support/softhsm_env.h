#pragma once
// Shared SoftHSM2 set-up for the backend integration tests: one temp token dir and
// softhsm2.conf per test process (ctest runs each TEST in its own process), SOFTHSM2_CONF
// set before the module is first loaded (SoftHSM reads it at C_Initialize), a
// FileSecretStore for the token PINs, and probes that call Cryptoki directly.

#include <memory>
#include <string>
#include <vector>

#include "backends/file_secret_store.h"
#include "backends/key_backend.h"
#include "backends/pkcs11/cryptoki.h"
#include "backends/pkcs11/pkcs11_backend.h"

namespace keygate::backends::testing {

class SoftHsmEnv {
 public:
  static SoftHsmEnv& get();  // created on first use
  const std::string& dir() const { return dir_; }
  const std::string& confPath() const { return conf_; }
  const std::string& modulePath() const { return module_; }
  const std::shared_ptr<FileSecretStore>& secrets() const { return secrets_; }
  // A fresh backend instance (as after a restart) over the module and the PIN store.
  std::unique_ptr<pkcs11::Pkcs11Backend> openBackend(SecretStorePtr store = nullptr) const;
  void cleanup();

 private:
  SoftHsmEnv();
  std::string dir_, conf_, module_;
  std::shared_ptr<FileSecretStore> secrets_;
};

// "<prefix>-<pid>-<n>": every test uses its own tenants.
std::string uniqueNamespace(const std::string& prefix);
std::string uniqueUid();

enum class Op { kEncrypt, kDecrypt, kSign, kVerify, kWrap, kUnwrap };
const char* opName(Op op);
constexpr Op kAllOps[] = {Op::kEncrypt, Op::kDecrypt, Op::kSign, Op::kVerify, Op::kWrap, Op::kUnwrap};

// A logged-in session of the test's own on a tenant's token.
class TestSession {
 public:
  TestSession(pkcs11::Cryptoki& ck, CK_SLOT_ID slot, const std::string& userPin);
  ~TestSession();
  CK_SESSION_HANDLE handle() const { return h_; }
  pkcs11::Cryptoki& ck() const { return ck_; }
  CK_RV loginRv() const { return loginRv_; }
  // Objects whose CKA_LABEL is the backend key id.
  std::vector<CK_OBJECT_HANDLE> findByLabel(const std::string& label);
  std::vector<CK_OBJECT_HANDLE> findAll();
  CK_ULONG ulongAttr(CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t);
  // -1 when the attribute is unavailable.
  int boolAttr(CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t);

 private:
  pkcs11::Cryptoki& ck_;
  CK_SESSION_HANDLE h_ = CK_INVALID_HANDLE;
  CK_RV loginRv_ = CKR_OK;
};

// Opens a TestSession on the namespace's token (slot by label, PIN from the env's store).
// `store` holds the PINs (default: the env's store).
std::unique_ptr<TestSession> openTenantSession(pkcs11::Pkcs11Backend& b, const std::string& ns,
                                               SecretStorePtr store = nullptr);

// Runs real operations with a key's objects, keeping what one produces (ciphertext,
// signature, wrapped blob) for the matching processing operation later.
class Prober {
 public:
  Prober(TestSession& s, Algorithm alg, const std::string& backendKeyId);
  // CKR_OK when the operation ran to completion with a correct result.
  CK_RV run(Op op);
  // Ops this key type has a mechanism for (AES: all; HMAC: sign/verify; RSA: all; EC: sign/verify).
  bool natural(Op op) const;
  size_t objectCount() const { return objects_.size(); }

 private:
  CK_OBJECT_HANDLE protectKey(Op op) const;  // encrypt/verify/wrap use the public half
  TestSession& s_;
  Algorithm alg_;
  std::vector<CK_OBJECT_HANDLE> objects_;
  CK_OBJECT_HANDLE secret_ = CK_INVALID_HANDLE, pub_ = CK_INVALID_HANDLE, priv_ = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE ephemeral_ = CK_INVALID_HANDLE;
  pkcs11::Bytes ciphertext_, signature_, wrapped_;
};

}  // namespace keygate::backends::testing

#pragma once
// Cryptoki over a PKCS#11 module loaded with dlopen + C_GetFunctionList.
//
// Lifetime: a module is loaded and C_Initialize'd once per process and path (PKCS#11 allows
// one initialisation per application); load() of the same path returns the same shared
// instance, and C_Finalize runs when the last owner drops it. The library is never
// dlclose'd: modules such as SoftHSM register atexit/OpenSSL handlers that crash when
// their code is unmapped.

#include <cstdint>
#include <memory>
#include <string>

#include "backends/pkcs11/cryptoki.h"
#include "common/result.h"

namespace keygate::backends::pkcs11 {

// PKCS#11 sessions this process holds open, over every loaded module and token (opened
// through DlCryptoki and not yet closed): exported as keygate_pkcs11_sessions_open so a leak
// shows on a dashboard.
int64_t openSessionCount();

class DlCryptoki final : public Cryptoki {
 public:
  // InvalidArgument: empty path, not a loadable library, no C_GetFunctionList symbol.
  // NotFound: no file at the path. Otherwise the C_GetFunctionList / C_Initialize error.
  // C_Initialize gets CKF_OS_LOCKING_OK (the module uses OS locks; we call it from threads).
  static Result<std::shared_ptr<DlCryptoki>> load(const std::string& modulePath);
  ~DlCryptoki() override;
  DlCryptoki(const DlCryptoki&) = delete;
  DlCryptoki& operator=(const DlCryptoki&) = delete;

  const std::string& path() const { return path_; }
  // "SoftHSM 2.6" style: manufacturer and library description from C_GetInfo.
  const std::string& description() const { return description_; }

  CK_RV getSlotList(bool tokenPresent, std::vector<CK_SLOT_ID>* slots) override;
  CK_RV getTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info) override;
  CK_RV initToken(CK_SLOT_ID slot, std::string_view soPin, std::string_view label32) override;
  CK_RV openSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE* session) override;
  CK_RV closeSession(CK_SESSION_HANDLE session) override;
  CK_RV login(CK_SESSION_HANDLE session, CK_USER_TYPE user, std::string_view pin) override;
  CK_RV logout(CK_SESSION_HANDLE session) override;
  CK_RV initPin(CK_SESSION_HANDLE session, std::string_view pin) override;
  CK_RV generateKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, std::span<const CK_ATTRIBUTE> tmpl,
                    CK_OBJECT_HANDLE* key) override;
  CK_RV generateKeyPair(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism,
                        std::span<const CK_ATTRIBUTE> publicTmpl, std::span<const CK_ATTRIBUTE> privateTmpl,
                        CK_OBJECT_HANDLE* publicKey, CK_OBJECT_HANDLE* privateKey) override;
  CK_RV createObject(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> tmpl, CK_OBJECT_HANDLE* object) override;
  CK_RV findObjects(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> tmpl,
                    std::vector<CK_OBJECT_HANDLE>* objects, size_t maxObjects) override;
  CK_RV getAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, std::span<CK_ATTRIBUTE> tmpl) override;
  CK_RV setAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                          std::span<const CK_ATTRIBUTE> tmpl) override;
  CK_RV copyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, std::span<const CK_ATTRIBUTE> tmpl,
                   CK_OBJECT_HANDLE* copy) override;
  CK_RV destroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) override;
  CK_RV encryptInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) override;
  CK_RV encrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, Bytes* out) override;
  CK_RV decryptInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) override;
  CK_RV decrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, Bytes* out) override;
  CK_RV signInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) override;
  CK_RV sign(CK_SESSION_HANDLE session, std::span<const uint8_t> data, Bytes* signature) override;
  CK_RV verifyInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) override;
  CK_RV verify(CK_SESSION_HANDLE session, std::span<const uint8_t> data, std::span<const uint8_t> signature) override;
  CK_RV wrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE wrappingKey,
                CK_OBJECT_HANDLE key, Bytes* wrapped) override;
  CK_RV unwrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE unwrappingKey,
                  std::span<const uint8_t> wrapped, std::span<const CK_ATTRIBUTE> tmpl, CK_OBJECT_HANDLE* key) override;
  CK_RV generateRandom(CK_SESSION_HANDLE session, std::span<uint8_t> out) override;
  CK_RV digestKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key, Bytes* digest) override;

 private:
  DlCryptoki(std::string path, CK_FUNCTION_LIST_PTR fns) : path_(std::move(path)), f_(fns) {}
  std::string path_;
  std::string description_;
  CK_FUNCTION_LIST_PTR f_;
  bool finalizeOnClose_ = false;
};

}  // namespace keygate::backends::pkcs11

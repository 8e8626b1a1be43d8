#pragma once
// A thin C++ face over the Cryptoki functions Keygate uses, so that the backend can run
// against a fake in unit tests (tests/support/fake_cryptoki.h) and against any module
// loaded with dlopen (cryptoki_dl.h). Methods return the module's CK_RV unchanged;
// ck_errors.h turns it into an Error. Multi-part operations are folded into one call
// (find = FindObjectsInit/FindObjects/FindObjectsFinal; encrypt = size query + call).
// Implementations must be thread-safe in the PKCS#11 sense: concurrent calls on
// different sessions are allowed.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "backends/pkcs11/pkcs11_api.h"

namespace keygate::backends::pkcs11 {

using Bytes = std::vector<uint8_t>;

class Cryptoki {
 public:
  virtual ~Cryptoki() = default;

  virtual CK_RV getSlotList(bool tokenPresent, std::vector<CK_SLOT_ID>* slots) = 0;
  virtual CK_RV getTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info) = 0;
  // label: exactly 32 bytes, blank padded.
  virtual CK_RV initToken(CK_SLOT_ID slot, std::string_view soPin, std::string_view label32) = 0;
  virtual CK_RV openSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE* session) = 0;
  virtual CK_RV closeSession(CK_SESSION_HANDLE session) = 0;
  virtual CK_RV login(CK_SESSION_HANDLE session, CK_USER_TYPE user, std::string_view pin) = 0;
  virtual CK_RV logout(CK_SESSION_HANDLE session) = 0;
  virtual CK_RV initPin(CK_SESSION_HANDLE session, std::string_view pin) = 0;

  virtual CK_RV generateKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism,
                            std::span<const CK_ATTRIBUTE> tmpl, CK_OBJECT_HANDLE* key) = 0;
  virtual CK_RV generateKeyPair(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism,
                                std::span<const CK_ATTRIBUTE> publicTmpl,
                                std::span<const CK_ATTRIBUTE> privateTmpl, CK_OBJECT_HANDLE* publicKey,
                                CK_OBJECT_HANDLE* privateKey) = 0;
  virtual CK_RV createObject(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> tmpl,
                             CK_OBJECT_HANDLE* object) = 0;
  // Every object matching tmpl, up to maxObjects.
  virtual CK_RV findObjects(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> tmpl,
                            std::vector<CK_OBJECT_HANDLE>* objects, size_t maxObjects = 64) = 0;
  // Standard semantics: pValue == nullptr queries ulValueLen.
  virtual CK_RV getAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                  std::span<CK_ATTRIBUTE> tmpl) = 0;
  virtual CK_RV setAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                  std::span<const CK_ATTRIBUTE> tmpl) = 0;
  virtual CK_RV destroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) = 0;

  virtual CK_RV encryptInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) = 0;
  virtual CK_RV encrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, Bytes* out) = 0;
  virtual CK_RV decryptInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) = 0;
  virtual CK_RV decrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, Bytes* out) = 0;
  virtual CK_RV signInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) = 0;
  virtual CK_RV sign(CK_SESSION_HANDLE session, std::span<const uint8_t> data, Bytes* signature) = 0;
  virtual CK_RV verifyInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) = 0;
  virtual CK_RV verify(CK_SESSION_HANDLE session, std::span<const uint8_t> data,
                       std::span<const uint8_t> signature) = 0;
  virtual CK_RV wrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE wrappingKey,
                        CK_OBJECT_HANDLE key, Bytes* wrapped) = 0;
  virtual CK_RV unwrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism,
                          CK_OBJECT_HANDLE unwrappingKey, std::span<const uint8_t> wrapped,
                          std::span<const CK_ATTRIBUTE> tmpl, CK_OBJECT_HANDLE* key) = 0;
  // C_DigestInit + C_DigestKey + C_DigestFinal: the digest of a secret key's value, computed
  // inside the token (BYOK check values). Default: not supported.
  virtual CK_RV digestKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key, Bytes* digest) {
    (void)session;
    (void)mechanism;
    (void)key;
    (void)digest;
    return CKR_FUNCTION_NOT_SUPPORTED;
  }
  // C_CopyObject: a copy of `object` with tmpl's attributes changed. Default: not supported.
  virtual CK_RV copyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, std::span<const CK_ATTRIBUTE> tmpl,
                           CK_OBJECT_HANDLE* copy) {
    (void)session;
    (void)object;
    (void)tmpl;
    (void)copy;
    return CKR_FUNCTION_NOT_SUPPORTED;
  }
  // C_GenerateRandom into out (its size is the length asked for).
  virtual CK_RV generateRandom(CK_SESSION_HANDLE session, std::span<uint8_t> out) {
    (void)session;
    (void)out;
    return CKR_FUNCTION_NOT_SUPPORTED;
  }
};

}  // namespace keygate::backends::pkcs11

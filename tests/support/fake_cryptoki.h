#pragma once
// An in-memory Cryptoki for unit tests of the PKCS#11 backend: slots with tokens, PINs,
// sessions with a per-token login state, objects as attribute maps, usage attributes
// enforced on *Init/wrap/unwrap (CKR_KEY_FUNCTION_NOT_PERMITTED), toy "crypto" (XOR) so
// round trips work, injectable failures and a call log. Thread-safe (one mutex).

#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "backends/pkcs11/cryptoki.h"

namespace keygate::backends::testing {

class FakeCryptoki final : public pkcs11::Cryptoki {
 public:
  explicit FakeCryptoki(int freeSlots = 4);

  // The next call of `function` ("C_Login", "C_SetAttributeValue", …) returns rv.
  void failNext(const std::string& function, CK_RV rv, int times = 1);
  // Invalidate every session (as if the module restarted): later calls on them fail.
  void dropAllSessions();
  std::vector<std::string> calls() const;
  int callCount(const std::string& function) const;
  // Templates passed to C_GenerateKey / C_GenerateKeyPair (public then private).
  std::vector<std::map<CK_ATTRIBUTE_TYPE, pkcs11::Bytes>> generationTemplates() const;
  size_t objectCount() const;

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
  CK_RV destroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) override;
  CK_RV encryptInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) override;
  CK_RV encrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, pkcs11::Bytes* out) override;
  CK_RV decryptInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) override;
  CK_RV decrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, pkcs11::Bytes* out) override;
  CK_RV signInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) override;
  CK_RV sign(CK_SESSION_HANDLE session, std::span<const uint8_t> data, pkcs11::Bytes* signature) override;
  CK_RV verifyInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) override;
  CK_RV verify(CK_SESSION_HANDLE session, std::span<const uint8_t> data, std::span<const uint8_t> signature) override;
  CK_RV wrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE wrappingKey,
                CK_OBJECT_HANDLE key, pkcs11::Bytes* wrapped) override;
  CK_RV unwrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE unwrappingKey,
                  std::span<const uint8_t> wrapped, std::span<const CK_ATTRIBUTE> tmpl, CK_OBJECT_HANDLE* key) override;

 private:
  using Attrs = std::map<CK_ATTRIBUTE_TYPE, pkcs11::Bytes>;
  struct Slot {
    bool initialized = false;
    std::string label;  // 32 bytes padded
    std::string soPin, userPin;
    bool userLoggedIn = false;
  };
  struct SessionState {
    CK_SLOT_ID slot = 0;
    CK_OBJECT_HANDLE activeKey = CK_INVALID_HANDLE;  // of the pending *Init
    CK_MECHANISM_TYPE activeMechanism = 0;
  };
  struct Object {
    CK_SLOT_ID slot = 0;
    Attrs attrs;
  };

  // Records the call; returns an injected failure or the session check result.
  CK_RV enter(const std::string& function, CK_SESSION_HANDLE session, bool needLogin);
  CK_RV useKey(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key, CK_ATTRIBUTE_TYPE usage);
  CK_OBJECT_HANDLE addObject(CK_SLOT_ID slot, Attrs attrs);
  pkcs11::Bytes macOrXor(CK_SESSION_HANDLE session, std::span<const uint8_t> data);
  static Attrs toAttrs(std::span<const CK_ATTRIBUTE> tmpl);
  bool boolOf(const Attrs& a, CK_ATTRIBUTE_TYPE t, bool fallback) const;
  uint8_t keyByte(CK_OBJECT_HANDLE key) const;

  mutable std::mutex mu_;
  std::vector<Slot> slots_;
  std::map<CK_SESSION_HANDLE, SessionState> sessions_;
  std::map<CK_OBJECT_HANDLE, Object> objects_;
  std::map<std::string, std::deque<CK_RV>> failures_;
  std::vector<std::string> calls_;
  std::vector<Attrs> generationTemplates_;
  CK_SESSION_HANDLE nextSession_ = 1;
  CK_OBJECT_HANDLE nextObject_ = 100;
};

}  // namespace keygate::backends::testing

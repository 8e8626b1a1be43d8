#include "fake_cryptoki.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

namespace keygate::backends::testing {
namespace {

// The P-256 base point, so fingerprints of fake EC keys parse.
const uint8_t kP256Point[] = {
    0x04, 0x41, 0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42,
    0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
    0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};

// The P-384 base point.
const uint8_t kP384Point[] = {0x04, 0x61, 0x04, 0xaa, 0x87, 0xca, 0x22, 0xbe, 0x8b, 0x05, 0x37, 0x8e, 0xb1, 0xc7, 0x1e, 0xf3, 0x20, 0xad, 0x74, 0x6e, 0x1d, 0x3b, 0x62, 0x8b, 0xa7, 0x9b, 0x98, 0x59, 0xf7, 0x41, 0xe0, 0x82, 0x54, 0x2a, 0x38, 0x55, 0x02, 0xf2, 0x5d, 0xbf, 0x55, 0x29, 0x6c, 0x3a, 0x54, 0x5e, 0x38, 0x72, 0x76, 0x0a, 0xb7, 0x36, 0x17, 0xde, 0x4a, 0x96, 0x26, 0x2c, 0x6f, 0x5d, 0x9e, 0x98, 0xbf, 0x92, 0x92, 0xdc, 0x29, 0xf8, 0xf4, 0x1d, 0xbd, 0x28, 0x9a, 0x14, 0x7c, 0xe9, 0xda, 0x31, 0x13, 0xb5, 0xf0, 0xb8, 0xc0, 0x0a, 0x60, 0xb1, 0xce, 0x1d, 0x7e, 0x81, 0x9d, 0x7a, 0x43, 0x1d, 0x7c, 0x90, 0xea, 0x0e, 0x5f};

}  // namespace

FakeCryptoki::FakeCryptoki(int freeSlots) : slots_(static_cast<size_t>(freeSlots)) {}

void FakeCryptoki::failNext(const std::string& function, CK_RV rv, int times) {
  std::lock_guard<std::mutex> l(mu_);
  for (int i = 0; i < times; ++i) failures_[function].push_back(rv);
}

void FakeCryptoki::dropAllSessions() {
  std::lock_guard<std::mutex> l(mu_);
  sessions_.clear();
  for (auto& s : slots_) s.userLoggedIn = false;
}

std::vector<std::string> FakeCryptoki::calls() const {
  std::lock_guard<std::mutex> l(mu_);
  return calls_;
}

int FakeCryptoki::callCount(const std::string& function) const {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<int>(std::count(calls_.begin(), calls_.end(), function));
}

std::vector<std::map<CK_ATTRIBUTE_TYPE, pkcs11::Bytes>> FakeCryptoki::generationTemplates() const {
  std::lock_guard<std::mutex> l(mu_);
  return generationTemplates_;
}

size_t FakeCryptoki::objectCount() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (const auto& [h, o] : objects_) n += boolOf(o.attrs, CKA_TOKEN, false) ? 1 : 0;
  return n;
}

CK_RV FakeCryptoki::enter(const std::string& function, CK_SESSION_HANDLE session, bool needLogin) {
  calls_.push_back(function);
  if (auto it = failures_.find(function); it != failures_.end() && !it->second.empty()) {
    CK_RV rv = it->second.front();
    it->second.pop_front();
    return rv;
  }
  if (session == CK_INVALID_HANDLE) return CKR_OK;
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return CKR_SESSION_HANDLE_INVALID;
  if (needLogin && !slots_[it->second.slot].userLoggedIn) return CKR_USER_NOT_LOGGED_IN;
  return CKR_OK;
}

FakeCryptoki::Attrs FakeCryptoki::toAttrs(std::span<const CK_ATTRIBUTE> tmpl) {
  Attrs a;
  for (const auto& t : tmpl) {
    const auto* p = static_cast<const uint8_t*>(t.pValue);
    a[t.type] = pkcs11::Bytes(p, p + t.ulValueLen);
  }
  return a;
}

bool FakeCryptoki::boolOf(const Attrs& a, CK_ATTRIBUTE_TYPE t, bool fallback) const {
  auto it = a.find(t);
  if (it == a.end() || it->second.size() != 1) return fallback;
  return it->second[0] != 0;
}

uint8_t FakeCryptoki::keyByte(CK_OBJECT_HANDLE key) const {
  auto it = objects_.find(key);
  if (it == objects_.end()) return 0x42;
  auto id = it->second.attrs.find(CKA_ID);
  return id == it->second.attrs.end() || id->second.empty() ? 0x42 : static_cast<uint8_t>(id->second[0] | 1);
}

CK_OBJECT_HANDLE FakeCryptoki::addObject(CK_SLOT_ID slot, Attrs attrs) {
  CK_OBJECT_HANDLE h = nextObject_++;
  objects_[h] = Object{slot, std::move(attrs)};
  return h;
}

CK_RV FakeCryptoki::getSlotList(bool, std::vector<CK_SLOT_ID>* slots) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_GetSlotList", CK_INVALID_HANDLE, false)) return rv;
  slots->clear();
  for (size_t i = 0; i < slots_.size(); ++i) slots->push_back(i);
  return CKR_OK;
}

CK_RV FakeCryptoki::getTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_GetTokenInfo", CK_INVALID_HANDLE, false)) return rv;
  if (slot >= slots_.size()) return CKR_SLOT_ID_INVALID;
  std::memset(info, 0, sizeof(*info));
  const Slot& s = slots_[slot];
  std::string label = s.initialized ? s.label : std::string(32, ' ');
  std::memcpy(info->label, label.data(), 32);
  if (s.initialized) info->flags |= CKF_TOKEN_INITIALIZED;
  if (!s.userPin.empty()) info->flags |= CKF_USER_PIN_INITIALIZED;
  return CKR_OK;
}

CK_RV FakeCryptoki::initToken(CK_SLOT_ID slot, std::string_view soPin, std::string_view label32) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_InitToken", CK_INVALID_HANDLE, false)) return rv;
  if (slot >= slots_.size()) return CKR_SLOT_ID_INVALID;
  if (label32.size() != 32) return CKR_ARGUMENTS_BAD;
  slots_[slot] = Slot{true, std::string(label32), std::string(soPin), "", false};
  return CKR_OK;
}

CK_RV FakeCryptoki::openSession(CK_SLOT_ID slot, CK_FLAGS, CK_SESSION_HANDLE* session) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_OpenSession", CK_INVALID_HANDLE, false)) return rv;
  if (slot >= slots_.size() || !slots_[slot].initialized) return CKR_TOKEN_NOT_RECOGNIZED;
  *session = nextSession_++;
  sessions_[*session] = SessionState{slot, CK_INVALID_HANDLE};
  return CKR_OK;
}

CK_RV FakeCryptoki::closeSession(CK_SESSION_HANDLE session) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_CloseSession", session, false)) return rv;
  CK_SLOT_ID slot = sessions_[session].slot;
  sessions_.erase(session);
  bool any = false;
  for (const auto& [h, s] : sessions_) any = any || s.slot == slot;
  if (!any) slots_[slot].userLoggedIn = false;
  return CKR_OK;
}

CK_RV FakeCryptoki::login(CK_SESSION_HANDLE session, CK_USER_TYPE user, std::string_view pin) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_Login", session, false)) return rv;
  Slot& s = slots_[sessions_[session].slot];
  if (user == CKU_SO) return pin == s.soPin ? CKR_OK : CKR_PIN_INCORRECT;
  if (s.userPin.empty()) return CKR_USER_PIN_NOT_INITIALIZED;
  if (s.userLoggedIn) return CKR_USER_ALREADY_LOGGED_IN;
  if (pin != s.userPin) return CKR_PIN_INCORRECT;
  s.userLoggedIn = true;
  return CKR_OK;
}

CK_RV FakeCryptoki::logout(CK_SESSION_HANDLE session) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_Logout", session, false)) return rv;
  slots_[sessions_[session].slot].userLoggedIn = false;
  return CKR_OK;
}

CK_RV FakeCryptoki::initPin(CK_SESSION_HANDLE session, std::string_view pin) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_InitPIN", session, false)) return rv;
  slots_[sessions_[session].slot].userPin = std::string(pin);
  return CKR_OK;
}

CK_RV FakeCryptoki::generateKey(CK_SESSION_HANDLE session, const CK_MECHANISM&, std::span<const CK_ATTRIBUTE> tmpl,
                                CK_OBJECT_HANDLE* key) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_GenerateKey", session, true)) return rv;
  Attrs a = toAttrs(tmpl);
  generationTemplates_.push_back(a);
  a[CKA_CHECK_VALUE] = {0xab, 0xcd, 0xef};
  *key = addObject(sessions_[session].slot, std::move(a));
  return CKR_OK;
}

CK_RV FakeCryptoki::generateKeyPair(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism,
                                    std::span<const CK_ATTRIBUTE> publicTmpl,
                                    std::span<const CK_ATTRIBUTE> privateTmpl, CK_OBJECT_HANDLE* publicKey,
                                    CK_OBJECT_HANDLE* privateKey) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_GenerateKeyPair", session, true)) return rv;
  Attrs pub = toAttrs(publicTmpl), priv = toAttrs(privateTmpl);
  generationTemplates_.push_back(pub);
  generationTemplates_.push_back(priv);
  if (mechanism.mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN) {
    pub[CKA_MODULUS] = pkcs11::Bytes(384, 0xc3);
  } else if (pub[CKA_EC_PARAMS].size() == 7) {  // secp384r1's OID is the shorter one
    pub[CKA_EC_POINT] = pkcs11::Bytes(std::begin(kP384Point), std::end(kP384Point));
  } else {
    pub[CKA_EC_POINT] = pkcs11::Bytes(std::begin(kP256Point), std::end(kP256Point));
  }
  *publicKey = addObject(sessions_[session].slot, std::move(pub));
  *privateKey = addObject(sessions_[session].slot, std::move(priv));
  return CKR_OK;
}

CK_RV FakeCryptoki::createObject(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> tmpl,
                                 CK_OBJECT_HANDLE* object) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_CreateObject", session, true)) return rv;
  *object = addObject(sessions_[session].slot, toAttrs(tmpl));
  return CKR_OK;
}

CK_RV FakeCryptoki::findObjects(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> tmpl,
                                std::vector<CK_OBJECT_HANDLE>* objects, size_t maxObjects) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_FindObjects", session, false)) return rv;
  const CK_SLOT_ID slot = sessions_[session].slot;
  const bool loggedIn = slots_[slot].userLoggedIn;
  Attrs want = toAttrs(tmpl);
  objects->clear();
  for (const auto& [h, o] : objects_) {
    if (o.slot != slot || (boolOf(o.attrs, CKA_PRIVATE, true) && !loggedIn)) continue;
    bool match = true;
    for (const auto& [t, v] : want) {
      auto it = o.attrs.find(t);
      match = match && it != o.attrs.end() && it->second == v;
    }
    if (match && objects->size() < maxObjects) objects->push_back(h);
  }
  return CKR_OK;
}

CK_RV FakeCryptoki::getAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                      std::span<CK_ATTRIBUTE> tmpl) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_GetAttributeValue", session, false)) return rv;
  auto it = objects_.find(object);
  if (it == objects_.end()) return CKR_OBJECT_HANDLE_INVALID;
  if (boolOf(it->second.attrs, CKA_PRIVATE, true) && !slots_[it->second.slot].userLoggedIn) {
    return CKR_OBJECT_HANDLE_INVALID;
  }
  CK_RV result = CKR_OK;
  for (auto& t : tmpl) {
    auto a = it->second.attrs.find(t.type);
    if (a == it->second.attrs.end()) {
      t.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      result = CKR_ATTRIBUTE_TYPE_INVALID;
    } else if (t.type == CKA_VALUE && boolOf(it->second.attrs, CKA_SENSITIVE, false)) {
      t.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      result = CKR_ATTRIBUTE_SENSITIVE;
    } else if (t.pValue == nullptr) {
      t.ulValueLen = a->second.size();
    } else if (t.ulValueLen < a->second.size()) {
      t.ulValueLen = CK_UNAVAILABLE_INFORMATION;
      result = CKR_BUFFER_TOO_SMALL;
    } else {
      std::memcpy(t.pValue, a->second.data(), a->second.size());
      t.ulValueLen = a->second.size();
    }
  }
  return result;
}

CK_RV FakeCryptoki::setAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                      std::span<const CK_ATTRIBUTE> tmpl) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_SetAttributeValue", session, true)) return rv;
  auto it = objects_.find(object);
  if (it == objects_.end()) return CKR_OBJECT_HANDLE_INVALID;
  if (!boolOf(it->second.attrs, CKA_MODIFIABLE, true)) return CKR_ATTRIBUTE_READ_ONLY;
  for (const auto& [t, v] : toAttrs(tmpl)) it->second.attrs[t] = v;
  return CKR_OK;
}

CK_RV FakeCryptoki::destroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_DestroyObject", session, true)) return rv;
  return objects_.erase(object) ? CKR_OK : CKR_OBJECT_HANDLE_INVALID;
}

CK_RV FakeCryptoki::useKey(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key, CK_ATTRIBUTE_TYPE usage) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return CKR_KEY_HANDLE_INVALID;
  if (!boolOf(it->second.attrs, usage, false)) return CKR_KEY_FUNCTION_NOT_PERMITTED;
  sessions_[session].activeKey = key;
  return CKR_OK;
}

#define FAKE_INIT(NAME, FN, USAGE)                                                                    \
  CK_RV FakeCryptoki::FN(CK_SESSION_HANDLE session, const CK_MECHANISM& m, CK_OBJECT_HANDLE key) {   \
    std::lock_guard<std::mutex> l(mu_);                                                               \
    if (CK_RV rv = enter(NAME, session, true)) return rv;                                             \
    sessions_[session].activeMechanism = m.mechanism;                                                 \
    return useKey(session, key, USAGE);                                                               \
  }
FAKE_INIT("C_EncryptInit", encryptInit, CKA_ENCRYPT)
FAKE_INIT("C_DecryptInit", decryptInit, CKA_DECRYPT)
FAKE_INIT("C_SignInit", signInit, CKA_SIGN)
FAKE_INIT("C_VerifyInit", verifyInit, CKA_VERIFY)
#undef FAKE_INIT

CK_RV FakeCryptoki::encrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, pkcs11::Bytes* out) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_Encrypt", session, true)) return rv;
  uint8_t k = keyByte(sessions_[session].activeKey);
  out->assign(in.begin(), in.end());
  for (auto& b : *out) b ^= k;
  return CKR_OK;
}

CK_RV FakeCryptoki::decrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, pkcs11::Bytes* out) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_Decrypt", session, true)) return rv;
  uint8_t k = keyByte(sessions_[session].activeKey);
  out->assign(in.begin(), in.end());
  for (auto& b : *out) b ^= k;
  return CKR_OK;
}

// A real HMAC-SHA-256 for keys made with a CKA_VALUE (the self test's known-answer key);
// the XOR stand-in otherwise (generated keys have no value here).
pkcs11::Bytes FakeCryptoki::macOrXor(CK_SESSION_HANDLE session, std::span<const uint8_t> data) {
  const SessionState& ss = sessions_[session];
  auto obj = objects_.find(ss.activeKey);
  if (ss.activeMechanism == CKM_SHA256_HMAC && obj != objects_.end() && obj->second.attrs.count(CKA_VALUE)) {
    const pkcs11::Bytes& key = obj->second.attrs.at(CKA_VALUE);
    pkcs11::Bytes mac(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), mac.data(), &len);
    mac.resize(len);
    return mac;
  }
  uint8_t k = keyByte(ss.activeKey);
  pkcs11::Bytes out(data.begin(), data.end());
  for (auto& b : out) b ^= k;
  return out;
}

CK_RV FakeCryptoki::sign(CK_SESSION_HANDLE session, std::span<const uint8_t> data, pkcs11::Bytes* signature) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_Sign", session, true)) return rv;
  *signature = macOrXor(session, data);
  return CKR_OK;
}

CK_RV FakeCryptoki::verify(CK_SESSION_HANDLE session, std::span<const uint8_t> data,
                           std::span<const uint8_t> signature) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_Verify", session, true)) return rv;
  pkcs11::Bytes want = macOrXor(session, data);
  return want == pkcs11::Bytes(signature.begin(), signature.end()) ? CKR_OK : CKR_SIGNATURE_INVALID;
}

CK_RV FakeCryptoki::wrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM&, CK_OBJECT_HANDLE wrappingKey,
                            CK_OBJECT_HANDLE key, pkcs11::Bytes* wrapped) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_WrapKey", session, true)) return rv;
  if (CK_RV rv = useKey(session, wrappingKey, CKA_WRAP)) return rv;
  auto it = objects_.find(key);
  if (it == objects_.end()) return CKR_KEY_HANDLE_INVALID;
  if (!boolOf(it->second.attrs, CKA_EXTRACTABLE, false)) return CKR_KEY_UNEXTRACTABLE;
  uint8_t k = keyByte(wrappingKey);
  *wrapped = it->second.attrs[CKA_VALUE];
  for (auto& b : *wrapped) b ^= k;
  return CKR_OK;
}

CK_RV FakeCryptoki::unwrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM&, CK_OBJECT_HANDLE unwrappingKey,
                              std::span<const uint8_t> wrapped, std::span<const CK_ATTRIBUTE> tmpl,
                              CK_OBJECT_HANDLE* key) {
  std::lock_guard<std::mutex> l(mu_);
  if (CK_RV rv = enter("C_UnwrapKey", session, true)) return rv;
  if (CK_RV rv = useKey(session, unwrappingKey, CKA_UNWRAP)) return rv;
  uint8_t k = keyByte(unwrappingKey);
  Attrs a = toAttrs(tmpl);
  a[CKA_VALUE].assign(wrapped.begin(), wrapped.end());
  for (auto& b : a[CKA_VALUE]) b ^= k;
  *key = addObject(sessions_[session].slot, std::move(a));
  return CKR_OK;
}

}  // namespace keygate::backends::testing

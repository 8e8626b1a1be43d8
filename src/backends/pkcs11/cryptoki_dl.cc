#include "backends/pkcs11/cryptoki_dl.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "backends/pkcs11/ck_errors.h"
#include "common/log.h"

namespace keygate::backends::pkcs11 {
namespace {

// Loaded modules by real path: one C_Initialize per module and process.
std::mutex& modulesMutex() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::weak_ptr<DlCryptoki>>& modules() {
  static auto* m = new std::map<std::string, std::weak_ptr<DlCryptoki>>();  // never destroyed
  return *m;
}

// The C API takes non-const pointers for inputs it does not modify.
CK_ATTRIBUTE_PTR mut(std::span<const CK_ATTRIBUTE> t) { return const_cast<CK_ATTRIBUTE_PTR>(t.data()); }
CK_MECHANISM_PTR mut(const CK_MECHANISM& m) { return const_cast<CK_MECHANISM_PTR>(&m); }
CK_BYTE_PTR mut(std::span<const uint8_t> b) { return const_cast<CK_BYTE_PTR>(b.data()); }
CK_UTF8CHAR_PTR pinPtr(std::string_view pin) {
  return reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(pin.data()));
}

std::string trimPadded(const unsigned char* p, size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// Two-call convention: size query, then the call with a buffer.
template <typename Fn>
CK_RV twoCall(Bytes* out, Fn fn) {
  CK_ULONG len = 0;
  CK_RV rv = fn(nullptr, &len);
  if (rv != CKR_OK) return rv;
  out->assign(len, 0);
  rv = fn(out->data(), &len);
  if (rv == CKR_OK) out->resize(len);
  return rv;
}

}  // namespace

Result<std::shared_ptr<DlCryptoki>> DlCryptoki::load(const std::string& modulePath) {
  if (modulePath.empty()) {
    return makeError(ErrorCode::kInvalidArgument, "PKCS#11 module path is empty (backends[].module)");
  }
  struct stat st {};
  if (::stat(modulePath.c_str(), &st) != 0) {
    return makeError(ErrorCode::kNotFound,
                     "PKCS#11 module " + modulePath + " does not exist: " + std::strerror(errno));
  }
  char real[PATH_MAX];
  std::string key = ::realpath(modulePath.c_str(), real) ? std::string(real) : modulePath;

  std::lock_guard<std::mutex> l(modulesMutex());
  if (auto existing = modules()[key].lock()) return existing;

  ::dlerror();
  void* handle = ::dlopen(modulePath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return makeError(ErrorCode::kInvalidArgument, "cannot load PKCS#11 module " + modulePath + ": " +
                                                      (why ? why : "dlopen failed"));
  }
  auto getList = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  if (getList == nullptr) {
    ::dlclose(handle);  // nothing of it ran yet
    return makeError(ErrorCode::kInvalidArgument,
                     modulePath + " is not a PKCS#11 module: it has no C_GetFunctionList symbol");
  }
  CK_FUNCTION_LIST_PTR fns = nullptr;
  CK_RV rv = getList(&fns);
  if (rv != CKR_OK || fns == nullptr) {
    return ckError("C_GetFunctionList", rv == CKR_OK ? CKR_GENERAL_ERROR : rv, modulePath);
  }
  std::shared_ptr<DlCryptoki> ck(new DlCryptoki(key, fns));
  CK_C_INITIALIZE_ARGS args;
  std::memset(&args, 0, sizeof(args));
  args.flags = CKF_OS_LOCKING_OK;
  rv = fns->C_Initialize(&args);
  if (rv == CKR_OK) {
    ck->finalizeOnClose_ = true;
  } else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {  // someone else in the process did it
    return ckError("C_Initialize", rv, modulePath);
  }
  CK_INFO info;
  if (fns->C_GetInfo(&info) == CKR_OK) {
    ck->description_ = trimPadded(info.manufacturerID, sizeof(info.manufacturerID)) + " " +
                       trimPadded(info.libraryDescription, sizeof(info.libraryDescription)) + " " +
                       std::to_string(info.libraryVersion.major) + "." + std::to_string(info.libraryVersion.minor);
  }
  log::Logger("pkcs11").info("loaded PKCS#11 module", {{"module", key}, {"library", ck->description_}});
  modules()[key] = ck;
  return ck;
}

DlCryptoki::~DlCryptoki() {
  if (!finalizeOnClose_) return;  // also the failure path inside load(), which holds the lock
  std::lock_guard<std::mutex> l(modulesMutex());
  // A load() that raced with our last release found the weak_ptr expired and saw
  // CKR_CRYPTOKI_ALREADY_INITIALIZED: hand the finalisation over to that instance.
  if (auto current = modules()[path_].lock(); current && current.get() != this) {
    current->finalizeOnClose_ = true;
    return;
  }
  f_->C_Finalize(nullptr);
}

CK_RV DlCryptoki::getSlotList(bool tokenPresent, std::vector<CK_SLOT_ID>* slots) {
  CK_ULONG n = 0;
  CK_RV rv = f_->C_GetSlotList(tokenPresent ? CK_TRUE : CK_FALSE, nullptr, &n);
  if (rv != CKR_OK) return rv;
  slots->assign(n, 0);
  rv = f_->C_GetSlotList(tokenPresent ? CK_TRUE : CK_FALSE, slots->data(), &n);
  if (rv == CKR_OK) slots->resize(n);
  return rv;
}

CK_RV DlCryptoki::getTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info) { return f_->C_GetTokenInfo(slot, info); }

CK_RV DlCryptoki::initToken(CK_SLOT_ID slot, std::string_view soPin, std::string_view label32) {
  if (label32.size() != 32) return CKR_ARGUMENTS_BAD;
  return f_->C_InitToken(slot, pinPtr(soPin), soPin.size(),
                         reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(label32.data())));
}

namespace {
std::atomic<int64_t> gOpenSessions{0};
}  // namespace

int64_t openSessionCount() { return gOpenSessions.load(std::memory_order_relaxed); }

CK_RV DlCryptoki::openSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE* session) {
  const CK_RV rv = f_->C_OpenSession(slot, flags, nullptr, nullptr, session);
  if (rv == CKR_OK) gOpenSessions.fetch_add(1, std::memory_order_relaxed);
  return rv;
}

CK_RV DlCryptoki::closeSession(CK_SESSION_HANDLE session) {
  const CK_RV rv = f_->C_CloseSession(session);
  // CKR_SESSION_HANDLE_INVALID / CLOSED: the module already forgot it (a token removed, C_Finalize).
  if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED)
    gOpenSessions.fetch_sub(1, std::memory_order_relaxed);
  return rv;
}

CK_RV DlCryptoki::login(CK_SESSION_HANDLE session, CK_USER_TYPE user, std::string_view pin) {
  return f_->C_Login(session, user, pinPtr(pin), pin.size());
}

CK_RV DlCryptoki::logout(CK_SESSION_HANDLE session) { return f_->C_Logout(session); }

CK_RV DlCryptoki::initPin(CK_SESSION_HANDLE session, std::string_view pin) {
  return f_->C_InitPIN(session, pinPtr(pin), pin.size());
}

CK_RV DlCryptoki::generateKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism,
                              std::span<const CK_ATTRIBUTE> tmpl, CK_OBJECT_HANDLE* key) {
  return f_->C_GenerateKey(session, mut(mechanism), mut(tmpl), tmpl.size(), key);
}

CK_RV DlCryptoki::generateKeyPair(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism,
                                  std::span<const CK_ATTRIBUTE> publicTmpl, std::span<const CK_ATTRIBUTE> privateTmpl,
                                  CK_OBJECT_HANDLE* publicKey, CK_OBJECT_HANDLE* privateKey) {
  return f_->C_GenerateKeyPair(session, mut(mechanism), mut(publicTmpl), publicTmpl.size(), mut(privateTmpl),
                               privateTmpl.size(), publicKey, privateKey);
}

CK_RV DlCryptoki::createObject(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> tmpl,
                               CK_OBJECT_HANDLE* object) {
  return f_->C_CreateObject(session, mut(tmpl), tmpl.size(), object);
}

CK_RV DlCryptoki::findObjects(CK_SESSION_HANDLE session, std::span<const CK_ATTRIBUTE> tmpl,
                              std::vector<CK_OBJECT_HANDLE>* objects, size_t maxObjects) {
  objects->clear();
  CK_RV rv = f_->C_FindObjectsInit(session, mut(tmpl), tmpl.size());
  if (rv != CKR_OK) return rv;
  CK_OBJECT_HANDLE batch[16];
  while (objects->size() < maxObjects) {
    CK_ULONG n = 0;
    rv = f_->C_FindObjects(session, batch, 16, &n);
    if (rv != CKR_OK || n == 0) break;
    objects->insert(objects->end(), batch, batch + n);
  }
  CK_RV frv = f_->C_FindObjectsFinal(session);
  if (objects->size() > maxObjects) objects->resize(maxObjects);
  return rv != CKR_OK ? rv : frv;
}

CK_RV DlCryptoki::getAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                    std::span<CK_ATTRIBUTE> tmpl) {
  return f_->C_GetAttributeValue(session, object, tmpl.data(), tmpl.size());
}

CK_RV DlCryptoki::setAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                    std::span<const CK_ATTRIBUTE> tmpl) {
  return f_->C_SetAttributeValue(session, object, mut(tmpl), tmpl.size());
}

CK_RV DlCryptoki::copyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, std::span<const CK_ATTRIBUTE> tmpl,
                             CK_OBJECT_HANDLE* copy) {
  return f_->C_CopyObject(session, object, mut(tmpl), tmpl.size(), copy);
}

CK_RV DlCryptoki::destroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
  return f_->C_DestroyObject(session, object);
}

CK_RV DlCryptoki::encryptInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) {
  return f_->C_EncryptInit(session, mut(mechanism), key);
}

CK_RV DlCryptoki::encrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, Bytes* out) {
  return twoCall(out, [&](CK_BYTE_PTR buf, CK_ULONG* len) {
    return f_->C_Encrypt(session, mut(in), in.size(), buf, len);
  });
}

CK_RV DlCryptoki::decryptInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) {
  return f_->C_DecryptInit(session, mut(mechanism), key);
}

CK_RV DlCryptoki::decrypt(CK_SESSION_HANDLE session, std::span<const uint8_t> in, Bytes* out) {
  return twoCall(out, [&](CK_BYTE_PTR buf, CK_ULONG* len) {
    return f_->C_Decrypt(session, mut(in), in.size(), buf, len);
  });
}

CK_RV DlCryptoki::signInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) {
  return f_->C_SignInit(session, mut(mechanism), key);
}

CK_RV DlCryptoki::sign(CK_SESSION_HANDLE session, std::span<const uint8_t> data, Bytes* signature) {
  return twoCall(signature, [&](CK_BYTE_PTR buf, CK_ULONG* len) {
    return f_->C_Sign(session, mut(data), data.size(), buf, len);
  });
}

CK_RV DlCryptoki::verifyInit(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key) {
  return f_->C_VerifyInit(session, mut(mechanism), key);
}

CK_RV DlCryptoki::verify(CK_SESSION_HANDLE session, std::span<const uint8_t> data,
                         std::span<const uint8_t> signature) {
  return f_->C_Verify(session, mut(data), data.size(), mut(signature), signature.size());
}

CK_RV DlCryptoki::wrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE wrappingKey,
                          CK_OBJECT_HANDLE key, Bytes* wrapped) {
  return twoCall(wrapped, [&](CK_BYTE_PTR buf, CK_ULONG* len) {
    return f_->C_WrapKey(session, mut(mechanism), wrappingKey, key, buf, len);
  });
}

CK_RV DlCryptoki::unwrapKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism,
                            CK_OBJECT_HANDLE unwrappingKey, std::span<const uint8_t> wrapped,
                            std::span<const CK_ATTRIBUTE> tmpl, CK_OBJECT_HANDLE* key) {
  return f_->C_UnwrapKey(session, mut(mechanism), unwrappingKey, mut(wrapped), wrapped.size(), mut(tmpl),
                         tmpl.size(), key);
}

CK_RV DlCryptoki::generateRandom(CK_SESSION_HANDLE session, std::span<uint8_t> out) {
  return f_->C_GenerateRandom(session, out.data(), out.size());
}

CK_RV DlCryptoki::digestKey(CK_SESSION_HANDLE session, const CK_MECHANISM& mechanism, CK_OBJECT_HANDLE key, Bytes* digest) {
  CK_RV rv = f_->C_DigestInit(session, const_cast<CK_MECHANISM_PTR>(&mechanism));
  if (rv != CKR_OK) return rv;
  rv = f_->C_DigestKey(session, key);
  Bytes out(64);
  CK_ULONG len = out.size();
  CK_RV fin = f_->C_DigestFinal(session, out.data(), &len);  // also ends the operation after a failed C_DigestKey
  if (rv != CKR_OK) return rv;
  if (fin != CKR_OK) return fin;
  out.resize(len);
  *digest = std::move(out);
  return CKR_OK;
}

}  // namespace keygate::backends::pkcs11

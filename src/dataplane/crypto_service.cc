#include "dataplane/crypto_service.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "api/v1alpha1/roles.h"
#include "common/log.h"
#include "controllers/backend_spec.h"
#include "dataplane/ciphertext.h"

namespace keygate::dataplane {
namespace av1 = api::v1alpha1;
namespace {

const log::Logger& logger() {
  static const log::Logger l("dataplane.crypto");
  return l;
}

using Bytes = std::vector<uint8_t>;
backends::ByteView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
std::string str(const Bytes& b) { return std::string(b.begin(), b.end()); }

// Wipes a string's bytes (plaintext, data keys) before it is freed.
void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}
void wipe(Bytes& b) {
  if (!b.empty()) OPENSSL_cleanse(b.data(), b.size());
}

av1::Purpose purposeOf(Operation op) {
  switch (op) {
    case Operation::kEncrypt:
    case Operation::kDecrypt:
    case Operation::kGenerateDataKey:
    case Operation::kReEncrypt: return av1::Purpose::kEncrypt;
    case Operation::kSign:
    case Operation::kVerify: return av1::Purpose::kSign;
    case Operation::kMac:
    case Operation::kVerifyMac: return av1::Purpose::kMAC;
    case Operation::kGetPublicKey: return av1::Purpose::kUnspecified;  // any asymmetric key
  }
  return av1::Purpose::kUnspecified;
}

bool asymmetric(av1::Algorithm a) {
  return a == av1::Algorithm::kRsa3072 || a == av1::Algorithm::kRsa4096 || a == av1::Algorithm::kEcP256 ||
         a == av1::Algorithm::kEcP384;
}

// The highest version in `state`, or 0.
int64_t highestIn(const av1::EncryptionKeyStatus& st, av1::KeyState state) {
  int64_t best = 0;
  for (const auto& v : st.versions)
    if (v.state == state) best = std::max(best, v.version);
  return best;
}

std::string stateName(av1::KeyState s) { return std::string(av1::toString(s)); }

// What a refused state means for the caller, by state.
std::string stateAdvice(av1::KeyState s) {
  switch (s) {
    case av1::KeyState::kPending:
    case av1::KeyState::kPreActive: return "it can be used once a KeyActivationRequest is approved";
    case av1::KeyState::kDeactivated: return "a Deactivated version only decrypts and verifies";
    case av1::KeyState::kCompromised: return "a Compromised key is never used again; rotate to a new key";
    case av1::KeyState::kExpired: return "its activation window expired; request a new version";
    case av1::KeyState::kDestroyScheduled: return "it is scheduled for destruction; cancel the destruction to use it";
    case av1::KeyState::kDestroyed: return "its material is destroyed";
    case av1::KeyState::kFailed: return "the key failed; see its status conditions";
    default: return "see the key's status";
  }
}

Result<backends::SigningScheme> schemeOf(v1::SigningAlgorithm a, backends::Algorithm keyAlg) {
  switch (a) {
    case v1::SIGNING_ALGORITHM_UNSPECIFIED: return backends::defaultSigningScheme(keyAlg);
    case v1::ECDSA_SHA_256: return backends::SigningScheme::kEcdsaSha256;
    case v1::ECDSA_SHA_384: return backends::SigningScheme::kEcdsaSha384;
    case v1::RSASSA_PSS_SHA_256: return backends::SigningScheme::kRsaPssSha256;
    case v1::RSASSA_PKCS1_V1_5_SHA_256: return backends::SigningScheme::kRsaPkcs1Sha256;
    default: return makeError(ErrorCode::kInvalidArgument, "unknown signing algorithm " + std::to_string(a));
  }
}

v1::SigningAlgorithm protoScheme(backends::SigningScheme s) {
  switch (s) {
    case backends::SigningScheme::kEcdsaSha256: return v1::ECDSA_SHA_256;
    case backends::SigningScheme::kEcdsaSha384: return v1::ECDSA_SHA_384;
    case backends::SigningScheme::kRsaPssSha256: return v1::RSASSA_PSS_SHA_256;
    case backends::SigningScheme::kRsaPkcs1Sha256: return v1::RSASSA_PKCS1_V1_5_SHA_256;
  }
  return v1::SIGNING_ALGORITHM_UNSPECIFIED;
}

// Backend errors as the caller should see them: an HSM refusal is a state/purpose problem,
// anything transient is UNAVAILABLE (retry), the rest keeps its code.
Error fromBackend(const Error& e, const std::string& keyVersion) {
  Error out = e;
  if (e.reason == "KEY_USE_REFUSED") {
    out.code = ErrorCode::kFailedPrecondition;
    out.message = keyVersion + ": " + e.message;
  } else if (e.reason == "AUTHENTICATION_FAILED") {
    out.code = ErrorCode::kInvalidArgument;
  } else if (e.code == ErrorCode::kUnimplemented) {
    out.code = ErrorCode::kUnimplemented;
  } else if (e.code == ErrorCode::kInvalidArgument) {
    out.code = ErrorCode::kInvalidArgument;
  } else if (e.code == ErrorCode::kNotFound) {
    out.code = ErrorCode::kFailedPrecondition;
    out.message = keyVersion + " is not in its backend (" + e.message + "); the key's status will report it";
  } else {
    logger().warn("backend call failed", {{"keyVersion", keyVersion}, {"error", e.message}});
    out.code = ErrorCode::kUnavailable;
    out.message = "the key's backend failed (" + e.message + "); retry";
  }
  return out;
}

}  // namespace

const char* operationName(Operation op) {
  switch (op) {
    case Operation::kEncrypt: return "Encrypt";
    case Operation::kDecrypt: return "Decrypt";
    case Operation::kGenerateDataKey: return "GenerateDataKey";
    case Operation::kReEncrypt: return "ReEncrypt";
    case Operation::kSign: return "Sign";
    case Operation::kVerify: return "Verify";
    case Operation::kMac: return "Mac";
    case Operation::kVerifyMac: return "VerifyMac";
    case Operation::kGetPublicKey: return "GetPublicKey";
  }
  return "Unknown";
}

struct CryptoService::Use {
  std::shared_ptr<const av1::EncryptionKey> key;
  KeyName name;
  int64_t version = 0;
  backends::KeySpec spec;
  backends::KeyBackend* backend = nullptr;
  std::string versionText() const { return name.withVersion(version); }
  std::string versionId() const { return keyVersionId(spec.ref.keyUid, version); }
};

struct CryptoService::Call {
  Operation op;
  SteadyTime start;
  CallRecord record;
  bool denied = false;  // already audited and observed
};

CryptoService::CryptoService(CryptoServiceDeps deps, CryptoServiceOptions options)
    : deps_(std::move(deps)), options_(options), clock_(options.clock ? *options.clock : realClock()) {}

bool CryptoService::takeToken(const std::string& ns) {
  if (options_.tenantQps <= 0) return true;
  kube::RateLimiter* l = nullptr;
  {
    std::lock_guard<std::mutex> lock(limitersMu_);
    auto& slot = limiters_[ns];
    if (!slot) slot = std::make_unique<kube::RateLimiter>(kube::RateLimiterOptions{options_.tenantQps, options_.tenantBurst, options_.clock});
    l = slot.get();
  }
  return l->tryAcquire();
}

Status CryptoService::checkSize(const std::string& what, size_t n, bool required, size_t max) const {
  if (required && n == 0) return makeError(ErrorCode::kInvalidArgument, what + " is empty");
  if (n > max)
    return makeError(ErrorCode::kInvalidArgument, what + " is " + std::to_string(n) + " bytes; the limit is " +
                                                      std::to_string(max) + " (use GenerateDataKey for larger data)");
  return okStatus();
}

Error CryptoService::deny(Call& call, const Caller& caller, const KeyName& name, int64_t version, ErrorCode code,
                          const std::string& reason, const std::string& message) {
  call.denied = true;
  call.record.code = code;
  call.record.reason = reason;
  call.record.duration = clock_.steadyNow() - call.start;
  if (deps_.audit) {
    controllers::AuditRecord r;
    r.time = clock_.now();
    r.event = "KeyUseDenied";
    r.ns = name.ns;
    r.key = name.name;
    r.version = version;
    r.initiator = caller.user.username;
    r.operation = operationName(call.op);
    r.reason = reason;
    r.result = "Denied";
    r.message = message;
    deps_.audit->write(r);
  }
  if (deps_.observe) deps_.observe(call.record);
  return makeError(code, message);
}

void CryptoService::finish(Call& call, const Caller& caller, const Status& st) {
  (void)caller;
  if (call.denied) return;
  call.record.code = st.ok() ? ErrorCode::kOk : st.error().code;
  call.record.duration = clock_.steadyNow() - call.start;
  if (deps_.observe) deps_.observe(call.record);
}

void CryptoService::observeUnauthenticated(Operation op, const Error& e, const std::string& keyText) {
  Call call{op, clock_.steadyNow(), {}, false};
  call.record.operation = op;
  KeyName name;
  if (auto parsed = parseKeyName(keyText, true); parsed.ok()) name = *parsed;
  if (e.code == ErrorCode::kUnauthenticated) {
    Caller anonymous;
    anonymous.user.username = "system:anonymous";
    (void)deny(call, anonymous, name, name.version, e.code, "Unauthenticated", e.message);
    return;
  }
  call.record.ns = name.ns;
  call.record.code = e.code;
  if (deps_.observe) deps_.observe(call.record);
}

Result<CryptoService::Use> CryptoService::authorize(Call& call, const Caller& caller, Operation op, const KeyName& name,
                                                     Need need) {
  const std::string who = caller.user.username;
  // Metrics label the namespace only once a key there was found: names in requests are the
  // caller's input, and must not create label values (or rate limiters) at will.
  // 1. Tenant scope.
  const std::string saNs = caller.serviceAccountNamespace();
  if (!saNs.empty() && saNs != name.ns) {
    return deny(call, caller, name, name.version, ErrorCode::kPermissionDenied, "OtherTenant",
                who + " is a ServiceAccount of namespace " + saNs + " and may only use keys in " + saNs + "; " +
                    name.key() + " belongs to another tenant");
  }
  // A current KeyUser binding (before saying whether the key exists).
  auto key = deps_.directory->key(name.ns, name.name);
  auto bindings = deps_.directory->bindings(name.ns);
  av1::RoleGrant grant = av1::holdsRole(bindings, caller.user, av1::Role::kKeyUser, name.ns, key.get(), clock_.now());
  if (!grant.granted) {
    std::string msg, reason = "NoBinding";
    if (!grant.overdueBindings.empty()) {
      reason = "BindingOverdue";
      msg = "KeyRoleBinding " + name.ns + "/" + grant.overdueBindings.front() + " names " + who +
            " as KeyUser but is past its reviewBy date; renew the review to use " + name.key();
    } else if (!grant.selectorMismatchBindings.empty() && key) {
      msg = "the keySelector of KeyRoleBinding " + name.ns + "/" + grant.selectorMismatchBindings.front() +
            " does not match key " + name.key() + "; " + who + " holds KeyUser only for the keys it selects";
    } else {
      msg = "no current KeyUser KeyRoleBinding in namespace " + name.ns + " names " + who +
            " (User, Group or ServiceAccount); ask the namespace's key administrator for one";
    }
    return deny(call, caller, name, name.version, ErrorCode::kPermissionDenied, reason, msg);
  }
  // The key, its purpose, the version's state.
  if (!key) {
    return deny(call, caller, name, name.version, ErrorCode::kNotFound, "NotFound",
                "EncryptionKey " + name.key() + " not found");
  }
  call.record.ns = name.ns;
  call.record.purpose = std::string(av1::toString(key->spec.purpose));
  // 2. The tenant's rate limit (counted, not audited: it is load, not misuse).
  if (!takeToken(name.ns)) {
    return makeError(ErrorCode::kResourceExhausted, "namespace " + name.ns + " is over its crypto API rate limit (" +
                                                        std::to_string(static_cast<int64_t>(options_.tenantQps)) +
                                                        " calls/s); retry with backoff");
  }
  const av1::Purpose needed = purposeOf(op);
  if (needed != av1::Purpose::kUnspecified && key->spec.purpose != needed) {
    return deny(call, caller, name, name.version, ErrorCode::kFailedPrecondition, "WrongPurpose",
                "key " + name.key() + " has purpose " + call.record.purpose + "; " + operationName(op) +
                    " needs a key with purpose " + std::string(av1::toString(needed)));
  }
  if (op == Operation::kGetPublicKey && !asymmetric(key->spec.algorithm)) {
    return deny(call, caller, name, name.version, ErrorCode::kFailedPrecondition, "WrongPurpose",
                "key " + name.key() + " is " + std::string(av1::toString(key->spec.algorithm)) +
                    ", a secret key: it has no public key");
  }
  const auto& st = key->status;
  Use use;
  use.key = key;
  use.name = name;
  const av1::KeyState keyState = st.state;
  const bool keyRefusesAll = keyState == av1::KeyState::kCompromised || keyState == av1::KeyState::kDestroyScheduled ||
                             keyState == av1::KeyState::kDestroyed || keyState == av1::KeyState::kFailed;
  if (need == Need::kProtect) {
    // Always the newest Active version: the one new data is protected with.
    use.version = highestIn(st, av1::KeyState::kActive);
    if (use.version == 0 || (options_.checkStateInKeygate && keyRefusesAll)) {
      if (!options_.checkStateInKeygate && st.currentVersion > 0) {
        use.version = st.currentVersion;  // test hook: let the HSM decide
      } else {
        int64_t cur = st.currentVersion;
        const auto* v = st.findVersion(cur);
        av1::KeyState vs = v ? v->state : keyState;
        if (keyRefusesAll) vs = keyState;
        return deny(call, caller, name, cur, ErrorCode::kFailedPrecondition, "WrongState",
                    "key " + name.key() + " is " + stateName(keyState) +
                        (cur > 0 ? " (version " + std::to_string(cur) + " is " + stateName(vs) + ")" : "") +
                        ": it cannot " + operationName(op) + "; " + stateAdvice(vs));
      }
    }
  } else {
    use.version = name.version > 0 ? name.version : st.currentVersion;
    const auto* v = st.findVersion(use.version);
    if (v == nullptr) {
      return deny(call, caller, name, use.version, ErrorCode::kNotFound, "NotFound",
                  use.version > 0 ? "key " + name.key() + " has no version " + std::to_string(use.version)
                                  : "key " + name.key() + " has no version yet (state " + stateName(keyState) + ")");
    }
    bool usable = (v->state == av1::KeyState::kActive || v->state == av1::KeyState::kDeactivated) && !keyRefusesAll;
    if (!usable && options_.checkStateInKeygate) {
      av1::KeyState vs = keyRefusesAll ? keyState : v->state;
      return deny(call, caller, name, use.version, ErrorCode::kFailedPrecondition, "WrongState",
                  "version " + std::to_string(use.version) + " of key " + name.key() + " is " + stateName(vs) +
                      ": it cannot " + operationName(op) + "; " + stateAdvice(vs));
    }
  }
  // The backend.
  use.backend = deps_.backend ? deps_.backend(key->spec.backend) : nullptr;
  if (use.backend == nullptr) {
    return makeError(ErrorCode::kUnavailable,
                     "backend " + key->spec.backend + " of key " + name.key() + " is not configured on this server");
  }
  auto spec = controllers::backendSpec(*key, use.version);
  if (!spec.ok()) return makeError(ErrorCode::kFailedPrecondition, spec.error().message);
  use.spec = *spec;
  {
    std::lock_guard<std::mutex> lock(usageMu_);
    ++usage_[{name.ns, name.name, use.version, who, operationName(op)}];
  }
  return use;
}

void CryptoService::flushUsage() {
  decltype(usage_) taken;
  {
    std::lock_guard<std::mutex> lock(usageMu_);
    taken.swap(usage_);
  }
  if (!deps_.audit) return;
  const WallTime now = clock_.now();
  for (const auto& [k, n] : taken) {
    controllers::AuditRecord r;
    r.time = now;
    r.event = "KeyUsed";
    std::tie(r.ns, r.key, r.version, r.initiator, r.operation) = k;
    r.count = n;
    deps_.audit->write(r);
  }
}

Result<std::string> CryptoService::encryptWith(const Use& use, const std::string& plaintext, const std::string& aad) {
  CiphertextHeader h;
  h.keyVersion = static_cast<uint32_t>(use.version);
  const bool rsa = use.spec.algorithm == backends::Algorithm::kRsa3072 || use.spec.algorithm == backends::Algorithm::kRsa4096;
  if (rsa) {
    if (!aad.empty())
      return makeError(ErrorCode::kInvalidArgument, "RSA key " + use.name.key() + " cannot authenticate aad; send none");
    // OAEP with SHA-1 carries at most the modulus size − 2·20 − 2 bytes.
    const size_t limit = (use.spec.algorithm == backends::Algorithm::kRsa3072 ? 384 : 512) - 42;
    if (plaintext.size() > limit)
      return makeError(ErrorCode::kInvalidArgument, "RSA-OAEP key " + use.name.key() + " encrypts at most " +
                                                        std::to_string(limit) + " bytes; got " +
                                                        std::to_string(plaintext.size()) + " (use GenerateDataKey with an AES key)");
    h.algorithm = CipherAlgorithm::kRsaOaepSha1;
    auto ct = use.backend->rsaOaepEncrypt(use.spec, view(plaintext));
    if (!ct.ok()) return fromBackend(ct.error(), use.versionText());
    Bytes out = encodeHeader(h);
    out.insert(out.end(), ct->begin(), ct->end());
    return str(out);
  }
  h.algorithm = CipherAlgorithm::kAes256Gcm;
  Bytes header = encodeHeader(h);
  std::string gcmAad(header.begin(), header.end());
  gcmAad += aad;
  auto sealed = use.backend->aesGcmSeal(use.spec, view(plaintext), view(gcmAad));
  if (!sealed.ok()) return fromBackend(sealed.error(), use.versionText());
  if (sealed->iv.size() != kGcmIvSize) return makeError(ErrorCode::kInternal, "the backend returned a GCM IV that is not 12 bytes");
  std::string out(header.begin(), header.end());
  out.append(sealed->iv.begin(), sealed->iv.end());
  out.append(sealed->sealed.begin(), sealed->sealed.end());
  return out;
}

Result<std::string> CryptoService::decryptWith(Call& call, const Caller& caller, Operation op, const std::string& keyText,
                                               const std::string& ciphertext, const std::string& aad,
                                               std::string* keyVersion, std::string* keyVersionIdOut) {
  ASSIGN_OR_RETURN(KeyName name, parseKeyName(keyText, true));
  RETURN_IF_ERROR(checkSize("ciphertext", ciphertext.size(), true, options_.maxInputBytes + 1024));
  RETURN_IF_ERROR(checkSize("aad", aad.size(), false, options_.maxInputBytes));
  ASSIGN_OR_RETURN(ParsedCiphertext ct, parseCiphertext(view(ciphertext)));
  if (name.version > 0 && name.version != ct.header.keyVersion) {
    return makeError(ErrorCode::kInvalidArgument, "the ciphertext was made by version " +
                                                      std::to_string(ct.header.keyVersion) + ", not by " + keyText);
  }
  name.version = ct.header.keyVersion;
  ASSIGN_OR_RETURN(Use use, authorize(call, caller, op, name, Need::kProcess));
  *keyVersion = use.versionText();
  *keyVersionIdOut = use.versionId();
  const bool rsaKey = use.spec.algorithm == backends::Algorithm::kRsa3072 || use.spec.algorithm == backends::Algorithm::kRsa4096;
  if (rsaKey != (ct.header.algorithm == CipherAlgorithm::kRsaOaepSha1)) {
    return makeError(ErrorCode::kInvalidArgument, std::string("the ciphertext's algorithm does not match key ") +
                                                      name.key() + " (" + backends::algorithmName(use.spec.algorithm) + ")");
  }
  Result<Bytes> pt = makeError(ErrorCode::kInternal, "unreachable");
  if (rsaKey) {
    if (!aad.empty()) return makeError(ErrorCode::kInvalidArgument, "RSA ciphertexts carry no aad; send none");
    pt = use.backend->rsaOaepDecrypt(use.spec, ct.body);
  } else {
    std::string gcmAad(ct.headerBytes.begin(), ct.headerBytes.end());
    gcmAad += aad;
    pt = use.backend->aesGcmOpen(use.spec, ct.iv, ct.body, view(gcmAad));
  }
  if (!pt.ok()) return fromBackend(pt.error(), use.versionText());
  std::string out = str(*pt);
  wipe(*pt);
  return out;
}

#define KG_CALL(OP)                        \
  Call call{OP, clock_.steadyNow(), {}, false}; \
  call.record.operation = OP

Result<v1::EncryptResponse> CryptoService::encrypt(const Caller& caller, const v1::EncryptRequest& req) {
  KG_CALL(Operation::kEncrypt);
  auto r = [&]() -> Result<v1::EncryptResponse> {
    ASSIGN_OR_RETURN(KeyName name, parseKeyName(req.key(), false));
    RETURN_IF_ERROR(checkSize("plaintext", req.plaintext().size(), true, options_.maxInputBytes));
    RETURN_IF_ERROR(checkSize("aad", req.aad().size(), false, options_.maxInputBytes));
    ASSIGN_OR_RETURN(Use use, authorize(call, caller, Operation::kEncrypt, name, Need::kProtect));
    ASSIGN_OR_RETURN(std::string ct, encryptWith(use, req.plaintext(), req.aad()));
    v1::EncryptResponse resp;
    resp.set_ciphertext(std::move(ct));
    resp.set_key_version(use.versionText());
    resp.set_key_version_id(use.versionId());
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

Result<v1::DecryptResponse> CryptoService::decrypt(const Caller& caller, const v1::DecryptRequest& req) {
  KG_CALL(Operation::kDecrypt);
  auto r = [&]() -> Result<v1::DecryptResponse> {
    std::string kv, kvId;
    ASSIGN_OR_RETURN(std::string pt,
                     decryptWith(call, caller, Operation::kDecrypt, req.key(), req.ciphertext(), req.aad(), &kv, &kvId));
    v1::DecryptResponse resp;
    resp.set_plaintext(std::move(pt));
    resp.set_key_version(kv);
    resp.set_key_version_id(kvId);
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

Result<v1::GenerateDataKeyResponse> CryptoService::generateDataKey(const Caller& caller,
                                                                   const v1::GenerateDataKeyRequest& req) {
  KG_CALL(Operation::kGenerateDataKey);
  auto r = [&]() -> Result<v1::GenerateDataKeyResponse> {
    ASSIGN_OR_RETURN(KeyName name, parseKeyName(req.key(), false));
    RETURN_IF_ERROR(checkSize("aad", req.aad().size(), false, options_.maxInputBytes));
    uint32_t length = req.length() == 0 ? 32 : req.length();
    if (length != 16 && length != 24 && length != 32)
      return makeError(ErrorCode::kInvalidArgument, "length must be 16, 24 or 32 bytes (0 = 32), not " + std::to_string(length));
    ASSIGN_OR_RETURN(Use use, authorize(call, caller, Operation::kGenerateDataKey, name, Need::kProtect));
    auto dk = use.backend->randomBytes(use.spec.ref.tenantNamespace, length);
    if (!dk.ok()) return fromBackend(dk.error(), use.versionText());
    std::string plain = str(*dk);
    wipe(*dk);
    auto ct = encryptWith(use, plain, req.aad());
    if (!ct.ok()) {
      wipe(plain);
      return ct.takeError();
    }
    v1::GenerateDataKeyResponse resp;
    resp.set_plaintext(std::move(plain));
    resp.set_ciphertext(std::move(*ct));
    resp.set_key_version(use.versionText());
    resp.set_key_version_id(use.versionId());
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

Result<v1::ReEncryptResponse> CryptoService::reEncrypt(const Caller& caller, const v1::ReEncryptRequest& req) {
  KG_CALL(Operation::kReEncrypt);
  auto r = [&]() -> Result<v1::ReEncryptResponse> {
    std::string sourceVersion;
    std::string sourceVersionId;
    ASSIGN_OR_RETURN(std::string pt, decryptWith(call, caller, Operation::kReEncrypt, req.key(), req.ciphertext(), req.aad(),
                                                 &sourceVersion, &sourceVersionId));
    std::string destText = req.destination_key();
    if (destText.empty()) destText = req.key().substr(0, req.key().find('@'));
    auto dest = parseKeyName(destText, false);
    if (!dest.ok()) {
      wipe(pt);
      return dest.takeError();
    }
    auto use = authorize(call, caller, Operation::kReEncrypt, *dest, Need::kProtect);
    if (!use.ok()) {
      wipe(pt);
      return use.takeError();
    }
    auto ct = encryptWith(*use, pt, req.destination_aad());
    wipe(pt);
    if (!ct.ok()) return ct.takeError();
    v1::ReEncryptResponse resp;
    resp.set_ciphertext(std::move(*ct));
    resp.set_source_key_version(sourceVersion);
    resp.set_key_version(use->versionText());
    resp.set_key_version_id(use->versionId());
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

Result<v1::SignResponse> CryptoService::sign(const Caller& caller, const v1::SignRequest& req) {
  KG_CALL(Operation::kSign);
  auto r = [&]() -> Result<v1::SignResponse> {
    ASSIGN_OR_RETURN(KeyName name, parseKeyName(req.key(), false));
    RETURN_IF_ERROR(checkSize("digest", req.digest().size(), true, options_.maxInputBytes));
    ASSIGN_OR_RETURN(Use use, authorize(call, caller, Operation::kSign, name, Need::kProtect));
    ASSIGN_OR_RETURN(backends::SigningScheme scheme, schemeOf(req.algorithm(), use.spec.algorithm));
    if (!backends::signingSchemeFits(scheme, use.spec.algorithm))
      return makeError(ErrorCode::kInvalidArgument, std::string(backends::signingSchemeName(scheme)) + " does not fit key " +
                                                        name.key() + " (" + backends::algorithmName(use.spec.algorithm) + ")");
    if (req.digest().size() != backends::signingSchemeDigestLength(scheme))
      return makeError(ErrorCode::kInvalidArgument, std::string(backends::signingSchemeName(scheme)) + " signs a " +
                                                        std::to_string(backends::signingSchemeDigestLength(scheme)) +
                                                        "-byte digest, not " + std::to_string(req.digest().size()) + " bytes");
    auto sig = use.backend->signDigest(use.spec, scheme, view(req.digest()));
    if (!sig.ok()) return fromBackend(sig.error(), use.versionText());
    v1::SignResponse resp;
    resp.set_signature(str(*sig));
    resp.set_algorithm(protoScheme(scheme));
    resp.set_key_version(use.versionText());
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

Result<v1::VerifyResponse> CryptoService::verify(const Caller& caller, const v1::VerifyRequest& req) {
  KG_CALL(Operation::kVerify);
  auto r = [&]() -> Result<v1::VerifyResponse> {
    ASSIGN_OR_RETURN(KeyName name, parseKeyName(req.key(), true));
    RETURN_IF_ERROR(checkSize("digest", req.digest().size(), true, options_.maxInputBytes));
    RETURN_IF_ERROR(checkSize("signature", req.signature().size(), true, options_.maxInputBytes));
    ASSIGN_OR_RETURN(Use use, authorize(call, caller, Operation::kVerify, name, Need::kProcess));
    ASSIGN_OR_RETURN(backends::SigningScheme scheme, schemeOf(req.algorithm(), use.spec.algorithm));
    if (!backends::signingSchemeFits(scheme, use.spec.algorithm))
      return makeError(ErrorCode::kInvalidArgument, std::string(backends::signingSchemeName(scheme)) + " does not fit key " +
                                                        name.key() + " (" + backends::algorithmName(use.spec.algorithm) + ")");
    v1::VerifyResponse resp;
    resp.set_key_version(use.versionText());
    if (req.digest().size() != backends::signingSchemeDigestLength(scheme)) {
      resp.set_valid(false);
      return resp;
    }
    auto ok = use.backend->verifyDigest(use.spec, scheme, view(req.digest()), view(req.signature()));
    if (!ok.ok()) return fromBackend(ok.error(), use.versionText());
    resp.set_valid(*ok);
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

Result<v1::MacResponse> CryptoService::mac(const Caller& caller, const v1::MacRequest& req) {
  KG_CALL(Operation::kMac);
  auto r = [&]() -> Result<v1::MacResponse> {
    ASSIGN_OR_RETURN(KeyName name, parseKeyName(req.key(), false));
    RETURN_IF_ERROR(checkSize("data", req.data().size(), true, options_.maxInputBytes));
    ASSIGN_OR_RETURN(Use use, authorize(call, caller, Operation::kMac, name, Need::kProtect));
    auto m = use.backend->hmacSha256(use.spec, view(req.data()));
    if (!m.ok()) return fromBackend(m.error(), use.versionText());
    v1::MacResponse resp;
    resp.set_mac(str(*m));
    resp.set_key_version(use.versionText());
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

Result<v1::VerifyMacResponse> CryptoService::verifyMac(const Caller& caller, const v1::VerifyMacRequest& req) {
  KG_CALL(Operation::kVerifyMac);
  auto r = [&]() -> Result<v1::VerifyMacResponse> {
    ASSIGN_OR_RETURN(KeyName name, parseKeyName(req.key(), true));
    RETURN_IF_ERROR(checkSize("data", req.data().size(), true, options_.maxInputBytes));
    RETURN_IF_ERROR(checkSize("mac", req.mac().size(), true, 64));
    ASSIGN_OR_RETURN(Use use, authorize(call, caller, Operation::kVerifyMac, name, Need::kProcess));
    auto ok = use.backend->verifyHmacSha256(use.spec, view(req.data()), view(req.mac()));
    if (!ok.ok()) return fromBackend(ok.error(), use.versionText());
    v1::VerifyMacResponse resp;
    resp.set_valid(*ok);
    resp.set_key_version(use.versionText());
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

Result<v1::GetPublicKeyResponse> CryptoService::getPublicKey(const Caller& caller, const v1::GetPublicKeyRequest& req) {
  KG_CALL(Operation::kGetPublicKey);
  auto r = [&]() -> Result<v1::GetPublicKeyResponse> {
    ASSIGN_OR_RETURN(KeyName name, parseKeyName(req.key(), true));
    ASSIGN_OR_RETURN(Use use, authorize(call, caller, Operation::kGetPublicKey, name, Need::kProcess));
    auto pem = use.backend->publicKeyPem(use.spec);
    if (!pem.ok()) return fromBackend(pem.error(), use.versionText());
    v1::GetPublicKeyResponse resp;
    resp.set_public_key_pem(*pem);
    resp.set_algorithm(std::string(av1::toString(use.key->spec.algorithm)));
    resp.set_purpose(std::string(av1::toString(use.key->spec.purpose)));
    resp.set_key_version(use.versionText());
    return resp;
  }();
  finish(call, caller, r.ok() ? okStatus() : Status(r.error()));
  return r;
}

#undef KG_CALL

}  // namespace keygate::dataplane

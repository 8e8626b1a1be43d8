#include "backends/pkcs11/pkcs11_backend.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "backends/pkcs11/attributes.h"
#include "backends/pkcs11/ck_errors.h"
#include "backends/pkcs11/create_objects.h"
#include "backends/pkcs11/cryptoki_dl.h"
#include "backends/pkcs11/public_key.h"
#include "backends/pkcs11/softhsm_store.h"
#include "backends/pkcs11/templates.h"

namespace keygate::backends::pkcs11 {
namespace {

const char* className(CK_OBJECT_CLASS c) {
  switch (c) {
    case CKO_SECRET_KEY: return "secret-key";
    case CKO_PUBLIC_KEY: return "public-key";
    case CKO_PRIVATE_KEY: return "private-key";
    default: return "other";
  }
}

bool isKeyPair(Algorithm a) { return a != Algorithm::kAes256 && a != Algorithm::kHmacSha256; }

CK_KEY_TYPE keyTypeOf(Algorithm a) {
  switch (a) {
    case Algorithm::kAes256: return CKK_AES;
    case Algorithm::kHmacSha256: return CKK_GENERIC_SECRET;
    case Algorithm::kRsa3072:
    case Algorithm::kRsa4096: return CKK_RSA;
    case Algorithm::kEcP256:
    case Algorithm::kEcP384: return CKK_EC;
  }
  return CKK_VENDOR_DEFINED;
}

int count(const ObjectSet& objs, CK_OBJECT_CLASS c) {
  return static_cast<int>(std::count_if(objs.begin(), objs.end(), [c](const ObjectRef& o) { return o.objectClass == c; }));
}

bool complete(const ObjectSet& objs, Algorithm a) {
  if (isKeyPair(a)) return objs.size() == 2 && count(objs, CKO_PUBLIC_KEY) == 1 && count(objs, CKO_PRIVATE_KEY) == 1;
  return objs.size() == 1 && count(objs, CKO_SECRET_KEY) == 1;
}

const ObjectRef* objectOf(const ObjectSet& objs, CK_OBJECT_CLASS c) {
  for (const auto& o : objs) {
    if (o.objectClass == c) return &o;
  }
  return nullptr;
}

Error notFound(const KeyRef& ref, const Token& t) {
  return makeError(ErrorCode::kNotFound, "backend key " + ref.backendKeyId() + " not found in token " + t.label());
}

// The attributes describe() reports, per class: usage plus protection.
std::vector<CK_ATTRIBUTE_TYPE> describedAttributes(CK_OBJECT_CLASS cls) {
  std::vector<CK_ATTRIBUTE_TYPE> v(usageAttributes(cls).begin(), usageAttributes(cls).end());
  v.insert(v.end(), {CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE});
  if (cls != CKO_PUBLIC_KEY) {
    v.insert(v.end(), {CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE});
  }
  return v;
}

}  // namespace

namespace {

// SoftHSM2's file store: before this process first loads the module, put back the
// token.object files a killed process left empty, and keep their copies current
// (softhsm_store.h). Later opens in the same process only refresh copies: a loaded module
// may be rewriting a file at that very moment.
void guardSoftHsmStore(const std::string& tokenDir, const std::string& backendName) {
  static std::mutex mu;
  static bool loaded = false;
  std::lock_guard<std::mutex> lock(mu);
  static const log::Logger logger("pkcs11.softhsm");
  auto check = checkSoftHsmTokens(tokenDir, !loaded);
  loaded = true;
  if (!check.ok()) {
    logger.warn("cannot check the SoftHSM2 token files", {{"backend", backendName}, {"error", check.error().message}});
    return;
  }
  for (const auto& file : check->restored)
    logger.warn("restored a SoftHSM2 file a killed process had left empty (SoftHSM2 rewrites its files in place)",
                {{"backend", backendName}, {"file", file}});
  for (const auto& file : check->unrecoverable)
    logger.error("a SoftHSM2 token file is damaged and there is no copy to restore it from; the token's keys cannot be used",
                 {{"backend", backendName}, {"file", file}});
}

// Refreshes the copies of one token's files (no restore: the module is loaded).
void refreshSoftHsmCopies(const std::string& tokenDir, const std::string& label) {
  if (tokenDir.empty()) return;
  auto check = checkSoftHsmTokens(tokenDir, false, label);
  if (!check.ok()) {
    static const log::Logger logger("pkcs11.softhsm");
    logger.warn("cannot refresh the copies of the SoftHSM2 token files", {{"token", label}, {"error", check.error().message}});
  }
}

}  // namespace

Result<std::unique_ptr<Pkcs11Backend>> Pkcs11Backend::open(Pkcs11BackendOptions options, SecretStorePtr secrets) {
  if (!secrets) return makeError(ErrorCode::kInvalidArgument, "pkcs11 backend " + options.name + " needs a secret store");
  if (options.softHsmTokenDir.empty() && options.modulePath.find("softhsm") != std::string::npos) {
    const char* conf = std::getenv("SOFTHSM2_CONF");
    if (auto dir = softHsmFileStoreDir(conf ? conf : "/etc/softhsm/softhsm2.conf")) options.softHsmTokenDir = *dir;
  }
  if (options.modulePath.find("softhsm") != std::string::npos) options.stagedCreate = true;
  if (!options.softHsmTokenDir.empty()) guardSoftHsmStore(options.softHsmTokenDir, options.name);
  ASSIGN_OR_RETURN(std::shared_ptr<DlCryptoki> ck, DlCryptoki::load(options.modulePath));
  return std::make_unique<Pkcs11Backend>(std::move(ck), std::move(secrets), std::move(options));
}

Pkcs11Backend::Pkcs11Backend(std::shared_ptr<Cryptoki> ck, SecretStorePtr secrets, Pkcs11BackendOptions options)
    : ck_(ck),
      options_(std::move(options)),
      tokens_(std::move(ck), std::move(secrets),
              TokenManagerOptions{options_.name, options_.maxIdleSessionsPerToken,
                                  options_.softHsmTokenDir.empty()
                                      ? std::function<void(const std::string&)>()
                                      : [dir = options_.softHsmTokenDir, name = options_.name](const std::string&) {
                                          guardSoftHsmStore(dir, name);
                                        }}) {}

Result<ObjectSet> Pkcs11Backend::lookup(Session& s, const Bytes& id) {
  if (auto cached = s.token().cachedObjects(id)) return *cached;
  // The first miss in a token indexes it whole: one C_FindObjects over every object and
  // one C_GetAttributeValue each. After a restart every key's first operation misses, and
  // SoftHSM2's file store makes each search by CKA_ID cost a pass over all the token's
  // objects (a file open per object): with 1,000 keys in a tenant, ~40 ms per key, serially
  // — a restart then stalled for seconds before its first useful reconcile. The index is
  // not authoritative: an id it lacks is still searched for below.
  if (s.token().claimIndex()) {
    indexToken(s);
    if (auto cached = s.token().cachedObjects(id)) return *cached;
  }
  AttributeList tmpl;
  tmpl.addBytes(CKA_ID, id);
  std::vector<CK_OBJECT_HANDLE> handles;
  RETURN_IF_ERROR(ckCheck("C_FindObjects", s.ck().findObjects(s.handle(), tmpl.span(), &handles, 16),
                          s.token().label()));
  ObjectSet objs;
  for (CK_OBJECT_HANDLE h : handles) {
    ASSIGN_OR_RETURN(std::optional<CK_ULONG> cls, readUlong(s.ck(), s.handle(), h, CKA_CLASS));
    objs.push_back(ObjectRef{h, cls.value_or(CKO_VENDOR_DEFINED)});
  }
  if (!objs.empty()) s.token().cacheObjects(id, objs);  // absence is never cached
  return objs;
}

void Pkcs11Backend::stagedCopyRefused(CK_RV why) {
  if (stagedRefused_.exchange(true)) return;
  log_.warn("the PKCS#11 module refuses to copy a session key into the token; keys are created in the token directly "
            "from now on (a process killed inside a create may then leave a usable object for the stray sweep)",
            {{"backend", options_.name}, {"error", ckrName(why)}});
}

void Pkcs11Backend::indexToken(Session& s) {
  constexpr size_t kMaxIndexed = size_t(1) << 22;
  std::vector<CK_OBJECT_HANDLE> all;
  if (s.ck().findObjects(s.handle(), {}, &all, kMaxIndexed) != CKR_OK) return;  // the search per id still works
  std::map<Bytes, ObjectSet> byId;
  for (CK_OBJECT_HANDLE h : all) {
    const ObjectIdentity who = readIdentity(s.ck(), s.handle(), h);
    if (who.rv != CKR_OK || !who.onToken || !who.id || who.id->empty() || !who.objectClass) continue;  // not a whole Keygate object
    byId[*who.id].push_back(ObjectRef{h, *who.objectClass});
  }
  s.token().cacheIndex(std::move(byId));
}

Result<ObjectSet> Pkcs11Backend::requireObjects(Session& s, const KeySpec& spec, const Bytes& id) {
  ASSIGN_OR_RETURN(ObjectSet objs, lookup(s, id));
  if (objs.empty()) return notFound(spec.ref, s.token());
  if (!complete(objs, spec.algorithm)) {
    return makeError(ErrorCode::kFailedPrecondition,
                     "backend key " + spec.ref.backendKeyId() + " has " + std::to_string(objs.size()) +
                         " objects in token " + s.token().label() + ", not the complete set for " +
                         algorithmName(spec.algorithm));
  }
  return objs;
}

Result<std::string> Pkcs11Backend::fingerprint(Session& s, const ObjectSet& objs) {
  if (const ObjectRef* secret = objectOf(objs, CKO_SECRET_KEY)) {
    ASSIGN_OR_RETURN(std::optional<Bytes> kcv, readBytes(s.ck(), s.handle(), secret->handle, CKA_CHECK_VALUE));
    if (!kcv || kcv->empty()) return std::string();
    return "kcv:" + hex(*kcv);
  }
  ASSIGN_OR_RETURN(Bytes spki, publicKeySpki(s, objs));
  if (spki.empty()) return std::string();
  return sha256Fingerprint(spki);
}

Result<Bytes> Pkcs11Backend::publicKeySpki(Session& s, const ObjectSet& objs) {
  const ObjectRef* pub = objectOf(objs, CKO_PUBLIC_KEY);
  if (pub == nullptr) return Bytes();
  ASSIGN_OR_RETURN(std::optional<CK_ULONG> keyType, readUlong(s.ck(), s.handle(), pub->handle, CKA_KEY_TYPE));
  if (keyType == CKK_RSA) {
    ASSIGN_OR_RETURN(std::optional<Bytes> n, readBytes(s.ck(), s.handle(), pub->handle, CKA_MODULUS));
    ASSIGN_OR_RETURN(std::optional<Bytes> e, readBytes(s.ck(), s.handle(), pub->handle, CKA_PUBLIC_EXPONENT));
    if (!n || !e) return makeError(ErrorCode::kInternal, "RSA public key without modulus/exponent");
    return rsaSpki(*n, *e);
  }
  if (keyType == CKK_EC) {
    ASSIGN_OR_RETURN(std::optional<Bytes> params, readBytes(s.ck(), s.handle(), pub->handle, CKA_EC_PARAMS));
    ASSIGN_OR_RETURN(std::optional<Bytes> point, readBytes(s.ck(), s.handle(), pub->handle, CKA_EC_POINT));
    if (!params || !point) return makeError(ErrorCode::kInternal, "EC public key without params/point");
    return ecSpki(*params, *point);
  }
  return makeError(ErrorCode::kInternal, "unsupported public key type");
}

Result<GeneratedKey> Pkcs11Backend::generate(const KeySpec& spec, const GenerateOptions& options) {
  RETURN_IF_ERROR(spec.ref.validate());
  RETURN_IF_ERROR(checkAlgorithmFitsPurpose(spec.algorithm, spec.purpose));
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(spec.ref.tenantNamespace));
  const Bytes id = objectId(spec.ref);
  const std::string keyId = spec.ref.backendKeyId();
  // Exclusive on the token: find-or-create is atomic for this key, and no other session
  // reads the object set while the object is written (see Token::Access). The fingerprint
  // read stays inside: reading it in a second, shared section measured slower end to end
  // (one more lock hand-off per key; bench/key_lifecycle_bench "ms per create section").
  return token->withSession<GeneratedKey>([&](Session& s) -> Result<GeneratedKey> {
    ObjectSet objs;
    if (!options.knownAbsent) {
      ASSIGN_OR_RETURN(objs, lookup(s, id));
    }
    if (!objs.empty()) {
      // An earlier attempt (maybe before a crash) got here first: check it is this key.
      for (const ObjectRef& o : objs) {
        ASSIGN_OR_RETURN(std::optional<CK_ULONG> kt, readUlong(s.ck(), s.handle(), o.handle, CKA_KEY_TYPE));
        if (kt != keyTypeOf(spec.algorithm)) {
          return makeError(ErrorCode::kAlreadyExists,
                           "backend key " + keyId + " exists in token " + token->label() + " with another key type than " +
                               algorithmName(spec.algorithm) + "; nothing was changed");
        }
      }
      if (complete(objs, spec.algorithm)) {
        ASSIGN_OR_RETURN(std::string fp, fingerprint(s, objs));
        log_.info("key already generated", {{"backendKeyId", keyId}, {"token", token->label()}});
        return GeneratedKey{keyId, fp, false};
      }
      // Half a key pair, or duplicates. Only a single never-enabled half is safe to replace.
      if (objs.size() != 1) {
        return makeError(ErrorCode::kFailedPrecondition,
                         std::to_string(objs.size()) + " objects carry the id of backend key " + keyId + " in token " +
                             token->label() + "; manual cleanup needed, nothing was changed");
      }
      auto usage = usageAttributes(objs[0].objectClass);
      ASSIGN_OR_RETURN(auto values, readBools(s.ck(), s.handle(), objs[0].handle, usage));
      for (const auto& [type, v] : values) {
        if (v.value_or(true)) {
          return makeError(ErrorCode::kFailedPrecondition,
                           "backend key " + keyId + " is half a key pair and its " + ckaName(type) +
                               " is not false; nothing was changed");
        }
      }
      RETURN_IF_ERROR(ckCheck("C_DestroyObject", s.ck().destroyObject(s.handle(), objs[0].handle), keyId));
      token->forgetObjects(id);
      log_.warn("replaced half-created key pair", {{"backendKeyId", keyId}, {"token", token->label()}});
    }

    GenerationTemplate g = generationTemplate(spec);
    CK_RV refused = CKR_OK;
    ASSIGN_OR_RETURN(ObjectSet created, generateObjects(s.ck(), s.handle(), g, keyId,
                                                        options_.stagedCreate && !stagedRefused_.load(), &refused));
    if (refused != CKR_OK) stagedCopyRefused(refused);
    token->cacheObjects(id, created);
    ASSIGN_OR_RETURN(std::string fp, fingerprint(s, created));
    log_.info("generated key", {{"backendKeyId", keyId},
                                {"token", token->label()},
                                {"algorithm", algorithmName(spec.algorithm)},
                                {"purpose", purposeName(spec.purpose)},
                                {"fingerprint", fp}});
    return GeneratedKey{keyId, fp, true};
  }, Token::Access::kExclusive);
}

Status Pkcs11Backend::applyUsage(const KeySpec& spec, UsageState state) {
  RETURN_IF_ERROR(spec.ref.validate());
  RETURN_IF_ERROR(checkAlgorithmFitsPurpose(spec.algorithm, spec.purpose));
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(spec.ref.tenantNamespace));
  const Bytes id = objectId(spec.ref);
  const std::string keyId = spec.ref.backendKeyId();
  RETURN_IF_ERROR(token->withSession<bool>([&](Session& s) -> Result<bool> {
    ASSIGN_OR_RETURN(ObjectSet objs, requireObjects(s, spec, id));
    // Narrowing first (the object losing permissions), so no moment has more enabled than
    // either the old or the new state.
    std::stable_sort(objs.begin(), objs.end(), [](const ObjectRef& a, const ObjectRef& b) {
      return a.objectClass == CKO_PUBLIC_KEY && b.objectClass != CKO_PUBLIC_KEY;
    });
    // SoftHSM2 rewrites the object's file in place: a kill inside C_SetAttributeValue empties
    // it. Copies of the token's files from just before (softhsm_store.h) let the next start
    // put the object back as it was; the reconciler then repeats the change.
    refreshSoftHsmCopies(options_.softHsmTokenDir, token->label());
    for (const ObjectRef& o : objs) {
      AttributeList t = usageTemplate(spec.purpose, o.objectClass, state);
      RETURN_IF_ERROR(ckCheck("C_SetAttributeValue", s.ck().setAttributeValue(s.handle(), o.handle, t.span()), keyId));
    }
    refreshSoftHsmCopies(options_.softHsmTokenDir, token->label());
    return true;
  }));
  log_.info("set key usage", {{"backendKeyId", keyId}, {"token", token->label()}, {"usage", usageStateName(state)}});
  return okStatus();
}

Status Pkcs11Backend::probe() { return tokens_.probe(); }

Status Pkcs11Backend::destroy(const KeyRef& ref) {
  RETURN_IF_ERROR(ref.validate());
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(ref.tenantNamespace));
  const Bytes id = objectId(ref);
  const std::string keyId = ref.backendKeyId();
  ASSIGN_OR_RETURN(int destroyed, token->withSession<int>([&](Session& s) -> Result<int> {
    // Always a real find: destroy must also catch duplicates the cache never saw.
    AttributeList tmpl;
    tmpl.addBytes(CKA_ID, id);
    std::vector<CK_OBJECT_HANDLE> handles;
    RETURN_IF_ERROR(ckCheck("C_FindObjects", s.ck().findObjects(s.handle(), tmpl.span(), &handles, 64), token->label()));
    int n = 0;
    for (CK_OBJECT_HANDLE h : handles) {
      CK_RV rv = s.ck().destroyObject(s.handle(), h);
      if (rv == CKR_OBJECT_HANDLE_INVALID) continue;  // gone meanwhile
      RETURN_IF_ERROR(ckCheck("C_DestroyObject", rv, keyId));
      ++n;
    }
    token->forgetObjects(id);
    return n;
  }, Token::Access::kExclusive));
  refreshSoftHsmCopies(options_.softHsmTokenDir, token->label());  // the copies go with the key
  log_.info("destroyed key", {{"backendKeyId", keyId}, {"token", token->label()}, {"objects", destroyed}});
  return okStatus();
}

Result<KeyDescription> Pkcs11Backend::describe(const KeySpec& spec) {
  RETURN_IF_ERROR(spec.ref.validate());
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(spec.ref.tenantNamespace));
  const Bytes id = objectId(spec.ref);
  return token->withSession<KeyDescription>([&](Session& s) -> Result<KeyDescription> {
    KeyDescription d;
    d.backendKeyId = spec.ref.backendKeyId();
    ASSIGN_OR_RETURN(ObjectSet objs, lookup(s, id));
    if (objs.empty()) return d;  // kAbsent

    bool protectionOk = true;
    // Per object: which usage attributes are on.
    std::vector<std::pair<CK_OBJECT_CLASS, std::vector<CK_ATTRIBUTE_TYPE>>> enabled;
    for (const ObjectRef& o : objs) {
      ObjectDescription od;
      od.objectClass = className(o.objectClass);
      auto types = describedAttributes(o.objectClass);
      ASSIGN_OR_RETURN(auto values, readBools(s.ck(), s.handle(), o.handle, types));
      std::vector<CK_ATTRIBUTE_TYPE> on;
      for (const auto& [type, v] : values) {
        if (!v) continue;
        od.attributes.emplace_back(ckaShortName(type), *v);
        auto usage = usageAttributes(o.objectClass);
        if (*v && std::find(usage.begin(), usage.end(), type) != usage.end()) on.push_back(type);
        bool mustBeTrue = type == CKA_TOKEN || type == CKA_PRIVATE || type == CKA_SENSITIVE;
        bool mustBeFalse = type == CKA_EXTRACTABLE;
        if ((mustBeTrue && !*v) || (mustBeFalse && *v)) {
          protectionOk = false;
          d.drift.push_back(od.objectClass + " " + ckaName(type) + " is " + (*v ? "true" : "false"));
        }
      }
      enabled.emplace_back(o.objectClass, std::move(on));
      d.objects.push_back(std::move(od));
    }
    ASSIGN_OR_RETURN(d.fingerprint, fingerprint(s, objs));

    if (!complete(objs, spec.algorithm)) {
      d.state = BackendKeyState::kDrifted;
      d.drift.push_back(std::to_string(objs.size()) + " objects, not the complete set for " +
                        algorithmName(spec.algorithm));
      return d;
    }
    auto matches = [&](UsageState st) {
      for (auto& [cls, on] : enabled) {
        auto want = enabledUsage(spec.purpose, cls, st);
        std::sort(want.begin(), want.end());
        std::sort(on.begin(), on.end());
        if (want != on) return false;
      }
      return true;
    };
    if (!protectionOk) {
      d.state = BackendKeyState::kDrifted;
    } else if (matches(UsageState::kNone)) {
      d.state = BackendKeyState::kNoUsage;
    } else if (matches(UsageState::kFull)) {
      d.state = BackendKeyState::kActive;
    } else if (matches(UsageState::kProcessOnly)) {
      d.state = BackendKeyState::kDeactivated;
    } else {
      d.state = BackendKeyState::kDrifted;
      for (const auto& [cls, on] : enabled) {
        std::string line = std::string(className(cls)) + " usage matches no state of a " + purposeName(spec.purpose) +
                           " key: enabled [";
        for (size_t i = 0; i < on.size(); ++i) line += (i ? ", " : "") + ckaName(on[i]);
        d.drift.push_back(line + "]");
      }
    }
    return d;
  });
}

Result<SelfTestResult> Pkcs11Backend::selfTest(const KeySpec& spec) {
  RETURN_IF_ERROR(spec.ref.validate());
  RETURN_IF_ERROR(checkAlgorithmFitsPurpose(spec.algorithm, spec.purpose));
  ASSIGN_OR_RETURN(std::shared_ptr<Token> token, tokens_.token(spec.ref.tenantNamespace));
  const Bytes id = objectId(spec.ref);
  ASSIGN_OR_RETURN(SelfTestResult r, token->withSession<SelfTestResult>([&](Session& s) -> Result<SelfTestResult> {
    ASSIGN_OR_RETURN(ObjectSet objs, requireObjects(s, spec, id));
    return runSelfTest(s, spec, objs);
  }));
  log_.info("self test", {{"backendKeyId", spec.ref.backendKeyId()},
                          {"mechanism", r.mechanism},
                          {"result", r.passed ? "Passed" : "Failed"},
                          {"detail", r.detail}});
  return r;
}

}  // namespace keygate::backends::pkcs11

#include "backends/kmip/kmip_backend.h"

#include <openssl/rand.h>

namespace keygate::backends::kmip {
namespace {

bool isAsymmetric(Algorithm a) { return a != Algorithm::kAes256 && a != Algorithm::kHmacSha256; }

// The purpose's operations as a KMIP Cryptographic Usage Mask.
uint32_t usageMask(Purpose p, bool privateHalf, bool asymmetric) {
  switch (p) {
    case Purpose::kEncrypt: return !asymmetric ? value::kEncrypt | value::kDecrypt : privateHalf ? value::kDecrypt : value::kEncrypt;
    case Purpose::kSign: return privateHalf ? value::kSign : value::kVerify;
    case Purpose::kWrap:
      return !asymmetric ? value::kWrapKey | value::kUnwrapKey : privateHalf ? value::kUnwrapKey : value::kWrapKey;
    case Purpose::kMac: return value::kMacGenerate | value::kMacVerify;
  }
  return 0;
}

Item attribute(const std::string& name, Item value) {
  value.tag = tag::kAttributeValue;
  return Item::structure(tag::kAttribute, {Item::text(tag::kAttributeName, name), std::move(value)});
}

Item nameAttribute(const std::string& name) {
  return attribute("Name", Item::structure(0, {Item::text(tag::kNameValue, name),
                                               Item::enumeration(tag::kNameType, value::kUninterpretedTextString)}));
}

Status statusOf(Result<Item> r) {
  if (!r.ok()) return r.takeError();
  return okStatus();
}

Item uidItem(const std::string& uid) { return Item::text(tag::kUniqueIdentifier, uid); }

const char* stateName(uint32_t s) {
  switch (s) {
    case value::kPreActive: return "Pre-Active";
    case value::kActive: return "Active";
    case value::kDeactivated: return "Deactivated";
    case value::kCompromised: return "Compromised";
    case value::kDestroyed: return "Destroyed";
    case value::kDestroyedCompromised: return "Destroyed Compromised";
  }
  return "unknown";
}

BackendKeyState keyStateFor(uint32_t s) {
  switch (s) {
    case value::kPreActive:
    case value::kCompromised: return BackendKeyState::kNoUsage;
    case value::kActive: return BackendKeyState::kActive;
    case value::kDeactivated: return BackendKeyState::kDeactivated;
    default: return BackendKeyState::kAbsent;
  }
}

}  // namespace

KmipBackend::KmipBackend(std::unique_ptr<KmipClient> client, KmipBackendOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

Result<std::vector<std::string>> KmipBackend::locate(const std::string& tenantNamespace, const std::string& name) {
  Item payload = Item::structure(tag::kRequestPayload, {nameAttribute(name),
                                                        attribute("Object Group", Item::text(0, objectGroup(tenantNamespace)))});
  ASSIGN_OR_RETURN(Item found, client_->call(Operation::kLocate, std::move(payload)));
  std::vector<std::string> uids;
  for (const Item* u : found.findAll(tag::kUniqueIdentifier)) uids.push_back(u->bytes);
  return uids;
}

Result<KmipBackend::Objects> KmipBackend::objects(const KeyRef& ref, bool asymmetric) {
  const std::string id = ref.backendKeyId();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = cache_.find(id); it != cache_.end()) return it->second;
  }
  Objects o;
  auto one = [&](const std::string& name, std::string& out) -> Status {
    ASSIGN_OR_RETURN(std::vector<std::string> uids, locate(ref.tenantNamespace, name));
    if (uids.size() > 1)
      return makeError(ErrorCode::kFailedPrecondition, "KMIP server holds " + std::to_string(uids.size()) +
                                                           " objects named " + name + "; expected one (nothing was changed)");
    if (!uids.empty()) out = uids[0];
    return okStatus();
  };
  if (asymmetric) {
    RETURN_IF_ERROR(one(id + "/private", o.secretOrPrivate));
    RETURN_IF_ERROR(one(id + "/public", o.publicKey));
    if (o.secretOrPrivate.empty() && o.publicKey.empty()) return makeError(ErrorCode::kNotFound, "no KMIP object for " + id);
    if (o.secretOrPrivate.empty() || o.publicKey.empty())
      return makeError(ErrorCode::kFailedPrecondition, "KMIP server holds half of key pair " + id);
  } else {
    RETURN_IF_ERROR(one(id, o.secretOrPrivate));
    if (o.secretOrPrivate.empty()) return makeError(ErrorCode::kNotFound, "no KMIP object for " + id);
  }
  std::lock_guard<std::mutex> l(mu_);
  cache_[id] = o;
  return o;
}

Result<uint32_t> KmipBackend::state(const std::string& uid) {
  Item payload = Item::structure(tag::kRequestPayload, {uidItem(uid), Item::text(tag::kAttributeName, "State")});
  ASSIGN_OR_RETURN(Item attrs, client_->call(Operation::kGetAttributes, std::move(payload)));
  for (const Item* a : attrs.findAll(tag::kAttribute)) {
    const Item* n = a->find(tag::kAttributeName);
    const Item* v = a->find(tag::kAttributeValue);
    if (n != nullptr && n->bytes == "State" && v != nullptr) return static_cast<uint32_t>(v->number);
  }
  return makeError(ErrorCode::kInvalidArgument, "KMIP GetAttributes answered without the State of " + uid);
}

Result<GeneratedKey> KmipBackend::generate(const KeySpec& spec, const GenerateOptions& options) {
  RETURN_IF_ERROR(spec.ref.validate());
  RETURN_IF_ERROR(checkAlgorithmFitsPurpose(spec.algorithm, spec.purpose));
  const bool asym = isAsymmetric(spec.algorithm);
  const std::string id = spec.ref.backendKeyId();
  if (!options.knownAbsent) {
    auto existing = objects(spec.ref, asym);
    if (existing.ok()) return GeneratedKey{id, "", false};
    if (existing.error().code != ErrorCode::kNotFound) return existing.takeError();
  }
  const Item group = attribute("Object Group", Item::text(0, objectGroup(spec.ref.tenantNamespace)));
  Objects made;
  if (!asym) {
    const uint32_t alg = spec.algorithm == Algorithm::kAes256 ? value::kAes : value::kHmacSha256;
    Item tmpl = Item::structure(tag::kTemplateAttribute,
                                {attribute("Cryptographic Algorithm", Item::enumeration(0, alg)),
                                 attribute("Cryptographic Length", Item::integer(0, 256)),
                                 attribute("Cryptographic Usage Mask", Item::integer(0, static_cast<int32_t>(usageMask(spec.purpose, true, false)))),
                                 nameAttribute(id), group});
    Item payload = Item::structure(tag::kRequestPayload, {Item::enumeration(tag::kObjectType, value::kSymmetricKey), tmpl});
    ASSIGN_OR_RETURN(Item r, client_->call(Operation::kCreate, std::move(payload), /*idempotent=*/false));
    ASSIGN_OR_RETURN(const Item* uid, r.child(tag::kUniqueIdentifier, ItemType::kTextString));
    made.secretOrPrivate = uid->bytes;
  } else {
    std::vector<Item> common;
    if (spec.algorithm == Algorithm::kRsa3072 || spec.algorithm == Algorithm::kRsa4096) {
      common.push_back(attribute("Cryptographic Algorithm", Item::enumeration(0, value::kRsa)));
      common.push_back(attribute("Cryptographic Length", Item::integer(0, spec.algorithm == Algorithm::kRsa3072 ? 3072 : 4096)));
    } else {
      const bool p256 = spec.algorithm == Algorithm::kEcP256;
      common.push_back(attribute("Cryptographic Algorithm", Item::enumeration(0, value::kEcdsa)));
      common.push_back(attribute("Cryptographic Length", Item::integer(0, p256 ? 256 : 384)));
      common.push_back(attribute("Cryptographic Domain Parameters",
                                 Item::structure(0, {Item::enumeration(0x420075, p256 ? value::kP256 : value::kP384)})));
    }
    common.push_back(group);
    auto half = [&](uint32_t t, bool priv) {
      return Item::structure(t, {nameAttribute(id + (priv ? "/private" : "/public")),
                                 attribute("Cryptographic Usage Mask",
                                           Item::integer(0, static_cast<int32_t>(usageMask(spec.purpose, priv, true))))});
    };
    Item payload = Item::structure(tag::kRequestPayload, {Item::structure(tag::kCommonTemplateAttribute, std::move(common)),
                                                          half(tag::kPrivateKeyTemplateAttribute, true),
                                                          half(tag::kPublicKeyTemplateAttribute, false)});
    ASSIGN_OR_RETURN(Item r, client_->call(Operation::kCreateKeyPair, std::move(payload), /*idempotent=*/false));
    ASSIGN_OR_RETURN(const Item* priv, r.child(tag::kPrivateKeyUniqueIdentifier, ItemType::kTextString));
    ASSIGN_OR_RETURN(const Item* pub, r.child(tag::kPublicKeyUniqueIdentifier, ItemType::kTextString));
    made.secretOrPrivate = priv->bytes;
    made.publicKey = pub->bytes;
  }
  std::lock_guard<std::mutex> l(mu_);
  cache_[id] = made;
  return GeneratedKey{id, "", true};
}

Result<WrappingKey> KmipBackend::createWrappingKey(const KeyRef&, int) {
  return makeError(ErrorCode::kUnimplemented,
                   "kmip backend " + name() + " cannot import tenant key material: KMIP 1.2 Register would carry it in "
                   "plaintext through the operator, and the server cannot unwrap under a key it holds (PyKMIP 0.10); use a "
                   "pkcs11 backend for origin External");
}

Status KmipBackend::revoke(const std::string& uid, uint32_t reasonCode) {
  Item payload = Item::structure(tag::kRequestPayload,
                                 {uidItem(uid), Item::structure(tag::kRevocationReason,
                                                                {Item::enumeration(tag::kRevocationReasonCode, reasonCode)})});
  if (reasonCode == value::kKeyCompromise)
    payload.children.push_back(Item::dateTime(tag::kCompromiseOccurrenceDate, static_cast<int64_t>(time(nullptr))));
  return statusOf(client_->call(Operation::kRevoke, std::move(payload)));
}

Status KmipBackend::applyUsage(const KeySpec& spec, UsageState want) {
  RETURN_IF_ERROR(spec.ref.validate());
  ASSIGN_OR_RETURN(Objects o, objects(spec.ref, isAsymmetric(spec.algorithm)));
  for (const std::string& uid : {o.secretOrPrivate, o.publicKey}) {
    if (uid.empty()) continue;
    ASSIGN_OR_RETURN(uint32_t s, state(uid));
    auto refuse = [&](const char* to) {
      return makeError(ErrorCode::kFailedPrecondition, std::string("KMIP object ") + uid + " of " + spec.ref.backendKeyId() +
                                                           " is " + stateName(s) + " and cannot become " + to +
                                                           " (KMIP states only move forward)");
    };
    switch (want) {
      case UsageState::kFull:
        if (s == value::kPreActive) {
          RETURN_IF_ERROR(statusOf(client_->call(Operation::kActivate, Item::structure(tag::kRequestPayload, {uidItem(uid)}))));
        } else if (s != value::kActive) {
          return refuse("Active");
        }
        break;
      case UsageState::kProcessOnly:
        if (s == value::kActive) RETURN_IF_ERROR(revoke(uid, value::kCessationOfOperation));
        else if (s != value::kDeactivated) return refuse("Deactivated");
        break;
      case UsageState::kNone:
        // Pre-Active is already unusable; a used key is revoked as compromised.
        if (s == value::kActive || s == value::kDeactivated) RETURN_IF_ERROR(revoke(uid, value::kKeyCompromise));
        else if (s != value::kPreActive && s != value::kCompromised) return refuse("unusable");
        break;
    }
  }
  return okStatus();
}

Status KmipBackend::markCompromised(const KeySpec& spec) {
  RETURN_IF_ERROR(spec.ref.validate());
  ASSIGN_OR_RETURN(Objects o, objects(spec.ref, isAsymmetric(spec.algorithm)));
  for (const std::string& uid : {o.secretOrPrivate, o.publicKey}) {
    if (uid.empty()) continue;
    ASSIGN_OR_RETURN(uint32_t s, state(uid));
    if (s == value::kCompromised || s == value::kDestroyedCompromised) continue;
    if (s == value::kPreActive || s == value::kActive || s == value::kDeactivated) {
      RETURN_IF_ERROR(revoke(uid, value::kKeyCompromise));
      continue;
    }
    return makeError(ErrorCode::kFailedPrecondition, std::string("KMIP object ") + uid + " of " +
                                                         spec.ref.backendKeyId() + " is " + stateName(s) +
                                                         " and cannot be marked compromised");
  }
  return okStatus();
}

Status KmipBackend::destroy(const KeyRef& ref) {
  RETURN_IF_ERROR(ref.validate());
  const std::string id = ref.backendKeyId();
  std::vector<std::string> uids;
  for (const std::string& name : {id, id + "/private", id + "/public"}) {
    ASSIGN_OR_RETURN(std::vector<std::string> found, locate(ref.tenantNamespace, name));
    uids.insert(uids.end(), found.begin(), found.end());
  }
  for (const std::string& uid : uids) {
    Status st = statusOf(client_->call(Operation::kDestroy, Item::structure(tag::kRequestPayload, {uidItem(uid)})));
    if (!st.ok() && st.error().code != ErrorCode::kNotFound) return st;
  }
  std::lock_guard<std::mutex> l(mu_);
  cache_.erase(id);
  return okStatus();
}

Result<KeyDescription> KmipBackend::describe(const KeySpec& spec) {
  RETURN_IF_ERROR(spec.ref.validate());
  KeyDescription d;
  d.backendKeyId = spec.ref.backendKeyId();
  {
    // describe re-reads the server: drop the cached identifiers (repairs after a restore).
    std::lock_guard<std::mutex> l(mu_);
    cache_.erase(d.backendKeyId);
  }
  auto o = objects(spec.ref, isAsymmetric(spec.algorithm));
  if (!o.ok()) {
    if (o.error().code == ErrorCode::kNotFound) return d;  // kAbsent
    if (o.error().code != ErrorCode::kFailedPrecondition) return o.takeError();
    d.state = BackendKeyState::kDrifted;
    d.drift.push_back(o.error().message);
    return d;
  }
  std::vector<uint32_t> states;
  for (const auto& [uid, cls] : {std::pair{o->secretOrPrivate, isAsymmetric(spec.algorithm) ? "private-key" : "secret-key"},
                                 std::pair{o->publicKey, "public-key"}}) {
    if (uid.empty()) continue;
    ASSIGN_OR_RETURN(uint32_t s, state(uid));
    states.push_back(s);
    ObjectDescription od;
    od.objectClass = cls;
    for (uint32_t v : {value::kPreActive, value::kActive, value::kDeactivated, value::kCompromised})
      od.attributes.emplace_back(std::string("state-") + stateName(v), s == v);
    d.objects.push_back(std::move(od));
  }
  d.state = keyStateFor(states[0]);
  for (uint32_t s : states) {
    if (keyStateFor(s) != d.state) {
      d.state = BackendKeyState::kDrifted;
      d.drift.push_back("the key pair's halves are in different KMIP states");
      break;
    }
  }
  return d;
}

Status KmipBackend::probe() {
  // Query Operations: answered by any KMIP server, touches no object, and proves the TLS
  // connection and the client certificate are still accepted.
  Item payload = Item::structure(tag::kRequestPayload, {Item::enumeration(tag::kQueryFunction, value::kQueryOperations)});
  auto r = client_->call(Operation::kQuery, std::move(payload));
  if (!r.ok()) return makeError(r.error().code, "KMIP Query: " + r.error().message);
  return okStatus();
}

Result<SelfTestResult> KmipBackend::selfTest(const KeySpec& spec) {
  ASSIGN_OR_RETURN(Objects o, objects(spec.ref, isAsymmetric(spec.algorithm)));
  std::string data(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(data.data()), static_cast<int>(data.size())) != 1)
    return makeError(ErrorCode::kInternal, "RAND_bytes failed");
  if (spec.purpose == Purpose::kEncrypt && spec.algorithm == Algorithm::kAes256) {
    auto params = [] {
      return Item::structure(tag::kCryptographicParameters, {Item::enumeration(tag::kBlockCipherMode, value::kCbc),
                                                             Item::enumeration(tag::kPaddingMethod, value::kPkcs5),
                                                             Item::enumeration(tag::kCryptographicAlgorithm, value::kAes)});
    };
    ASSIGN_OR_RETURN(Item enc, client_->call(Operation::kEncrypt, Item::structure(tag::kRequestPayload,
                                                                                  {uidItem(o.secretOrPrivate), params(),
                                                                                   Item::byteString(tag::kData, data)})));
    ASSIGN_OR_RETURN(const Item* ct, enc.child(tag::kData, ItemType::kByteString));
    std::vector<Item> dec{uidItem(o.secretOrPrivate), params(), Item::byteString(tag::kData, ct->bytes)};
    if (const Item* iv = enc.find(tag::kIvCounterNonce)) dec.push_back(*iv);
    ASSIGN_OR_RETURN(Item plain, client_->call(Operation::kDecrypt, Item::structure(tag::kRequestPayload, std::move(dec))));
    ASSIGN_OR_RETURN(const Item* pt, plain.child(tag::kData, ItemType::kByteString));
    return SelfTestResult{pt->bytes == data && ct->bytes != data, "KMIP Encrypt/Decrypt AES-CBC",
                          pt->bytes == data ? "" : "decrypted data differs from the plaintext"};
  }
  if (spec.purpose == Purpose::kSign && (spec.algorithm == Algorithm::kRsa3072 || spec.algorithm == Algorithm::kRsa4096 ||
                                         spec.algorithm == Algorithm::kEcP256 || spec.algorithm == Algorithm::kEcP384)) {
    const bool rsa = spec.algorithm == Algorithm::kRsa3072 || spec.algorithm == Algorithm::kRsa4096;
    // Cryptographic Parameters fields go in the spec's order (servers decode positionally).
    auto params = [&] {
      std::vector<Item> p;
      if (rsa) p.push_back(Item::enumeration(tag::kPaddingMethod, value::kPss));
      p.push_back(Item::enumeration(tag::kHashingAlgorithm, value::kSha256));
      p.push_back(Item::enumeration(tag::kDigitalSignatureAlgorithm, rsa ? value::kSha256WithRsa : value::kEcdsaWithSha256));
      p.push_back(Item::enumeration(tag::kCryptographicAlgorithm, rsa ? value::kRsa : value::kEcdsa));
      return Item::structure(tag::kCryptographicParameters, std::move(p));
    };
    ASSIGN_OR_RETURN(Item sig, client_->call(Operation::kSign, Item::structure(tag::kRequestPayload,
                                                                               {uidItem(o.secretOrPrivate), params(),
                                                                                Item::byteString(tag::kData, data)})));
    ASSIGN_OR_RETURN(const Item* s, sig.child(tag::kSignatureData, ItemType::kByteString));
    auto verify = [&](const std::string& msg) -> Result<bool> {
      ASSIGN_OR_RETURN(Item v, client_->call(Operation::kSignatureVerify,
                                             Item::structure(tag::kRequestPayload, {uidItem(o.publicKey), params(),
                                                                                    Item::byteString(tag::kData, msg),
                                                                                    Item::byteString(tag::kSignatureData, s->bytes)})));
      ASSIGN_OR_RETURN(const Item* ok, v.child(tag::kValidityIndicator, ItemType::kEnumeration));
      return ok->number == value::kValid;
    };
    ASSIGN_OR_RETURN(bool good, verify(data));
    std::string tampered = data;
    tampered[0] = static_cast<char>(tampered[0] ^ 1);
    ASSIGN_OR_RETURN(bool forged, verify(tampered));
    return SelfTestResult{good && !forged, rsa ? "KMIP Sign/SignatureVerify RSA-PSS SHA-256" : "KMIP Sign/SignatureVerify ECDSA SHA-256",
                          !good ? "the signature did not verify" : forged ? "a tampered message verified" : ""};
  }
  return SelfTestResult{false, "none",
                        std::string("no KMIP known-answer test for ") + algorithmName(spec.algorithm) + " " +
                            purposeName(spec.purpose) + " keys yet"};
}

}  // namespace keygate::backends::kmip

#include "backends/pkcs11/templates.h"

#include <openssl/sha.h>

#include <array>
#include <cstring>

#include "common/sha256.h"

namespace keygate::backends::pkcs11 {
namespace {

constexpr std::array<CK_ATTRIBUTE_TYPE, 7> kSecretUsage{CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN,  CKA_VERIFY,
                                                        CKA_WRAP,    CKA_UNWRAP,  CKA_DERIVE};
constexpr std::array<CK_ATTRIBUTE_TYPE, 5> kPublicUsage{CKA_ENCRYPT, CKA_VERIFY, CKA_VERIFY_RECOVER, CKA_WRAP,
                                                        CKA_DERIVE};
constexpr std::array<CK_ATTRIBUTE_TYPE, 5> kPrivateUsage{CKA_DECRYPT, CKA_SIGN, CKA_SIGN_RECOVER, CKA_UNWRAP,
                                                         CKA_DERIVE};

std::string sha256Hex(std::string_view s, size_t hexChars) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : md) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out.substr(0, hexChars);
}

// Attributes every Keygate object carries: a private token object, usage attributes
// changeable (MODIFIABLE) so activation can flip them, not copyable (except what the staged
// create of create_objects.h copies into the token: SoftHSM2 keeps the copy copyable).
void addCommon(AttributeList& t, CK_OBJECT_CLASS cls, CK_KEY_TYPE type, const KeySpec& spec) {
  Bytes id = objectId(spec.ref);
  t.addUlong(CKA_CLASS, cls)
      .addUlong(CKA_KEY_TYPE, type)
      .add(CKA_TOKEN, true)
      .add(CKA_PRIVATE, true)
      .add(CKA_MODIFIABLE, true)
      .add(CKA_COPYABLE, false)
      .addBytes(CKA_ID, id)
      .addString(CKA_LABEL, spec.ref.backendKeyId());
  for (CK_ATTRIBUTE_TYPE a : usageAttributes(cls)) t.add(a, false);
}

void addProtection(AttributeList& t) { t.add(CKA_SENSITIVE, true).add(CKA_EXTRACTABLE, false); }

}  // namespace

AttributeList& AttributeList::add(CK_ATTRIBUTE_TYPE type, bool value) {
  values_.push_back(Bytes{static_cast<uint8_t>(value ? CK_TRUE : CK_FALSE)});
  attrs_.push_back(CK_ATTRIBUTE{type, values_.back().data(), 1});
  return *this;
}

AttributeList& AttributeList::addUlong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
  Bytes b(sizeof(CK_ULONG));
  std::memcpy(b.data(), &value, sizeof(value));
  values_.push_back(std::move(b));
  attrs_.push_back(CK_ATTRIBUTE{type, values_.back().data(), sizeof(CK_ULONG)});
  return *this;
}

AttributeList& AttributeList::addBytes(CK_ATTRIBUTE_TYPE type, std::span<const uint8_t> value) {
  values_.emplace_back(value.begin(), value.end());
  attrs_.push_back(CK_ATTRIBUTE{type, values_.back().data(), values_.back().size()});
  return *this;
}

AttributeList& AttributeList::addString(CK_ATTRIBUTE_TYPE type, std::string_view value) {
  return addBytes(type, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
}

const CK_ATTRIBUTE* AttributeList::find(CK_ATTRIBUTE_TYPE type) const {
  for (const auto& a : attrs_) {
    if (a.type == type) return &a;
  }
  return nullptr;
}

std::span<const CK_ATTRIBUTE_TYPE> usageAttributes(CK_OBJECT_CLASS cls) {
  switch (cls) {
    case CKO_SECRET_KEY: return kSecretUsage;
    case CKO_PUBLIC_KEY: return kPublicUsage;
    case CKO_PRIVATE_KEY: return kPrivateUsage;
    default: return {};
  }
}

std::vector<CK_ATTRIBUTE_TYPE> enabledUsage(Purpose purpose, CK_OBJECT_CLASS cls, UsageState state) {
  if (state == UsageState::kNone) return {};
  const bool full = state == UsageState::kFull;
  switch (purpose) {
    case Purpose::kEncrypt:  // protect: encrypt; process: decrypt
      if (cls == CKO_SECRET_KEY) return full ? std::vector{CKA_ENCRYPT, CKA_DECRYPT} : std::vector{CKA_DECRYPT};
      if (cls == CKO_PUBLIC_KEY) return full ? std::vector<CK_ATTRIBUTE_TYPE>{CKA_ENCRYPT} : std::vector<CK_ATTRIBUTE_TYPE>{};
      if (cls == CKO_PRIVATE_KEY) return {CKA_DECRYPT};
      break;
    case Purpose::kSign:  // protect: sign; process: verify
      if (cls == CKO_PRIVATE_KEY) return full ? std::vector<CK_ATTRIBUTE_TYPE>{CKA_SIGN} : std::vector<CK_ATTRIBUTE_TYPE>{};
      if (cls == CKO_PUBLIC_KEY) return {CKA_VERIFY};
      break;
    case Purpose::kWrap:  // protect: wrap; process: unwrap
      if (cls == CKO_SECRET_KEY) return full ? std::vector{CKA_WRAP, CKA_UNWRAP} : std::vector{CKA_UNWRAP};
      if (cls == CKO_PUBLIC_KEY) return full ? std::vector<CK_ATTRIBUTE_TYPE>{CKA_WRAP} : std::vector<CK_ATTRIBUTE_TYPE>{};
      if (cls == CKO_PRIVATE_KEY) return {CKA_UNWRAP};
      break;
    case Purpose::kMac:  // protect: sign (MAC); process: verify
      if (cls == CKO_SECRET_KEY) return full ? std::vector{CKA_SIGN, CKA_VERIFY} : std::vector{CKA_VERIFY};
      break;
  }
  return {};
}

std::string ckaName(CK_ATTRIBUTE_TYPE type) {
  switch (type) {
    case CKA_CLASS: return "CKA_CLASS";
    case CKA_TOKEN: return "CKA_TOKEN";
    case CKA_PRIVATE: return "CKA_PRIVATE";
    case CKA_LABEL: return "CKA_LABEL";
    case CKA_KEY_TYPE: return "CKA_KEY_TYPE";
    case CKA_ID: return "CKA_ID";
    case CKA_SENSITIVE: return "CKA_SENSITIVE";
    case CKA_ENCRYPT: return "CKA_ENCRYPT";
    case CKA_DECRYPT: return "CKA_DECRYPT";
    case CKA_WRAP: return "CKA_WRAP";
    case CKA_UNWRAP: return "CKA_UNWRAP";
    case CKA_SIGN: return "CKA_SIGN";
    case CKA_SIGN_RECOVER: return "CKA_SIGN_RECOVER";
    case CKA_VERIFY: return "CKA_VERIFY";
    case CKA_VERIFY_RECOVER: return "CKA_VERIFY_RECOVER";
    case CKA_DERIVE: return "CKA_DERIVE";
    case CKA_EXTRACTABLE: return "CKA_EXTRACTABLE";
    case CKA_MODIFIABLE: return "CKA_MODIFIABLE";
    case CKA_COPYABLE: return "CKA_COPYABLE";
    case CKA_ALWAYS_SENSITIVE: return "CKA_ALWAYS_SENSITIVE";
    case CKA_NEVER_EXTRACTABLE: return "CKA_NEVER_EXTRACTABLE";
    case CKA_VALUE_LEN: return "CKA_VALUE_LEN";
    case CKA_MODULUS_BITS: return "CKA_MODULUS_BITS";
    case CKA_PUBLIC_EXPONENT: return "CKA_PUBLIC_EXPONENT";
    case CKA_EC_PARAMS: return "CKA_EC_PARAMS";
    case CKA_CHECK_VALUE: return "CKA_CHECK_VALUE";
    default: return "CKA_0x" + std::to_string(type);
  }
}

std::string ckaShortName(CK_ATTRIBUTE_TYPE type) {
  std::string n = ckaName(type);
  if (n.rfind("CKA_", 0) == 0) n = n.substr(4);
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return n;
}

Bytes objectId(const KeyRef& ref) {
  const auto md = sha256("keygate/v1:" + ref.keyUid + "/v" + std::to_string(ref.version));
  return Bytes(md.begin(), md.begin() + 16);
}

Bytes ecParams(Algorithm a) {
  switch (a) {
    case Algorithm::kEcP256:  // 1.2.840.10045.3.1.7 prime256v1
      return {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    case Algorithm::kEcP384:  // 1.3.132.0.34 secp384r1
      return {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    default:
      return {};
  }
}

GenerationTemplate generationTemplate(const KeySpec& spec) {
  GenerationTemplate g;
  switch (spec.algorithm) {
    case Algorithm::kAes256:
    case Algorithm::kHmacSha256: {
      const bool aes = spec.algorithm == Algorithm::kAes256;
      g.mechanism = aes ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN;
      g.keyType = aes ? CKK_AES : CKK_GENERIC_SECRET;
      addCommon(g.secret, CKO_SECRET_KEY, g.keyType, spec);
      addProtection(g.secret);
      g.secret.addUlong(CKA_VALUE_LEN, 32);
      break;
    }
    case Algorithm::kRsa3072:
    case Algorithm::kRsa4096: {
      g.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
      g.keyPair = true;
      g.keyType = CKK_RSA;
      addCommon(g.publicKey, CKO_PUBLIC_KEY, CKK_RSA, spec);
      g.publicKey.addUlong(CKA_MODULUS_BITS, spec.algorithm == Algorithm::kRsa3072 ? 3072 : 4096);
      const uint8_t e[] = {0x01, 0x00, 0x01};
      g.publicKey.addBytes(CKA_PUBLIC_EXPONENT, e);
      addCommon(g.privateKey, CKO_PRIVATE_KEY, CKK_RSA, spec);
      addProtection(g.privateKey);
      break;
    }
    case Algorithm::kEcP256:
    case Algorithm::kEcP384: {
      g.mechanism = CKM_EC_KEY_PAIR_GEN;
      g.keyPair = true;
      g.keyType = CKK_EC;
      addCommon(g.publicKey, CKO_PUBLIC_KEY, CKK_EC, spec);
      g.publicKey.addBytes(CKA_EC_PARAMS, ecParams(spec.algorithm));
      addCommon(g.privateKey, CKO_PRIVATE_KEY, CKK_EC, spec);
      addProtection(g.privateKey);
      break;
    }
  }
  return g;
}

AttributeList importTemplate(const KeySpec& spec) {
  AttributeList t;
  switch (spec.algorithm) {
    case Algorithm::kAes256:
    case Algorithm::kHmacSha256:
      addCommon(t, CKO_SECRET_KEY, spec.algorithm == Algorithm::kAes256 ? CKK_AES : CKK_GENERIC_SECRET, spec);
      break;
    case Algorithm::kRsa3072:
    case Algorithm::kRsa4096: addCommon(t, CKO_PRIVATE_KEY, CKK_RSA, spec); break;
    case Algorithm::kEcP256:
    case Algorithm::kEcP384: addCommon(t, CKO_PRIVATE_KEY, CKK_EC, spec); break;
  }
  addProtection(t);
  return t;
}

AttributeList importedPublicTemplate(const KeySpec& spec) {
  AttributeList t;
  const bool rsa = spec.algorithm == Algorithm::kRsa3072 || spec.algorithm == Algorithm::kRsa4096;
  addCommon(t, CKO_PUBLIC_KEY, rsa ? CKK_RSA : CKK_EC, spec);
  return t;
}

Bytes wrappingObjectId(const KeyRef& ref, int serial) {
  std::string in = "keygate/v1:" + ref.keyUid + "/v" + std::to_string(ref.version) + "/wrap" + std::to_string(serial);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  return Bytes(md, md + 16);
}

std::string wrappingKeyLabel(const KeyRef& ref, int serial) {
  return ref.backendKeyId() + "/wrap" + std::to_string(serial);
}

GenerationTemplate wrappingKeyTemplate(const KeyRef& ref, int serial) {
  GenerationTemplate g;
  g.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
  g.keyPair = true;
  g.keyType = CKK_RSA;
  const Bytes id = wrappingObjectId(ref, serial);
  const std::string label = wrappingKeyLabel(ref, serial);
  // `on`: the one usage attribute that is true (CKA_UNWRAP on the private half), 0 for none.
  auto common = [&](AttributeList& t, CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE on) {
    t.addUlong(CKA_CLASS, cls)
        .addUlong(CKA_KEY_TYPE, CKK_RSA)
        .add(CKA_TOKEN, true)
        .add(CKA_PRIVATE, true)
        .add(CKA_MODIFIABLE, false)
        .add(CKA_COPYABLE, false)
        .addBytes(CKA_ID, id)
        .addString(CKA_LABEL, label);
    for (CK_ATTRIBUTE_TYPE a : usageAttributes(cls)) t.add(a, a == on);
  };
  // The public half only describes the key (the tenant wraps with its PEM); the private half
  // only unwraps, and never leaves the token.
  common(g.publicKey, CKO_PUBLIC_KEY, 0);
  g.publicKey.addUlong(CKA_MODULUS_BITS, 3072);
  const uint8_t e[] = {0x01, 0x00, 0x01};
  g.publicKey.addBytes(CKA_PUBLIC_EXPONENT, e);
  common(g.privateKey, CKO_PRIVATE_KEY, CKA_UNWRAP);
  addProtection(g.privateKey);
  return g;
}

AttributeList usageTemplate(Purpose purpose, CK_OBJECT_CLASS cls, UsageState state) {
  AttributeList t;
  std::vector<CK_ATTRIBUTE_TYPE> on = enabledUsage(purpose, cls, state);
  for (CK_ATTRIBUTE_TYPE a : usageAttributes(cls)) {
    bool enabled = false;
    for (CK_ATTRIBUTE_TYPE e : on) enabled = enabled || e == a;
    t.add(a, enabled);
  }
  return t;
}

std::string tokenLabel(std::string_view ns) {
  std::string label = "keygate:" + std::string(ns);
  if (label.size() <= 32) return label;
  return "keygate:" + std::string(ns.substr(0, 11)) + "~" + sha256Hex(ns, 12);
}

std::string paddedLabel(std::string_view label) {
  std::string p(label.substr(0, 32));
  p.resize(32, ' ');
  return p;
}

}  // namespace keygate::backends::pkcs11

#pragma once
// Attribute templates: what a Keygate key looks like in a token. Pure functions, unit
// tested against the fake Cryptoki and checked on SoftHSM2.

#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/key_backend.h"
#include "backends/pkcs11/cryptoki.h"

namespace keygate::backends::pkcs11 {

// A CK_ATTRIBUTE array that owns its values (pointers stay valid while it lives).
class AttributeList {
 public:
  AttributeList() = default;
  AttributeList(const AttributeList&) = delete;
  AttributeList& operator=(const AttributeList&) = delete;
  AttributeList(AttributeList&&) = default;
  AttributeList& operator=(AttributeList&&) = default;

  AttributeList& add(CK_ATTRIBUTE_TYPE type, bool value);
  AttributeList& addUlong(CK_ATTRIBUTE_TYPE type, CK_ULONG value);
  AttributeList& addBytes(CK_ATTRIBUTE_TYPE type, std::span<const uint8_t> value);
  AttributeList& addString(CK_ATTRIBUTE_TYPE type, std::string_view value);
  std::span<const CK_ATTRIBUTE> span() const { return attrs_; }
  size_t size() const { return attrs_.size(); }
  // nullptr when absent.
  const CK_ATTRIBUTE* find(CK_ATTRIBUTE_TYPE type) const;

 private:
  std::deque<Bytes> values_;  // deque: adding never moves earlier values
  std::vector<CK_ATTRIBUTE> attrs_;
};

// The usage attributes valid for each object class (PKCS#11 2.40 §4.7-4.9).
std::span<const CK_ATTRIBUTE_TYPE> usageAttributes(CK_OBJECT_CLASS cls);
// Of those, the ones `state` turns on for a key of `purpose` (everything else is off).
std::vector<CK_ATTRIBUTE_TYPE> enabledUsage(Purpose purpose, CK_OBJECT_CLASS cls, UsageState state);
// "CKA_ENCRYPT" / "encrypt"
std::string ckaName(CK_ATTRIBUTE_TYPE type);
std::string ckaShortName(CK_ATTRIBUTE_TYPE type);

// CKA_ID: first 16 bytes of SHA-256("keygate/v1:" uid "/v" version) — stable across
// restarts, unique per key version. CKA_LABEL: the backend key id.
Bytes objectId(const KeyRef& ref);

// What C_GenerateKey/C_GenerateKeyPair get for a spec. Secret keys fill `secret`; key pairs
// fill `publicKey` and `privateKey`.
struct GenerationTemplate {
  CK_MECHANISM_TYPE mechanism = 0;
  bool keyPair = false;
  CK_KEY_TYPE keyType = 0;
  AttributeList secret;
  AttributeList publicKey;
  AttributeList privateKey;
};
GenerationTemplate generationTemplate(const KeySpec& spec);

// BYOK. What C_UnwrapKey gets for an imported key version: a generated key's attributes
// (same CKA_ID and label, every usage off, sensitive, never extractable); a secret key for
// AES/HMAC, the private half for RSA/EC.
AttributeList importTemplate(const KeySpec& spec);
// The public half created beside an imported private key (the caller adds the key values).
AttributeList importedPublicTemplate(const KeySpec& spec);
// The wrapping key pair of import window `serial`: RSA-3072, its own CKA_ID and label
// ("<backendKeyId>/wrap<serial>"), not modifiable; the private half can only unwrap.
Bytes wrappingObjectId(const KeyRef& ref, int serial);
std::string wrappingKeyLabel(const KeyRef& ref, int serial);
GenerationTemplate wrappingKeyTemplate(const KeyRef& ref, int serial);

// The usage template that puts an object of class `cls` into `state`.
AttributeList usageTemplate(Purpose purpose, CK_OBJECT_CLASS cls, UsageState state);

// DER-encoded OID for CKA_EC_PARAMS (P-256, P-384); empty for other algorithms.
Bytes ecParams(Algorithm a);
// Token label for a tenant: "keygate:<namespace>" blank-padded to 32 bytes. PKCS#11 token
// labels are 32 bytes: a namespace longer than 24 bytes becomes
// "keygate:<first 11 bytes>~<12 hex of SHA-256(namespace)>" (stable, still recognisable).
std::string tokenLabel(std::string_view tenantNamespace);  // unpadded
std::string paddedLabel(std::string_view label);            // exactly 32 bytes

}  // namespace keygate::backends::pkcs11

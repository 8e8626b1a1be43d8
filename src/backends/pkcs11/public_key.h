#pragma once
// Public halves read from a token → SubjectPublicKeyInfo DER (OpenSSL), for fingerprints
// ("sha256:<hex>") and, later, the BYOK wrapping key PEM. Never touches private material.

#include <string>

#include "backends/pkcs11/cryptoki.h"
#include "common/result.h"

namespace keygate::backends::pkcs11 {

Result<Bytes> rsaSpki(const Bytes& modulus, const Bytes& publicExponent);
// ecParams: DER OID (CKA_EC_PARAMS); ecPoint: CKA_EC_POINT (DER OCTET STRING or raw point).
Result<Bytes> ecSpki(const Bytes& ecParams, const Bytes& ecPoint);
std::string sha256Fingerprint(const Bytes& der);  // "sha256:<64 hex>"
std::string hex(const Bytes& b);
// "-----BEGIN PUBLIC KEY-----" PEM of a SubjectPublicKeyInfo DER.
std::string spkiPem(const Bytes& der);

// ECDSA signatures: PKCS#11 gives r || s (each `fieldBytes` long), everyone else DER.
Result<Bytes> ecdsaRawToDer(const Bytes& raw);
// InvalidArgument when `der` is not one ECDSA-Sig-Value whose r and s fit in fieldBytes.
Result<Bytes> ecdsaDerToRaw(std::span<const uint8_t> der, size_t fieldBytes);

}  // namespace keygate::backends::pkcs11

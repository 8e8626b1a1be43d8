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

}  // namespace keygate::backends::pkcs11

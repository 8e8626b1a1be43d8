#pragma once
// BYOK wrapping formats, one vocabulary for the backend (which unwraps inside the HSM), the
// EncryptionKey status (which publishes what the backend can unwrap) and the tenant's side
// (`keygate wrap`, which wraps with OpenSSL). The names are AWS KMS's import names, so
// tooling and habits carry over (docs/byok.md):
//   RSAES_OAEP_SHA_1 / _SHA_256          RSA-OAEP of the raw material (secret keys only:
//                                        AES-256, HMAC; at most 318 bytes with RSA-3072)
//   RSA_AES_KEY_WRAP_SHA_1 / _SHA_256     RSA-OAEP of a fresh AES-256 key, then AES key wrap
//                                        with padding (RFC 5649) of the material: secret keys
//                                        as raw bytes, RSA and EC private keys as PKCS#8 DER
// The blob of the second family is the two parts concatenated (RSA modulus size first).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace keygate {

enum class WrappingFormat { kRsaOaepSha1, kRsaOaepSha256, kRsaAesKeyWrapSha1, kRsaAesKeyWrapSha256 };

inline constexpr WrappingFormat kAllWrappingFormats[] = {WrappingFormat::kRsaAesKeyWrapSha256, WrappingFormat::kRsaOaepSha256,
                                                         WrappingFormat::kRsaAesKeyWrapSha1, WrappingFormat::kRsaOaepSha1};

const char* wrappingFormatName(WrappingFormat f);
// InvalidArgument naming the supported values.
Result<WrappingFormat> parseWrappingFormat(std::string_view s);
// RSA_AES_KEY_WRAP_*: the two-step construction.
bool isKeyWrapFormat(WrappingFormat f);
// The OAEP hash (and MGF1 hash): "SHA-1" or "SHA-256".
bool usesSha256(WrappingFormat f);

// The tenant's side, with OpenSSL: wraps `material` (raw secret key bytes, or PKCS#8 DER of
// a private key) for the RSA public key `publicKeyPem` (a SubjectPublicKeyInfo PEM).
// InvalidArgument: not an RSA public key, material too long for RSAES_OAEP_*.
Result<std::vector<uint8_t>> wrapKeyMaterial(std::string_view publicKeyPem, WrappingFormat format,
                                             std::span<const uint8_t> material);

// What the backend will report as status.versions[].fingerprint for this material, so the
// tenant can compare: secret keys "kcv:<6 hex>" (AES: the first 3 bytes of AES-ECB of a zero
// block; other secrets: of SHA-1 of the value, as PKCS#11 defines CKA_CHECK_VALUE),
// private keys (PKCS#8 DER) "sha256:<hex>" of the public key's SubjectPublicKeyInfo DER.
// `aes` tells the two secret cases apart.
Result<std::string> materialFingerprint(std::span<const uint8_t> material, bool privateKey, bool aes);

}  // namespace keygate

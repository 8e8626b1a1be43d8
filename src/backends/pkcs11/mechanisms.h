#pragma once
// Mechanism parameters Keygate uses with SoftHSM2 2.6.1 (see ../shared/design/facts.md):
// RSA-OAEP only with SHA-1/MGF1-SHA1, AES key wrap with padding (RFC 5649).

#include <array>
#include <span>

#include "backends/pkcs11/cryptoki.h"

namespace keygate::backends::pkcs11 {

// Holds a mechanism and the parameter block it points into; not copyable (self-pointer).
struct Mechanism {
  CK_MECHANISM mech{};
  CK_GCM_PARAMS gcm{};
  CK_RSA_PKCS_OAEP_PARAMS oaep{};
  CK_RSA_PKCS_PSS_PARAMS pss{};
  std::array<uint8_t, 12> iv{};

  Mechanism() = default;
  Mechanism(const Mechanism&) = delete;
  Mechanism& operator=(const Mechanism&) = delete;
  const CK_MECHANISM& get() const { return mech; }
};

void setPlain(Mechanism& m, CK_MECHANISM_TYPE type);
// AES-GCM, 96-bit IV (copied from `iv`), 128-bit tag, no AAD.
void setAesGcm(Mechanism& m, const std::array<uint8_t, 12>& iv);
// AES-GCM with additional authenticated data (`aad` must outlive the operation).
void setAesGcm(Mechanism& m, const std::array<uint8_t, 12>& iv, std::span<const uint8_t> aad);
// CKM_RSA_PKCS_PSS over a SHA-256 digest (MGF1-SHA256, salt 32).
void setRsaPssOnSha256Digest(Mechanism& m);
void setRsaOaepSha1(Mechanism& m);
void setRsaPssSha256(Mechanism& m);  // CKM_SHA256_RSA_PKCS_PSS, salt 32

const char* mechanismName(CK_MECHANISM_TYPE type);

}  // namespace keygate::backends::pkcs11

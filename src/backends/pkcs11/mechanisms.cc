#include "backends/pkcs11/mechanisms.h"

namespace keygate::backends::pkcs11 {

void setPlain(Mechanism& m, CK_MECHANISM_TYPE type) { m.mech = CK_MECHANISM{type, nullptr, 0}; }

void setAesGcm(Mechanism& m, const std::array<uint8_t, 12>& iv) {
  m.iv = iv;
  m.gcm = CK_GCM_PARAMS{};
  m.gcm.pIv = m.iv.data();
  m.gcm.ulIvLen = m.iv.size();
  m.gcm.ulIvBits = m.iv.size() * 8;
  m.gcm.pAAD = nullptr;
  m.gcm.ulAADLen = 0;
  m.gcm.ulTagBits = 128;
  m.mech = CK_MECHANISM{CKM_AES_GCM, &m.gcm, sizeof(m.gcm)};
}

void setAesGcm(Mechanism& m, const std::array<uint8_t, 12>& iv, std::span<const uint8_t> aad) {
  setAesGcm(m, iv);
  m.gcm.pAAD = aad.empty() ? nullptr : const_cast<CK_BYTE_PTR>(aad.data());
  m.gcm.ulAADLen = aad.size();
}

void setRsaPssOnSha256Digest(Mechanism& m) {
  m.pss = CK_RSA_PKCS_PSS_PARAMS{CKM_SHA256, CKG_MGF1_SHA256, 32};
  m.mech = CK_MECHANISM{CKM_RSA_PKCS_PSS, &m.pss, sizeof(m.pss)};
}

void setRsaOaepSha1(Mechanism& m) {
  m.oaep = CK_RSA_PKCS_OAEP_PARAMS{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
  m.mech = CK_MECHANISM{CKM_RSA_PKCS_OAEP, &m.oaep, sizeof(m.oaep)};
}

void setRsaPssSha256(Mechanism& m) {
  m.pss = CK_RSA_PKCS_PSS_PARAMS{CKM_SHA256, CKG_MGF1_SHA256, 32};
  m.mech = CK_MECHANISM{CKM_SHA256_RSA_PKCS_PSS, &m.pss, sizeof(m.pss)};
}

const char* mechanismName(CK_MECHANISM_TYPE type) {
  switch (type) {
    case CKM_AES_GCM: return "CKM_AES_GCM";
    case CKM_AES_CBC_PAD: return "CKM_AES_CBC_PAD";
    case CKM_AES_KEY_WRAP_PAD: return "CKM_AES_KEY_WRAP_PAD";
    case CKM_AES_CMAC: return "CKM_AES_CMAC";
    case CKM_RSA_PKCS_OAEP: return "CKM_RSA_PKCS_OAEP";
    case CKM_SHA256_RSA_PKCS_PSS: return "CKM_SHA256_RSA_PKCS_PSS";
    case CKM_SHA256_RSA_PKCS: return "CKM_SHA256_RSA_PKCS";
    case CKM_RSA_PKCS_PSS: return "CKM_RSA_PKCS_PSS";
    case CKM_RSA_PKCS: return "CKM_RSA_PKCS";
    case CKM_ECDSA: return "CKM_ECDSA";
    case CKM_SHA256_HMAC: return "CKM_SHA256_HMAC";
    case CKM_AES_KEY_GEN: return "CKM_AES_KEY_GEN";
    case CKM_GENERIC_SECRET_KEY_GEN: return "CKM_GENERIC_SECRET_KEY_GEN";
    case CKM_RSA_PKCS_KEY_PAIR_GEN: return "CKM_RSA_PKCS_KEY_PAIR_GEN";
    case CKM_EC_KEY_PAIR_GEN: return "CKM_EC_KEY_PAIR_GEN";
    default: return "CKM_(other)";
  }
}

}  // namespace keygate::backends::pkcs11

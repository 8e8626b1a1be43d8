#include "backends/pkcs11/public_key.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <memory>

namespace keygate::backends::pkcs11 {
namespace {

struct Free {
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(ASN1_OCTET_STRING* p) const { ASN1_OCTET_STRING_free(p); }
  void operator()(ASN1_OBJECT* p) const { ASN1_OBJECT_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Free>;

Result<Bytes> spkiFromParams(const char* keyType, OSSL_PARAM_BLD* bld) {
  Ptr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
  Ptr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, keyType, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) {
    return makeError(ErrorCode::kInternal, std::string("OpenSSL cannot build a ") + keyType + " public key");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return makeError(ErrorCode::kInternal, std::string("token returned an invalid ") + keyType + " public key");
  }
  Ptr<EVP_PKEY> pkey(raw);
  int len = i2d_PUBKEY(pkey.get(), nullptr);
  if (len <= 0) return makeError(ErrorCode::kInternal, "i2d_PUBKEY failed");
  Bytes der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  i2d_PUBKEY(pkey.get(), &p);
  return der;
}

}  // namespace

Result<Bytes> rsaSpki(const Bytes& modulus, const Bytes& publicExponent) {
  Ptr<BIGNUM> n(BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr));
  Ptr<BIGNUM> e(BN_bin2bn(publicExponent.data(), static_cast<int>(publicExponent.size()), nullptr));
  Ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (!n || !e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
    return makeError(ErrorCode::kInternal, "OpenSSL cannot hold the RSA public key");
  }
  return spkiFromParams("RSA", bld.get());
}

Result<Bytes> ecSpki(const Bytes& ecParams, const Bytes& ecPoint) {
  const unsigned char* p = ecParams.data();
  Ptr<ASN1_OBJECT> oid(d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(ecParams.size())));
  if (!oid) return makeError(ErrorCode::kInternal, "CKA_EC_PARAMS is not a named-curve OID");
  const char* group = OBJ_nid2sn(OBJ_obj2nid(oid.get()));
  if (group == nullptr || OBJ_obj2nid(oid.get()) == NID_undef) {
    return makeError(ErrorCode::kInternal, "CKA_EC_PARAMS names an unknown curve");
  }
  // PKCS#11 2.40 says CKA_EC_POINT is a DER OCTET STRING; some modules return the raw point.
  Bytes point = ecPoint;
  const unsigned char* q = ecPoint.data();
  Ptr<ASN1_OCTET_STRING> os(d2i_ASN1_OCTET_STRING(nullptr, &q, static_cast<long>(ecPoint.size())));
  if (os && q == ecPoint.data() + ecPoint.size()) {
    point.assign(ASN1_STRING_get0_data(os.get()), ASN1_STRING_get0_data(os.get()) + ASN1_STRING_length(os.get()));
  }
  Ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
    return makeError(ErrorCode::kInternal, "OpenSSL cannot hold the EC public key");
  }
  return spkiFromParams("EC", bld.get());
}

std::string hex(const Bytes& b) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (uint8_t c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string spkiPem(const Bytes& der) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der.data(), static_cast<int>(der.size()));
  b64.resize(n > 0 ? static_cast<size_t>(n) : 0);
  std::string pem = "-----BEGIN PUBLIC KEY-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  return pem + "-----END PUBLIC KEY-----\n";
}

Result<Bytes> ecdsaRawToDer(const Bytes& raw) {
  if (raw.empty() || raw.size() % 2 != 0) return makeError(ErrorCode::kInternal, "token returned an odd-length ECDSA signature");
  const int half = static_cast<int>(raw.size() / 2);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), half, nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, half, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return makeError(ErrorCode::kInternal, "OpenSSL cannot hold the ECDSA signature");
  }
  int len = i2d_ECDSA_SIG(sig, nullptr);
  Bytes der(len > 0 ? static_cast<size_t>(len) : 0);
  unsigned char* p = der.data();
  if (len <= 0 || i2d_ECDSA_SIG(sig, &p) != len) der.clear();
  ECDSA_SIG_free(sig);
  if (der.empty()) return makeError(ErrorCode::kInternal, "i2d_ECDSA_SIG failed");
  return der;
}

Result<Bytes> ecdsaDerToRaw(std::span<const uint8_t> der, size_t fieldBytes) {
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr || p != der.data() + der.size()) {
    ECDSA_SIG_free(sig);
    return makeError(ErrorCode::kInvalidArgument, "the signature is not a DER ECDSA-Sig-Value");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  Bytes raw(2 * fieldBytes);
  bool ok = BN_bn2binpad(r, raw.data(), static_cast<int>(fieldBytes)) > 0 &&
            BN_bn2binpad(s, raw.data() + fieldBytes, static_cast<int>(fieldBytes)) > 0;
  ECDSA_SIG_free(sig);
  if (!ok) return makeError(ErrorCode::kInvalidArgument, "the ECDSA signature does not fit the key's curve");
  return raw;
}

std::string sha256Fingerprint(const Bytes& der) {
  Bytes md(SHA256_DIGEST_LENGTH);
  SHA256(der.data(), der.size(), md.data());
  return "sha256:" + hex(md);
}

}  // namespace keygate::backends::pkcs11

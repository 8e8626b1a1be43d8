#include "backends/pkcs11/public_key.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
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

std::string sha256Fingerprint(const Bytes& der) {
  Bytes md(SHA256_DIGEST_LENGTH);
  SHA256(der.data(), der.size(), md.data());
  return "sha256:" + hex(md);
}

}  // namespace keygate::backends::pkcs11

#include "common/key_wrapping.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <memory>

namespace keygate {
namespace {

struct Names {
  WrappingFormat format;
  const char* name;
};
constexpr Names kNames[] = {{WrappingFormat::kRsaOaepSha1, "RSAES_OAEP_SHA_1"},
                            {WrappingFormat::kRsaOaepSha256, "RSAES_OAEP_SHA_256"},
                            {WrappingFormat::kRsaAesKeyWrapSha1, "RSA_AES_KEY_WRAP_SHA_1"},
                            {WrappingFormat::kRsaAesKeyWrapSha256, "RSA_AES_KEY_WRAP_SHA_256"}};

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += d[p[i] >> 4];
    out += d[p[i] & 15];
  }
  return out;
}

Error invalid(const std::string& m) { return makeError(ErrorCode::kInvalidArgument, m); }

Result<std::vector<uint8_t>> oaepEncrypt(EVP_PKEY* key, bool sha256, std::span<const uint8_t> data) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr), EVP_PKEY_CTX_free);
  const EVP_MD* md = sha256 ? EVP_sha256() : EVP_sha1();
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) <= 0)
    return makeError(ErrorCode::kInternal, "RSA-OAEP setup failed");
  size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, data.data(), data.size()) <= 0)
    return makeError(ErrorCode::kInternal, "RSA-OAEP size query failed");
  std::vector<uint8_t> out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, data.data(), data.size()) <= 0)
    return invalid("RSA-OAEP cannot wrap " + std::to_string(data.size()) +
                   " bytes with this key (too long for RSAES_OAEP_*: use RSA_AES_KEY_WRAP_*)");
  out.resize(len);
  return out;
}

// AES key wrap with padding (RFC 5649) under a 256-bit key.
Result<std::vector<uint8_t>> aesKeyWrapPad(std::span<const uint8_t> kek, std::span<const uint8_t> data) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!ctx) return makeError(ErrorCode::kInternal, "no cipher context");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  std::vector<uint8_t> out(data.size() + 16);
  int n = 0, m = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_wrap_pad(), nullptr, kek.data(), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &n, data.data(), static_cast<int>(data.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + n, &m) != 1)
    return makeError(ErrorCode::kInternal, "AES key wrap (RFC 5649) failed");
  out.resize(static_cast<size_t>(n + m));
  return out;
}

}  // namespace

const char* wrappingFormatName(WrappingFormat f) {
  for (const auto& n : kNames)
    if (n.format == f) return n.name;
  return "";
}

Result<WrappingFormat> parseWrappingFormat(std::string_view s) {
  for (const auto& n : kNames)
    if (s == n.name) return n.format;
  std::string supported;
  for (const auto& n : kNames) supported += std::string(supported.empty() ? "" : ", ") + "\"" + n.name + "\"";
  return invalid("unsupported wrapping format \"" + std::string(s) + "\": supported values: " + supported);
}

bool isKeyWrapFormat(WrappingFormat f) {
  return f == WrappingFormat::kRsaAesKeyWrapSha1 || f == WrappingFormat::kRsaAesKeyWrapSha256;
}

bool usesSha256(WrappingFormat f) { return f == WrappingFormat::kRsaOaepSha256 || f == WrappingFormat::kRsaAesKeyWrapSha256; }

Result<std::vector<uint8_t>> wrapKeyMaterial(std::string_view publicKeyPem, WrappingFormat format,
                                             std::span<const uint8_t> material) {
  if (material.empty()) return invalid("no key material to wrap");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(publicKeyPem.data(), static_cast<int>(publicKeyPem.size())),
                                                BIO_free);
  PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  if (!key) return invalid("the wrapping key is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) return invalid("the wrapping key is not an RSA key");
  if (!isKeyWrapFormat(format)) return oaepEncrypt(key.get(), usesSha256(format), material);
  std::vector<uint8_t> ephemeral(32);
  if (RAND_bytes(ephemeral.data(), static_cast<int>(ephemeral.size())) != 1)
    return makeError(ErrorCode::kInternal, "no randomness for the ephemeral AES key");
  auto head = oaepEncrypt(key.get(), usesSha256(format), ephemeral);
  auto tail = head.ok() ? aesKeyWrapPad(ephemeral, material) : Result<std::vector<uint8_t>>(head.error());
  OPENSSL_cleanse(ephemeral.data(), ephemeral.size());
  if (!tail.ok()) return tail.takeError();
  std::vector<uint8_t> blob = std::move(*head);
  blob.insert(blob.end(), tail->begin(), tail->end());
  return blob;
}

Result<std::string> materialFingerprint(std::span<const uint8_t> material, bool privateKey, bool aes) {
  if (privateKey) {
    const unsigned char* p = material.data();
    PkeyPtr key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(material.size())), EVP_PKEY_free);
    if (!key) return invalid("the material is not a PKCS#8 (DER) private key");
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key.get(), &der);
    if (len <= 0) return makeError(ErrorCode::kInternal, "cannot encode the public key");
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(der, static_cast<size_t>(len), md);
    OPENSSL_free(der);
    return "sha256:" + hex(md, sizeof(md));
  }
  if (aes) {
    if (material.size() != 16 && material.size() != 24 && material.size() != 32)
      return invalid("AES key material is " + std::to_string(material.size()) + " bytes");
    CipherCtxPtr ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
    const EVP_CIPHER* c = material.size() == 32 ? EVP_aes_256_ecb() : material.size() == 24 ? EVP_aes_192_ecb() : EVP_aes_128_ecb();
    uint8_t zero[16] = {0}, out[32];
    int n = 0;
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), c, nullptr, material.data(), nullptr) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 || EVP_EncryptUpdate(ctx.get(), out, &n, zero, 16) != 1)
      return makeError(ErrorCode::kInternal, "AES check value failed");
    return "kcv:" + hex(out, 3);
  }
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(material.data(), material.size(), md);
  return "kcv:" + hex(md, 3);
}

}  // namespace keygate

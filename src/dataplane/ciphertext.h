#pragma once
// The Keygate ciphertext (format version 1): self-describing, so Decrypt finds the key
// version and algorithm in the ciphertext and rotation is transparent to callers.
//
//   offset size
//   0      1    magic 0x4B ('K')
//   1      1    format version (1)
//   2      1    algorithm: 1 = AES-256-GCM, 2 = RSA-OAEP (SHA-1, MGF1-SHA1)
//   3      4    key version, unsigned big-endian (≥ 1)
//   AES-256-GCM:  7: 12-byte IV (from the HSM's RNG), 19: ciphertext, then the 16-byte tag
//   RSA-OAEP:     7: the RSA ciphertext (the modulus size)
//
// AES-GCM authenticates the 7 header bytes together with the caller's aad (the GCM AAD is
// header || aad), so no header byte can be changed without Decrypt failing.

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"

namespace keygate::dataplane {

enum class CipherAlgorithm : uint8_t { kAes256Gcm = 1, kRsaOaepSha1 = 2 };

inline constexpr uint8_t kCiphertextMagic = 0x4B;
inline constexpr uint8_t kCiphertextFormat = 1;
inline constexpr size_t kCiphertextHeaderSize = 7;
inline constexpr size_t kGcmIvSize = 12;
inline constexpr size_t kGcmTagSize = 16;

struct CiphertextHeader {
  CipherAlgorithm algorithm = CipherAlgorithm::kAes256Gcm;
  uint32_t keyVersion = 0;
};

// The 7 header bytes.
std::vector<uint8_t> encodeHeader(const CiphertextHeader& h);

struct ParsedCiphertext {
  CiphertextHeader header;
  std::span<const uint8_t> headerBytes;  // authenticated with the aad (GCM)
  std::span<const uint8_t> iv;           // GCM only
  std::span<const uint8_t> body;         // GCM: ciphertext || tag; RSA: the RSA ciphertext
};

// InvalidArgument naming what is wrong (not a Keygate ciphertext, unknown format version,
// unknown algorithm, version 0, truncated). Views point into `bytes`.
Result<ParsedCiphertext> parseCiphertext(std::span<const uint8_t> bytes);

}  // namespace keygate::dataplane

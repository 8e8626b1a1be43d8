#include "dataplane/ciphertext.h"

#include <string>

namespace keygate::dataplane {

std::vector<uint8_t> encodeHeader(const CiphertextHeader& h) {
  return {kCiphertextMagic,
          kCiphertextFormat,
          static_cast<uint8_t>(h.algorithm),
          static_cast<uint8_t>(h.keyVersion >> 24),
          static_cast<uint8_t>(h.keyVersion >> 16),
          static_cast<uint8_t>(h.keyVersion >> 8),
          static_cast<uint8_t>(h.keyVersion)};
}

Result<ParsedCiphertext> parseCiphertext(std::span<const uint8_t> b) {
  auto bad = [](const std::string& why) {
    return makeError(ErrorCode::kInvalidArgument, "ciphertext: " + why);
  };
  if (b.empty()) return bad("empty");
  if (b.size() < kCiphertextHeaderSize || b[0] != kCiphertextMagic)
    return bad("not a Keygate ciphertext (it must come from Encrypt or GenerateDataKey)");
  if (b[1] != kCiphertextFormat)
    return bad("format version " + std::to_string(b[1]) + " is not supported (this server reads version 1)");
  ParsedCiphertext p;
  p.header.keyVersion = (uint32_t{b[3]} << 24) | (uint32_t{b[4]} << 16) | (uint32_t{b[5]} << 8) | uint32_t{b[6]};
  if (p.header.keyVersion == 0) return bad("key version 0 is invalid");
  p.headerBytes = b.subspan(0, kCiphertextHeaderSize);
  switch (b[2]) {
    case static_cast<uint8_t>(CipherAlgorithm::kAes256Gcm):
      p.header.algorithm = CipherAlgorithm::kAes256Gcm;
      if (b.size() < kCiphertextHeaderSize + kGcmIvSize + kGcmTagSize) return bad("truncated (shorter than IV and tag)");
      p.iv = b.subspan(kCiphertextHeaderSize, kGcmIvSize);
      p.body = b.subspan(kCiphertextHeaderSize + kGcmIvSize);
      return p;
    case static_cast<uint8_t>(CipherAlgorithm::kRsaOaepSha1):
      p.header.algorithm = CipherAlgorithm::kRsaOaepSha1;
      if (b.size() == kCiphertextHeaderSize) return bad("truncated (no RSA ciphertext)");
      p.body = b.subspan(kCiphertextHeaderSize);
      return p;
    default:
      return bad("unknown algorithm " + std::to_string(b[2]));
  }
}

}  // namespace keygate::dataplane

#include "common/sha256.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace keygate {

std::array<uint8_t, 32> sha256(std::string_view data) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  if (!md || EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != out.size())
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

}  // namespace keygate

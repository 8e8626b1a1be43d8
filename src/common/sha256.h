#pragma once
// SHA-256 for the hot paths (object ids and version ids per backend call, the token-cache key
// per crypto API call). OpenSSL 3's one-shot SHA256() fetches the algorithm — under its global
// locks — on every call; this fetches it once per process.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keygate {

std::array<uint8_t, 32> sha256(std::string_view data);

}  // namespace keygate

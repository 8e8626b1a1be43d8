// Fuzz target: KMIP TTLV (what a KMIP server sends back): framing and decoding; what decodes
// re-encodes to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "backends/kmip/ttlv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace kmip = keygate::backends::kmip;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.size() >= 8) (void)kmip::messageLength(in.substr(0, 8), 1 << 20);
  auto item = kmip::decode(in);
  if (!item.ok()) return 0;
  if (kmip::encode(*item) != in) std::abort();  // TTLV has one encoding per item
  return 0;
}

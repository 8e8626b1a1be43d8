// Fuzz target: what a crypto API caller controls before any key is touched: the key name
// ("ns/name[@version]") and the ciphertext handed to Decrypt (Keygate's ciphertext format).
#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/ciphertext.h"
#include "dataplane/key_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)keygate::dataplane::parseCiphertext(std::span<const uint8_t>(data, size));
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)keygate::dataplane::parseKeyName(text, true);
  (void)keygate::dataplane::parseKeyName(text, false);
  return 0;
}

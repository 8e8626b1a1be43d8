// Fuzz target: the operator configuration file (YAML), as `keygate operator --config` and
// `keygate check` read it. Errors are values; nothing may crash or throw.
#include <cstdint>
#include <string_view>

#include "cmd/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)keygate::cmd::parseOperatorConfig(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  return 0;
}

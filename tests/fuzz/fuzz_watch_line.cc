// Fuzz target: one line of a watch stream from the API server.
#include <cstdint>
#include <string_view>

#include "kube/client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)keygate::kube::decodeWatchLine(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

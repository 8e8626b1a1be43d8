// Fuzz target: YAML manifests (`keygate local`, `keygate check`): multi-document YAML with
// EncryptionKeys, requests, bindings and Secrets.
#include <cstdint>
#include <string_view>

#include "api/v1alpha1/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)keygate::api::v1alpha1::parseManifests(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  return 0;
}

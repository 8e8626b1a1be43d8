// Fuzz target: a kubeconfig file (YAML), for the current context and for a named one. Paths in
// it resolve under a directory that does not exist, so nothing on disk is read.
#include <cstdint>
#include <string>

#include "kube/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)keygate::kube::parseKubeconfig(text, "", "/nonexistent-keygate-fuzz", "fuzz");
  (void)keygate::kube::parseKubeconfig(text, "prod", "/nonexistent-keygate-fuzz", "fuzz");
  return 0;
}

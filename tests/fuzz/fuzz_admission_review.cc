// Fuzz target: the admission webhook's request body (an AdmissionReview from kube-apiserver,
// or whatever reaches the port).
#include <cstdint>
#include <string_view>

#include "webhook/admission.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)keygate::webhook::parseAdmissionReview(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

// Fuzz target: the API's JSON codecs. Any bytes -> JSON parse -> each kind's decoder; what
// decodes must encode, and its encoding must decode to the same object (a round trip).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/v1alpha1/codec.h"
#include "common/json.h"

using namespace keygate;
namespace v1 = keygate::api::v1alpha1;

namespace {
template <class T, class Decode>
void roundTrip(const Json& j, Decode decode) {
  Result<T> a = decode(j, v1::DecodeOptions{});
  if (!a.ok()) return;
  Json again = v1::encode(*a);
  Result<T> b = decode(again, v1::DecodeOptions{});
  if (!b.ok()) std::abort();  // our own encoding must decode
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<Json> j = parseJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!j.ok()) return 0;
  roundTrip<v1::EncryptionKey>(*j, [](const Json& x, v1::DecodeOptions o) { return v1::decodeEncryptionKey(x, o); });
  roundTrip<v1::KeyActivationRequest>(*j, [](const Json& x, v1::DecodeOptions o) { return v1::decodeKeyActivationRequest(x, o); });
  roundTrip<v1::KeyRoleBinding>(*j, [](const Json& x, v1::DecodeOptions o) { return v1::decodeKeyRoleBinding(x, o); });
  (void)v1::decodeObjectMeta(*j);
  (void)v1::jurisdictionOfNamespace(*j);
  return 0;
}

// Fuzz target: the JSON parser and the API's JSON codecs. Any bytes -> JSON parse (checked
// against nlohmann's own parser) -> each kind's decoder; what decodes must encode, and its
// encoding must decode to the same object (a round trip).
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

// parseJson (simdjson's lexer, nlohmann's tree) must agree with nlohmann's own parser on
// every input: the same verdict, the same value, the same text when written again.
void sameAsNlohmann(std::string_view text, const Result<Json>& j) {
  Json reference = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.ok() != !reference.is_discarded()) std::abort();
  if (j.ok() && (*j != reference || dumpJson(*j) != dumpJson(reference))) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<Json> j = parseJson(text);
  sameAsNlohmann(text, j);
  if (!j.ok()) return 0;
  roundTrip<v1::EncryptionKey>(*j, [](const Json& x, v1::DecodeOptions o) { return v1::decodeEncryptionKey(x, o); });
  roundTrip<v1::KeyActivationRequest>(*j, [](const Json& x, v1::DecodeOptions o) { return v1::decodeKeyActivationRequest(x, o); });
  roundTrip<v1::KeyRoleBinding>(*j, [](const Json& x, v1::DecodeOptions o) { return v1::decodeKeyRoleBinding(x, o); });
  (void)v1::decodeObjectMeta(*j);
  (void)v1::jurisdictionOfNamespace(*j);
  return 0;
}

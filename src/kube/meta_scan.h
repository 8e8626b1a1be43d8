#pragma once
// Reading what a caller needs from an API server body's metadata without decoding the body:
// strings, escapes and nesting are respected, nothing else is decoded. A scan returns nullopt
// when it cannot read the body with certainty (not one JSON object, malformed, the field
// missing or unusual): the caller then decodes the whole body, and gets the real error.

#include <optional>
#include <string>
#include <string_view>

namespace keygate::kube {

struct ListMeta {
  std::string continueToken;
  std::string resourceVersion;
};

// The top-level "metadata" of a list body (continue, resourceVersion): listPages asks for
// page k+1 as soon as page k has arrived, and decodes page k meanwhile.
std::optional<ListMeta> scanListMeta(std::string_view body);

// metadata.resourceVersion of an object body (the answer to a PUT), for a caller that keeps
// the object it sent and needs only the server's new version of it.
std::optional<std::string> scanObjectResourceVersion(std::string_view body);

}  // namespace keygate::kube

#pragma once
// Reading a paged list's own metadata without decoding its items: listPages asks for page k+1
// as soon as page k has arrived, and decodes page k meanwhile.

#include <optional>
#include <string>
#include <string_view>

namespace keygate::kube {

struct ListMeta {
  std::string continueToken;
  std::string resourceVersion;
};

// The top-level "metadata" of a list body (continue, resourceVersion), found by skipping the
// other members structurally (strings, escapes and nesting respected; nothing decoded). nullopt
// when the body is not a JSON object, is malformed, or has no readable metadata: the caller
// then decodes the whole body and gets the real error.
std::optional<ListMeta> scanListMeta(std::string_view body);

}  // namespace keygate::kube

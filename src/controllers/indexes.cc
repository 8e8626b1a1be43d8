#include "controllers/indexes.h"

namespace keygate::controllers {

std::vector<std::string> requestsByKey(const Json& request) {
  std::string name = getString(request, "spec.keyRef.name");
  if (name.empty()) return {};
  return {getString(request, "metadata.namespace") + "/" + name};
}

}  // namespace keygate::controllers

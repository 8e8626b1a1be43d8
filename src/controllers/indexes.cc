#include "controllers/indexes.h"

#include "api/v1alpha1/common_types.h"

namespace keygate::controllers {

std::vector<std::string> requestsByKey(const Json& request) {
  std::string name = getString(request, "spec.keyRef.name");
  if (name.empty()) return {};
  return {getString(request, "metadata.namespace") + "/" + name};
}

namespace {
std::string jurisdictionLabel(const Json* ns) {
  if (!ns) return "";
  const Json* labels = findPath(*ns, "metadata.labels");
  if (!labels || !labels->is_object()) return "";
  auto it = labels->find(std::string(api::v1alpha1::kJurisdictionLabel));
  return it != labels->end() && it->is_string() ? it->get<std::string>() : "";
}
}  // namespace

std::vector<std::string> keysForNamespaceChange(const kube::ObjectReader& keys, const Json* before, const Json& after) {
  std::vector<std::string> out;
  if (jurisdictionLabel(before) == jurisdictionLabel(&after)) return out;
  for (const auto& k : keys.listNamespace(getString(after, "metadata.name"))) out.push_back(kube::objectKey(*k));
  return out;
}

}  // namespace keygate::controllers

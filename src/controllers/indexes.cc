#include "controllers/indexes.h"

#include "api/v1alpha1/codec.h"

namespace keygate::controllers {

std::vector<std::string> requestsByKey(const Json& request) {
  std::string name = getString(request, "spec.keyRef.name");
  if (name.empty()) return {};
  return {getString(request, "metadata.namespace") + "/" + name};
}

namespace {
std::string jurisdictionLabel(const Json* ns) { return ns ? api::v1alpha1::jurisdictionOfNamespace(*ns) : ""; }
}  // namespace

std::vector<std::string> keysForNamespaceChange(const kube::ObjectReader& keys, const Json* before, const Json& after) {
  if (jurisdictionLabel(before) == jurisdictionLabel(&after)) return {};
  return keys.keysInNamespace(getString(after, "metadata.name"));
}

kube::EventHandlers keysOnJurisdictionChange(const kube::ObjectReader& keys, std::function<void(const std::string&)> enqueue) {
  return {[&keys, enqueue](const kube::ObjectPtr& n) {
            for (const auto& k : keysForNamespaceChange(keys, nullptr, *n)) enqueue(k);
          },
          [&keys, enqueue](const kube::ObjectPtr& before, const kube::ObjectPtr& after) {
            for (const auto& k : keysForNamespaceChange(keys, before.get(), *after)) enqueue(k);
          },
          nullptr};
}

}  // namespace keygate::controllers

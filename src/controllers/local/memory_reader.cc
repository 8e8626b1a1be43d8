#include "controllers/local/memory_reader.h"

namespace keygate::controllers {

kube::ObjectPtr MemoryReader::get(const std::string& key) const {
  auto slash = key.find('/');
  std::string ns = slash == std::string::npos ? "" : key.substr(0, slash);
  std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  auto r = store_.get(resource_, ns, name);
  return r.ok() ? std::make_shared<const Json>(std::move(*r)) : nullptr;
}

std::vector<kube::ObjectPtr> MemoryReader::list() const {
  std::vector<kube::ObjectPtr> out;
  for (auto& o : store_.objects(resource_)) out.push_back(std::make_shared<const Json>(std::move(o)));
  return out;
}

std::vector<kube::ObjectPtr> MemoryReader::listNamespace(const std::string& ns) const {
  std::vector<kube::ObjectPtr> out;
  for (auto& o : store_.objects(resource_, ns)) out.push_back(std::make_shared<const Json>(std::move(o)));
  return out;
}

std::vector<kube::ObjectPtr> MemoryReader::byIndex(const std::string& indexName, const std::string& value) const {
  std::vector<kube::ObjectPtr> out;
  auto it = indexers_.find(indexName);
  if (it == indexers_.end()) return out;
  for (auto& o : list()) {
    for (const auto& v : it->second(*o))
      if (v == value) {
        out.push_back(o);
        break;
      }
  }
  return out;
}

}  // namespace keygate::controllers

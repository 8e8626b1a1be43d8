#pragma once
// ObjectReader over the in-memory store of `keygate local`: the same read interface the
// informer cache gives the reconcilers in a cluster. Indexes are computed on demand
// (local mode holds a handful of objects).

#include <map>

#include "kube/cache.h"
#include "kube/memory_client.h"

namespace keygate::controllers {

class MemoryReader final : public kube::ObjectReader {
 public:
  MemoryReader(kube::MemoryClient& store, kube::Resource resource) : store_(store), resource_(std::move(resource)) {}
  void addIndexer(const std::string& name, kube::IndexFunc fn) { indexers_[name] = std::move(fn); }

  kube::ObjectPtr get(const std::string& key) const override;
  std::vector<kube::ObjectPtr> list() const override;
  std::vector<kube::ObjectPtr> listNamespace(const std::string& ns) const override;
  std::vector<kube::ObjectPtr> byIndex(const std::string& indexName, const std::string& value) const override;

 private:
  kube::MemoryClient& store_;
  kube::Resource resource_;
  std::map<std::string, kube::IndexFunc> indexers_;
};

}  // namespace keygate::controllers

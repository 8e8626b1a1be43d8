#pragma once
// The configured backends by name (the config's backends[].name), built once at start.

#include <map>
#include <memory>
#include <string>

#include "backends/key_backend.h"

namespace keygate::controllers {

class BackendSet {
 public:
  void add(backends::KeyBackendPtr backend) {
    std::string n = backend->name();
    byName_[n] = std::move(backend);
  }
  backends::KeyBackend* find(const std::string& name) const {
    auto it = byName_.find(name);
    return it == byName_.end() ? nullptr : it->second.get();
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, _] : byName_) out.push_back(n);
    return out;
  }

 private:
  std::map<std::string, backends::KeyBackendPtr> byName_;
};

}  // namespace keygate::controllers

#pragma once
// Builds KeyBackends from the operator config by `type` (cert-manager's RegisterIssuer
// pattern, without a global: the registry is an object main() fills and passes down).

#include <functional>
#include <map>
#include <string>

#include "backends/key_backend.h"
#include "backends/secret_store.h"
#include "common/json.h"
#include "common/result.h"

namespace keygate::backends {

// One entry of the config's `backends:` list; `settings` is the whole entry (name, type
// and the type's own fields such as module/isolation).
struct BackendConfig {
  std::string name;
  std::string type;
  Json settings = Json::object();
};

// What a backend may need from the process. The store outlives every backend.
struct BackendDeps {
  SecretStorePtr secrets;
};

using BackendFactory = std::function<Result<KeyBackendPtr>(const BackendConfig&, const BackendDeps&)>;

class BackendRegistry {
 public:
  // A registry with the built-in types ("pkcs11", "kmip").
  static BackendRegistry withBuiltins();

  // AlreadyExists when the type is registered.
  Status registerType(std::string type, BackendFactory factory);
  bool has(std::string_view type) const { return factories_.count(std::string(type)) > 0; }

  // InvalidArgument "backends[softhsm].type: unknown backend type "x" (known: kmip, pkcs11)" and the
  // factory's own errors, prefixed with the backend name.
  Result<KeyBackendPtr> build(const BackendConfig& config, const BackendDeps& deps) const;

 private:
  std::map<std::string, BackendFactory> factories_;
};

// The "pkcs11" factory: settings.module (required), settings.isolation
// ("tokenPerNamespace", the default and only mode), settings.maxIdleSessionsPerToken.
Result<KeyBackendPtr> buildPkcs11Backend(const BackendConfig& config, const BackendDeps& deps);

// The "kmip" factory: settings.endpoint ("host:port"), settings.tls.caFile (required),
// settings.tls.certFile/keyFile (client certificate). Loads the files now (a bad path is a
// startup error naming the field); connects on first use.
Result<KeyBackendPtr> buildKmipBackend(const BackendConfig& config, const BackendDeps& deps);

}  // namespace keygate::backends

#include "backends/registry.h"

#include "backends/kmip/kmip_backend.h"
#include "backends/pkcs11/pkcs11_backend.h"

namespace keygate::backends {
namespace {

Error fieldError(const BackendConfig& c, const std::string& field, const std::string& msg) {
  return makeError(ErrorCode::kInvalidArgument, "backends[" + c.name + "]." + field + ": " + msg);
}

}  // namespace

BackendRegistry BackendRegistry::withBuiltins() {
  BackendRegistry r;
  (void)r.registerType("pkcs11", buildPkcs11Backend);
  (void)r.registerType("kmip", buildKmipBackend);
  return r;
}

Status BackendRegistry::registerType(std::string type, BackendFactory factory) {
  if (factories_.count(type)) return makeError(ErrorCode::kAlreadyExists, "backend type " + type + " is already registered");
  factories_.emplace(std::move(type), std::move(factory));
  return okStatus();
}

Result<KeyBackendPtr> BackendRegistry::build(const BackendConfig& config, const BackendDeps& deps) const {
  if (validateSecretName(config.name).ok() == false || config.name.find('.') != std::string::npos) {
    return makeError(ErrorCode::kInvalidArgument,
                     "backends[].name: \"" + config.name + "\" must be a DNS label ([a-z0-9-])");
  }
  auto it = factories_.find(config.type);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [t, f] : factories_) known += (known.empty() ? "" : ", ") + t;
    return fieldError(config, "type", "unknown backend type \"" + config.type + "\" (known: " + known + ")");
  }
  Result<KeyBackendPtr> b = it->second(config, deps);
  if (!b.ok()) {
    Error e = b.takeError();
    if (e.message.rfind("backends[", 0) != 0) e.message = "backends[" + config.name + "]: " + e.message;
    return e;
  }
  return b;
}

Result<KeyBackendPtr> buildPkcs11Backend(const BackendConfig& config, const BackendDeps& deps) {
  const Json& s = config.settings;
  const Json* module = s.is_object() && s.contains("module") ? &s["module"] : nullptr;
  if (module == nullptr || !module->is_string() || module->get<std::string>().empty()) {
    return fieldError(config, "module", "required: the path of the PKCS#11 module (.so)");
  }
  std::string isolation = getString(s, "isolation", "tokenPerNamespace");
  if (isolation != "tokenPerNamespace") {
    return fieldError(config, "isolation", "\"" + isolation + "\" is not supported (want tokenPerNamespace)");
  }
  int64_t sessions = getInt(s, "maxIdleSessionsPerToken", 4);
  if (sessions < 1 || sessions > 256) return fieldError(config, "maxIdleSessionsPerToken", "must be 1..256");
  if (!deps.secrets) return fieldError(config, "type", "pkcs11 needs a secret store for token PINs");
  pkcs11::Pkcs11BackendOptions o;
  o.name = config.name;
  o.modulePath = module->get<std::string>();
  o.maxIdleSessionsPerToken = static_cast<size_t>(sessions);
  ASSIGN_OR_RETURN(std::unique_ptr<pkcs11::Pkcs11Backend> b, pkcs11::Pkcs11Backend::open(std::move(o), deps.secrets));
  return KeyBackendPtr(std::move(b));
}

Result<KeyBackendPtr> buildKmipBackend(const BackendConfig& config, const BackendDeps&) {
  const Json& s = config.settings;
  const std::string endpoint = getString(s, "endpoint", "");
  const size_t colon = endpoint.rfind(':');
  kmip::TlsOptions tls;
  if (colon == std::string::npos || colon == 0) return fieldError(config, "endpoint", "required: host:port of the KMIP server");
  tls.host = endpoint.substr(0, colon);
  if (tls.host.size() > 2 && tls.host.front() == '[' && tls.host.back() == ']') tls.host = tls.host.substr(1, tls.host.size() - 2);
  const std::string port = endpoint.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
      std::stoi(port) > 65535)
    return fieldError(config, "endpoint", "port of \"" + endpoint + "\" must be 1..65535");
  tls.port = std::stoi(port);
  const Json t = s.is_object() && s.contains("tls") ? s["tls"] : Json::object();
  tls.caFile = getString(t, "caFile", "");
  tls.certFile = getString(t, "certFile", "");
  tls.keyFile = getString(t, "keyFile", "");
  auto connector = kmip::tlsConnector(tls);
  if (!connector.ok()) return fieldError(config, "tls", connector.error().message);
  kmip::KmipBackendOptions o;
  o.name = config.name;
  return KeyBackendPtr(std::make_unique<kmip::KmipBackend>(std::make_unique<kmip::KmipClient>(std::move(*connector)), o));
}

}  // namespace keygate::backends

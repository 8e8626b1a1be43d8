#include "backends/split_secret_store.h"

namespace keygate::backends {

SecretStore& SplitSecretStore::storeFor(SecretKind kind) {
  switch (kind) {
    case SecretKind::kApprovalSigning: return *signing_;
    case SecretKind::kUserPin: return *user_;
    case SecretKind::kSoPin: return *so_;
  }
  return *so_;
}

Result<SecretStore*> SplitSecretStore::route(std::string_view name) {
  RETURN_IF_ERROR(validateSecretName(name));
  ASSIGN_OR_RETURN(SecretKind kind, secretKindOf(name));
  return &storeFor(kind);
}

Result<std::optional<SecretValue>> SplitSecretStore::get(std::string_view name) {
  ASSIGN_OR_RETURN(SecretStore * s, route(name));
  return s->get(name);
}

Status SplitSecretStore::put(std::string_view name, const SecretValue& value) {
  ASSIGN_OR_RETURN(SecretStore * s, route(name));
  return s->put(name, value);
}

Result<SecretValue> SplitSecretStore::putIfAbsent(std::string_view name, const SecretValue& value) {
  ASSIGN_OR_RETURN(SecretStore * s, route(name));
  return s->putIfAbsent(name, value);
}

Result<bool> SplitSecretStore::replace(std::string_view name, const SecretValue& expected, const SecretValue& next) {
  ASSIGN_OR_RETURN(SecretStore * s, route(name));
  return s->replace(name, expected, next);
}

}  // namespace keygate::backends

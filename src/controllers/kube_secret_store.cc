#include "controllers/kube_secret_store.h"

#include "kube/resource.h"

namespace keygate::controllers {

Result<std::optional<backends::SecretValue>> KubeSecretStore::get(std::string_view name) {
  RETURN_IF_ERROR(backends::validateSecretName(name));
  auto s = client_->get(kube::resources::secrets(), ns_, name_);
  if (!s.ok()) {
    if (s.error().code == ErrorCode::kNotFound) return std::optional<backends::SecretValue>();
    return makeError(s.error().code, "secret " + ns_ + "/" + name_ + ": " + s.error().message);
  }
  return valueIn(*s, name);
}

Result<std::optional<backends::SecretValue>> KubeSecretStore::valueIn(const Json& secret, std::string_view name) const {
  const Json* v = findPath(secret, "data");
  if (!v || !v->is_object() || !v->contains(std::string(name))) return std::optional<backends::SecretValue>();
  const Json& enc = (*v)[std::string(name)];
  if (!enc.is_string()) return makeError(ErrorCode::kInternal, "secret " + ns_ + "/" + name_ + ": data is not a string");
  ASSIGN_OR_RETURN(std::string plain, base64Decode(enc.get<std::string>()));
  return std::optional<backends::SecretValue>(backends::SecretValue(std::move(plain)));
}

Status KubeSecretStore::put(std::string_view name, const backends::SecretValue& value) {
  RETURN_IF_ERROR(backends::validateSecretName(name));
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto s = client_->get(kube::resources::secrets(), ns_, name_);
    if (!s.ok() && s.error().code != ErrorCode::kNotFound) return s.takeError();
    if (!s.ok()) {
      Json secret = {{"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata", {{"name", name_}, {"labels", {{"app.kubernetes.io/managed-by", "keygate"}}}}},
                     {"type", "Opaque"},
                     {"data", {{std::string(name), base64Encode(value.value())}}}};
      auto c = client_->create(kube::resources::secrets(), ns_, secret);
      if (c.ok()) return okStatus();
      if (c.error().code == ErrorCode::kAlreadyExists) continue;
      return c.takeError();
    }
    Json next = *s;
    next["data"][std::string(name)] = base64Encode(value.value());
    auto u = client_->update(kube::resources::secrets(), ns_, next);
    if (u.ok()) return okStatus();
    if (u.error().code != ErrorCode::kConflict) return u.takeError();
  }
  return makeError(ErrorCode::kConflict, "secret " + ns_ + "/" + name_ + ": too many concurrent updates");
}

Result<backends::SecretValue> KubeSecretStore::putIfAbsent(std::string_view name, const backends::SecretValue& value) {
  RETURN_IF_ERROR(backends::validateSecretName(name));
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key(name);
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto s = client_->get(kube::resources::secrets(), ns_, name_);
    if (!s.ok() && s.error().code != ErrorCode::kNotFound)
      return makeError(s.error().code, "secret " + ns_ + "/" + name_ + ": " + s.error().message);
    if (!s.ok()) {
      Json secret = {{"apiVersion", "v1"},
                     {"kind", "Secret"},
                     {"metadata", {{"name", name_}, {"labels", {{"app.kubernetes.io/managed-by", "keygate"}}}}},
                     {"type", "Opaque"},
                     {"data", {{key, base64Encode(value.value())}}}};
      auto c = client_->create(kube::resources::secrets(), ns_, secret);
      if (c.ok()) return value;
      if (c.error().code == ErrorCode::kAlreadyExists) continue;  // another replica made it: look again
      return c.takeError();
    }
    ASSIGN_OR_RETURN(std::optional<backends::SecretValue> stored, valueIn(*s, key));
    if (stored) return std::move(*stored);
    Json next = *s;  // carries metadata.resourceVersion: a concurrent writer makes this a 409
    next["data"][key] = base64Encode(value.value());
    auto u = client_->update(kube::resources::secrets(), ns_, next);
    if (u.ok()) return value;
    if (u.error().code != ErrorCode::kConflict) return u.takeError();
  }
  return makeError(ErrorCode::kConflict, "secret " + ns_ + "/" + name_ + ": too many concurrent updates");
}

Result<bool> KubeSecretStore::replace(std::string_view name, const backends::SecretValue& expected,
                                      const backends::SecretValue& next) {
  RETURN_IF_ERROR(backends::validateSecretName(name));
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key(name);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto s = client_->get(kube::resources::secrets(), ns_, name_);
    if (!s.ok()) return makeError(s.error().code, "secret " + ns_ + "/" + name_ + ": " + s.error().message);
    ASSIGN_OR_RETURN(std::optional<backends::SecretValue> stored, valueIn(*s, key));
    if (!stored) return makeError(ErrorCode::kNotFound, "secret " + ns_ + "/" + name_ + " has no " + key);
    if (!(*stored == expected)) return false;
    Json updated = *s;  // its resourceVersion makes a concurrent change a 409
    updated["data"][key] = base64Encode(next.value());
    auto u = client_->update(kube::resources::secrets(), ns_, updated);
    if (u.ok()) return true;
    if (u.error().code != ErrorCode::kConflict) return u.takeError();
  }
  return makeError(ErrorCode::kConflict, "secret " + ns_ + "/" + name_ + ": too many concurrent updates");
}

}  // namespace keygate::controllers

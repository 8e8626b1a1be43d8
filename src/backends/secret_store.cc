#include "backends/secret_store.h"

#include <openssl/crypto.h>

namespace keygate::backends {

void secureWipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

SecretValue& SecretValue::operator=(const SecretValue& o) {
  if (this != &o) {
    secureWipe(value_);
    value_ = o.value_;
  }
  return *this;
}

SecretValue::SecretValue(SecretValue&& o) noexcept : value_(o.value_) { secureWipe(o.value_); }

SecretValue& SecretValue::operator=(SecretValue&& o) noexcept {
  if (this != &o) {
    secureWipe(value_);
    value_ = o.value_;
    secureWipe(o.value_);
  }
  return *this;
}

SecretValue::~SecretValue() { secureWipe(value_); }

Status validateSecretName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 253;
  for (size_t i = 0; ok && i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    ok = alnum || (i > 0 && (c == '.' || c == '-'));
  }
  if (ok) return okStatus();
  return makeError(ErrorCode::kInvalidArgument,
                   "secret name \"" + std::string(name) + "\" must match [a-z0-9][a-z0-9.-]{0,252}");
}

Result<std::optional<SecretValue>> MemorySecretStore::get(std::string_view name) {
  RETURN_IF_ERROR(validateSecretName(name));
  std::lock_guard<std::mutex> l(mu_);
  auto it = secrets_.find(name);
  if (it == secrets_.end()) return std::optional<SecretValue>();
  return std::optional<SecretValue>(it->second);
}

Status MemorySecretStore::put(std::string_view name, const SecretValue& value) {
  RETURN_IF_ERROR(validateSecretName(name));
  std::lock_guard<std::mutex> l(mu_);
  secrets_[std::string(name)] = value;
  return okStatus();
}

Result<SecretValue> MemorySecretStore::putIfAbsent(std::string_view name, const SecretValue& value) {
  RETURN_IF_ERROR(validateSecretName(name));
  std::lock_guard<std::mutex> l(mu_);
  return secrets_.emplace(std::string(name), value).first->second;
}

Result<bool> MemorySecretStore::replace(std::string_view name, const SecretValue& expected, const SecretValue& next) {
  RETURN_IF_ERROR(validateSecretName(name));
  std::lock_guard<std::mutex> l(mu_);
  auto it = secrets_.find(name);
  if (it == secrets_.end()) return makeError(ErrorCode::kNotFound, "no secret " + std::string(name));
  if (!(it->second == expected)) return false;
  it->second = next;
  return true;
}

Result<SecretKind> secretKindOf(std::string_view name) {
  auto endsWith = [name](std::string_view suffix) {
    return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (name == "approval-signing-key" || name == "approval-signing-keys") return SecretKind::kApprovalSigning;
  if (endsWith(".user-pin")) return SecretKind::kUserPin;
  if (endsWith(".so-pin")) return SecretKind::kSoPin;
  return makeError(ErrorCode::kInvalidArgument, "secret \"" + std::string(name) + "\" is of no known kind");
}

}  // namespace keygate::backends

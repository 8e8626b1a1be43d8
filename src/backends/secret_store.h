#pragma once
// SecretStore: small named secrets the operator keeps for itself (token PINs). In a
// cluster a Kubernetes Secret in the operator's namespace (arrives with the controllers);
// in local mode and tests 0600 files under a state dir (FileSecretStore) or memory.
// Never a tenant namespace: tenants must not hold HSM credentials.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keygate::backends {

// Bytes that are wiped from memory when destroyed. Never log value().
class SecretValue {
 public:
  SecretValue() = default;
  explicit SecretValue(std::string value) : value_(std::move(value)) {}
  SecretValue(const SecretValue& o) : value_(o.value_) {}
  SecretValue& operator=(const SecretValue& o);
  SecretValue(SecretValue&& o) noexcept;
  SecretValue& operator=(SecretValue&& o) noexcept;
  ~SecretValue();
  const std::string& value() const { return value_; }
  bool empty() const { return value_.empty(); }
  bool operator==(const SecretValue& o) const { return value_ == o.value_; }

 private:
  std::string value_;
};

// Overwrites the bytes (not optimised away).
void secureWipe(std::string& s);

// Names are [a-z0-9][a-z0-9.-]{0,252}: they become file names or Secret keys.
Status validateSecretName(std::string_view name);

// What a secret is for, from its name; each kind is kept apart (its own Kubernetes Secret,
// readable under its own RBAC rule), so reading one never hands out another:
//   kApprovalSigning  "approval-signing-key" (before rotation) and "approval-signing-keys"
//   kUserPin          "<backend>.<namespace>.user-pin": logs in to a tenant token (every use)
//   kSoPin            "<backend>.<namespace>.so-pin": C_InitToken and C_InitPIN only (token
//                     creation, finishing an interrupted one, resetting a lost user PIN)
enum class SecretKind { kApprovalSigning, kUserPin, kSoPin };
// InvalidArgument for a name of no known kind.
Result<SecretKind> secretKindOf(std::string_view name);

class SecretStore {
 public:
  virtual ~SecretStore() = default;
  // nullopt when no secret has that name; an Error only when the store itself fails
  // (unreadable file, API error) — callers must then not assume the secret is absent.
  virtual Result<std::optional<SecretValue>> get(std::string_view name) = 0;
  // Creates or replaces the secret atomically: a reader sees the old or the new value.
  virtual Status put(std::string_view name, const SecretValue& value) = 0;
  // Stores `value` only if `name` has no value yet, and returns the value stored after the
  // call: `value`, or the one another writer (another replica) stored first. Never overwrites,
  // so two writers racing to create a secret end up agreeing on one.
  virtual Result<SecretValue> putIfAbsent(std::string_view name, const SecretValue& value) = 0;
  // Compare-and-swap: stores `next` only if the stored value is still `expected`; false when
  // another writer changed it first (read again and retry), NotFound when there is no value.
  virtual Result<bool> replace(std::string_view name, const SecretValue& expected, const SecretValue& next) = 0;
};

using SecretStorePtr = std::shared_ptr<SecretStore>;

// For tests and `keygate local` without persistence. Thread-safe.
class MemorySecretStore final : public SecretStore {
 public:
  Result<std::optional<SecretValue>> get(std::string_view name) override;
  Status put(std::string_view name, const SecretValue& value) override;
  Result<SecretValue> putIfAbsent(std::string_view name, const SecretValue& value) override;
  Result<bool> replace(std::string_view name, const SecretValue& expected, const SecretValue& next) override;

 private:
  std::mutex mu_;
  std::map<std::string, SecretValue, std::less<>> secrets_;
};

}  // namespace keygate::backends

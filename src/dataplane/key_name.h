#pragma once
// Key names of the crypto API: "NAMESPACE/NAME", or "NAMESPACE/NAME@VERSION" where a call
// may name one version (Decrypt, Verify, VerifyMac, GetPublicKey).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keygate::dataplane {

struct KeyName {
  std::string ns;
  std::string name;
  int64_t version = 0;  // 0 = not named (the current version, or the ciphertext's)

  std::string key() const { return ns + "/" + name; }                              // "ns/name"
  std::string withVersion(int64_t v) const { return key() + "@" + std::to_string(v); }  // "ns/name@v"
};

// InvalidArgument with the rule broken: namespace a DNS label, name a DNS subdomain,
// version a positive integer, "@VERSION" only when allowVersion.
Result<KeyName> parseKeyName(std::string_view text, bool allowVersion);

// The stable id of one key version (the API's key_version_id): 32 lower-case hex digits of
// SHA-256("keygate.dev/key-version\0" UID "@" VERSION). Never reused (uids are not), not secret.
std::string keyVersionId(std::string_view keyUid, int64_t version);

}  // namespace keygate::dataplane

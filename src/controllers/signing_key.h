#pragma once
// The approval-signing key (HMAC over each approval, api/v1alpha1/approval_signing.h): read
// from the operator's secret store, or generated and stored on first start. Replicas starting
// together agree on one key: it is stored with putIfAbsent, and a replica that loses the race
// uses the winner's key instead of overwriting it (approvals signed by one replica then verify
// on every other).

#include <string>

#include "backends/secret_store.h"
#include "common/result.h"

namespace keygate::controllers {

inline constexpr const char* kSigningKeySecret = "approval-signing-key";

struct SigningKey {
  std::string key;
  bool generatedHere = false;  // this call generated the stored key
};

Result<SigningKey> loadOrCreateSigningKey(backends::SecretStore& store);

}  // namespace keygate::controllers

#include "api/v1alpha1/common_types.h"

#include "api/v1alpha1/encryption_key.h"

namespace keygate::api::v1alpha1 {

const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const auto& c : conditions)
    if (c.type == type) return &c;
  return nullptr;
}

bool conditionIsTrue(const std::vector<Condition>& conditions, std::string_view type) {
  const Condition* c = findCondition(conditions, type);
  return c && c->status == "True";
}

void setCondition(std::vector<Condition>& conditions, std::string_view type, bool status, std::string_view reason,
                  std::string_view message, int64_t observedGeneration, WallTime now) {
  const std::string statusText = status ? "True" : "False";
  for (auto& c : conditions) {
    if (c.type != type) continue;
    if (c.status != statusText) {
      c.status = statusText;
      c.lastTransitionTime = now;
    }
    c.reason = std::string(reason);
    c.message = std::string(message);
    c.observedGeneration = observedGeneration;
    return;
  }
  conditions.push_back(Condition{std::string(type), statusText, std::string(reason), std::string(message),
                                 observedGeneration, now});
}

bool algorithmServesPurpose(Algorithm a, Purpose p) {
  const bool aes = a == Algorithm::kAes256;
  const bool rsa = a == Algorithm::kRsa3072 || a == Algorithm::kRsa4096;
  const bool ec = a == Algorithm::kEcP256 || a == Algorithm::kEcP384;
  const bool hmac = a == Algorithm::kHmacSha256;
  switch (p) {
    case Purpose::kEncrypt:
    case Purpose::kWrap: return aes || rsa;
    case Purpose::kSign: return rsa || ec;
    case Purpose::kMAC: return hmac;
    case Purpose::kUnspecified: return false;
  }
  return false;
}

const KeyVersionStatus* EncryptionKeyStatus::findVersion(int64_t v) const {
  for (const auto& kv : versions)
    if (kv.version == v) return &kv;
  return nullptr;
}

KeyVersionStatus* EncryptionKeyStatus::findVersion(int64_t v) {
  for (auto& kv : versions)
    if (kv.version == v) return &kv;
  return nullptr;
}

void setProgressConditions(std::vector<Condition>& conditions, Progress progress, std::string_view reason,
                           std::string_view message, int64_t observedGeneration, WallTime now) {
  const bool reconciling = progress == Progress::kReconciling, stalled = progress == Progress::kStalled;
  setCondition(conditions, "Reconciling", reconciling, reconciling ? reason : "Settled",
               reconciling ? message : "nothing pending", observedGeneration, now);
  setCondition(conditions, "Stalled", stalled, stalled ? reason : "NotStalled",
               stalled ? message : "no failure that needs a person", observedGeneration, now);
}

}  // namespace keygate::api::v1alpha1

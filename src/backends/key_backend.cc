#include "backends/key_backend.h"

#include <array>
#include <utility>

namespace keygate::backends {
namespace {

constexpr std::array<std::pair<Purpose, const char*>, 4> kPurposes{{
    {Purpose::kEncrypt, "Encrypt"},
    {Purpose::kSign, "Sign"},
    {Purpose::kWrap, "Wrap"},
    {Purpose::kMac, "MAC"},
}};

constexpr std::array<std::pair<Algorithm, const char*>, 6> kAlgorithms{{
    {Algorithm::kAes256, "AES-256"},
    {Algorithm::kRsa3072, "RSA-3072"},
    {Algorithm::kRsa4096, "RSA-4096"},
    {Algorithm::kEcP256, "EC-P256"},
    {Algorithm::kEcP384, "EC-P384"},
    {Algorithm::kHmacSha256, "HMAC-SHA256"},
}};

bool isDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

bool isUid(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

}  // namespace

const char* purposeName(Purpose p) {
  for (const auto& [v, n] : kPurposes) {
    if (v == p) return n;
  }
  return "Unknown";
}

const char* algorithmName(Algorithm a) {
  for (const auto& [v, n] : kAlgorithms) {
    if (v == a) return n;
  }
  return "Unknown";
}

Result<Purpose> parsePurpose(std::string_view s) {
  for (const auto& [v, n] : kPurposes) {
    if (s == n) return v;
  }
  return makeError(ErrorCode::kInvalidArgument,
                   "unknown purpose \"" + std::string(s) + "\" (want Encrypt, Sign, Wrap or MAC)");
}

Result<Algorithm> parseAlgorithm(std::string_view s) {
  for (const auto& [v, n] : kAlgorithms) {
    if (s == n) return v;
  }
  return makeError(ErrorCode::kInvalidArgument,
                   "unknown algorithm \"" + std::string(s) +
                       "\" (want AES-256, RSA-3072, RSA-4096, EC-P256, EC-P384 or HMAC-SHA256)");
}

bool algorithmFitsPurpose(Algorithm a, Purpose p) {
  const bool aes = a == Algorithm::kAes256;
  const bool rsa = a == Algorithm::kRsa3072 || a == Algorithm::kRsa4096;
  const bool ec = a == Algorithm::kEcP256 || a == Algorithm::kEcP384;
  switch (p) {
    case Purpose::kEncrypt: return aes || rsa;
    case Purpose::kSign: return rsa || ec;
    case Purpose::kWrap: return aes || rsa;
    case Purpose::kMac: return a == Algorithm::kHmacSha256;
  }
  return false;
}

Status checkAlgorithmFitsPurpose(Algorithm a, Purpose p) {
  if (algorithmFitsPurpose(a, p)) return okStatus();
  return makeError(ErrorCode::kInvalidArgument,
                   std::string(algorithmName(a)) + " cannot serve purpose " + purposeName(p));
}

std::string KeyRef::backendKeyId() const {
  return "keygate/" + tenantNamespace + "/" + keyUid + "/v" + std::to_string(version);
}

Status KeyRef::validate() const {
  if (!isDnsLabel(tenantNamespace)) {
    return makeError(ErrorCode::kInvalidArgument,
                     "tenant namespace \"" + tenantNamespace + "\" is not a DNS label");
  }
  if (!isUid(keyUid)) {
    return makeError(ErrorCode::kInvalidArgument, "key uid \"" + keyUid + "\" is not a Kubernetes uid");
  }
  if (version < 1) {
    return makeError(ErrorCode::kInvalidArgument, "key version " + std::to_string(version) + " is not >= 1");
  }
  return okStatus();
}

const char* usageStateName(UsageState s) {
  switch (s) {
    case UsageState::kNone: return "None";
    case UsageState::kFull: return "Full";
    case UsageState::kProcessOnly: return "ProcessOnly";
  }
  return "Unknown";
}

const char* backendKeyStateName(BackendKeyState s) {
  switch (s) {
    case BackendKeyState::kAbsent: return "Absent";
    case BackendKeyState::kNoUsage: return "NoUsage";
    case BackendKeyState::kActive: return "Active";
    case BackendKeyState::kDeactivated: return "Deactivated";
    case BackendKeyState::kDrifted: return "Drifted";
  }
  return "Unknown";
}

bool ObjectDescription::attribute(std::string_view name, bool fallback) const {
  for (const auto& [n, v] : attributes) {
    if (n == name) return v;
  }
  return fallback;
}

}  // namespace keygate::backends

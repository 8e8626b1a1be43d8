#include "api/v1alpha1/approval_signing.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/json.h"

namespace keygate::api::v1alpha1 {
namespace av1 = keygate::api::v1alpha1;

namespace {

std::string dumpCanonical(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 0xf]);
  }
  return out;
}

void secureWipeString(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::string hmacSha256(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), mac, &len))
    return "";
  return std::string(reinterpret_cast<const char*>(mac), len);
}

}  // namespace

Result<std::string> generateSigningKey() {
  std::string key(kSigningKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
    return makeError(ErrorCode::kInternal, "RAND_bytes failed: cannot generate the approval-signing key");
  return key;
}

std::string canonicalSpecJson(const av1::KeyActivationRequestSpec& r, const av1::EncryptionKeySpec& k) {
  // nlohmann::json objects are std::map: keys come out sorted bytewise.
  Json key = Json::object();
  key["algorithm"] = std::string(av1::toString(k.algorithm));
  key["backend"] = k.backend;
  key["origin"] = k.origin == av1::Origin::kUnspecified ? std::string("Generated") : std::string(av1::toString(k.origin));
  key["purpose"] = std::string(av1::toString(k.purpose));
  Json req = Json::object();
  req["affectedSystems"] = Json::array();
  for (const auto& s : r.affectedSystems) req["affectedSystems"].push_back(s);
  req["changeReference"] = r.changeReference;
  req["keyRef"] = {{"name", r.keyRef.name}, {"namespace", r.keyRef.namespace_}, {"version", r.keyRef.version}};
  req["reason"] = r.reason;
  req["requester"] = r.requester;
  Json doc = Json::object();
  doc["key"] = std::move(key);
  doc["request"] = std::move(req);
  doc["v"] = 1;
  return dumpCanonical(doc);
}

std::string computeSpecHash(const av1::KeyActivationRequestSpec& request, const av1::EncryptionKeySpec& key) {
  std::string canon = canonicalSpecJson(request, key);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canon.data()), canon.size(), digest);
  return std::string(kSpecHashPrefix) + hex(digest, sizeof digest);
}

std::string signaturePayload(const SignedFields& f) {
  if (f.approverGroups.empty())
    return dumpCanonical(
        Json::array({"keygate.dev/approval/v1", f.requestUid, f.keyUid, f.specHash, f.approver, f.decision, f.time}));
  return dumpCanonical(Json::array({"keygate.dev/approval/v2", f.requestUid, f.keyUid, f.specHash, f.approver, f.decision,
                                    f.time, Json(f.approverGroups)}));
}

const SigningKeyEntry* signingKeyAt(const std::vector<SigningKeyEntry>& keys, WallTime now, Duration propagation) {
  const SigningKeyEntry* newestSettled = nullptr;
  const SigningKeyEntry* oldest = nullptr;
  for (const auto& k : keys) {
    if (k.retired || k.key.empty()) continue;
    if (!oldest || k.created < oldest->created) oldest = &k;
    // Ties go to the later entry: keys are appended as they are added.
    if (k.created + propagation <= now && (!newestSettled || k.created >= newestSettled->created)) newestSettled = &k;
  }
  return newestSettled ? newestSettled : oldest;
}

void SigningKeyring::set(std::vector<SigningKeyEntry> keys) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& k : keys_) secureWipeString(k.key);
  keys_ = std::move(keys);
}

std::vector<SigningKeyEntry> SigningKeyring::keys() const {
  std::lock_guard<std::mutex> l(mu_);
  return keys_;
}

std::optional<SigningKeyEntry> SigningKeyring::signingKey() const {
  std::lock_guard<std::mutex> l(mu_);
  const SigningKeyEntry* k = signingKeyAt(keys_, clock_.now(), propagation_);
  if (!k) return std::nullopt;
  return *k;
}

std::optional<std::string> SigningKeyring::verifyingKey(std::string_view id) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& k : keys_) {
    if (k.retired || k.key.empty()) continue;
    if (id.empty() ? k.unversioned : k.id == id) return k.key;
  }
  return std::nullopt;
}

ApprovalSigner::ApprovalSigner(std::string key) {
  auto ring = std::make_shared<SigningKeyring>();
  if (!key.empty()) ring->set({SigningKeyEntry{"", std::move(key), WallTime{}, std::nullopt, true}});
  ring_ = std::move(ring);
}

std::string ApprovalSigner::sign(const SignedFields& fields) const {
  if (!ring_) return "";
  std::optional<SigningKeyEntry> k = ring_->signingKey();
  if (!k) return "";
  std::string mac = hmacSha256(k->key, signaturePayload(fields));
  secureWipeString(k->key);
  if (mac.empty()) return "";
  return std::string(kSignaturePrefix) + (k->id.empty() ? "" : k->id + ":") + base64Encode(mac);
}

bool ApprovalSigner::verify(const SignedFields& fields, std::string_view signature) const {
  if (!ring_ || signature.substr(0, kSignaturePrefix.size()) != kSignaturePrefix) return false;
  std::string_view rest = signature.substr(kSignaturePrefix.size());
  std::string_view id;
  if (size_t colon = rest.find(':'); colon != std::string_view::npos) {
    id = rest.substr(0, colon);
    rest = rest.substr(colon + 1);
    if (id.empty()) return false;  // "hmac-sha256::..." names no key
  }
  std::optional<std::string> key = ring_->verifyingKey(id);
  if (!key) return false;
  auto got = base64Decode(rest);
  std::string want = got.ok() ? hmacSha256(*key, signaturePayload(fields)) : "";
  secureWipeString(*key);
  if (want.empty() || got->size() != want.size()) return false;
  return CRYPTO_memcmp(got->data(), want.data(), want.size()) == 0;
}

std::string_view describe(ApprovalCheck check) {
  switch (check) {
    case ApprovalCheck::kValid: return "valid";
    case ApprovalCheck::kUnsigned: return "not signed";
    case ApprovalCheck::kStaleSpecHash: return "spec changed after approval";
    case ApprovalCheck::kSignatureMismatch: return "signature mismatch";
  }
  return "unknown";
}

ApprovalCheck checkApproval(const ApprovalSigner& signer, const av1::KeyActivationRequest& request,
                            const av1::EncryptionKey& key, const av1::Approval& approval) {
  if (approval.signature.empty() || approval.specHash.empty()) return ApprovalCheck::kUnsigned;
  SignedFields f{request.metadata.uid,  key.metadata.uid,
                 approval.specHash,     approval.approver,
                 std::string(av1::toString(approval.decision)), approval.time, approval.approverGroups};
  // The signature first: a forged entry is reported as such even if its hash is also stale.
  if (!signer.verify(f, approval.signature)) return ApprovalCheck::kSignatureMismatch;
  if (approval.specHash != computeSpecHash(request.spec, key.spec)) return ApprovalCheck::kStaleSpecHash;
  return ApprovalCheck::kValid;
}

std::string base64Encode(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64Decode(std::string_view text) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return makeError(ErrorCode::kInvalidArgument, "base64: length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    int v[4];
    for (int k = 0; k < 4 - pad; ++k) {
      v[k] = val(text[i + k]);
      if (v[k] < 0) return makeError(ErrorCode::kInvalidArgument, "base64: invalid character");
    }
    for (int k = 4 - pad; k < 4; ++k) v[k] = 0;
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += char((n >> 16) & 0xff);
    if (pad < 2) out += char((n >> 8) & 0xff);
    if (pad < 1) out += char(n & 0xff);
  }
  return out;
}

}  // namespace keygate::api::v1alpha1

#include "kms/plugin.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/grpc_codes.h"
#include "common/log.h"

namespace keygate::kms {
namespace {

const log::Logger& logger() {
  static const log::Logger l("kms.plugin");
  return l;
}

// Errors that say the key or the plugin's access to it is broken (not the request): the
// prober looks at once rather than at its next tick.
bool pointsAtHealth(ErrorCode c) {
  switch (c) {
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kNotFound:
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

Error upstreamError(const Error& e, const std::string& what) {
  Error out(e.code, what + " through the Keygate crypto API: " + std::string(grpcCodeName(e.code)) + ": " + e.message);
  out.reason = e.reason;
  return out;
}

bool validKeyName(const std::string& key) {
  auto slash = key.find('/');
  return slash != std::string::npos && slash > 0 && slash + 1 < key.size() && key.find('/', slash + 1) == std::string::npos &&
         key.find('@') == std::string::npos;
}

}  // namespace

Plugin::Plugin(PluginOptions options, Upstream upstream, PluginObserver observer, const Clock& clock)
    : options_(std::move(options)), upstream_(std::move(upstream)), observer_(std::move(observer)), clock_(clock) {}

Plugin::~Plugin() { stop(); }

Status Plugin::validate(const PluginOptions& o) {
  if (!validKeyName(o.key))
    return makeError(ErrorCode::kInvalidArgument,
                     "--key must name one EncryptionKey as NAMESPACE/NAME (no @VERSION: the plugin always encrypts with "
                     "the current Active version), got \"" + o.key + "\"");
  if (o.healthTtl.count() <= 0 || o.probeInterval.count() <= 0 || o.retryInterval.count() <= 0)
    return makeError(ErrorCode::kInvalidArgument, "health TTL and probe intervals must be positive");
  if (o.probeInterval > o.healthTtl)
    return makeError(ErrorCode::kInvalidArgument, "the probe interval (" + std::to_string(o.probeInterval.count()) +
                                                      "s) must not exceed the health TTL (" +
                                                      std::to_string(o.healthTtl.count()) +
                                                      "s), or health would lapse between probes");
  return okStatus();
}

void Plugin::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (prober_.joinable()) return;
  stopping_ = false;
  prober_ = std::thread([this] { proberLoop(); });
}

void Plugin::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (prober_.joinable()) prober_.join();
}

void Plugin::proberLoop() {
  SteadyTime lastProbe{};
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return;
      if (lastProbe != SteadyTime{}) {
        auto every = healthy_ ? options_.probeInterval : options_.retryInterval;
        auto next = lastProbe + std::chrono::duration_cast<Duration>(every);
        // A wake-up from a failed call probes early, but never more than once a second.
        auto earliest = lastProbe + std::chrono::seconds(1);
        wake_.wait_until(lock, std::chrono::steady_clock::time_point(next), [&] { return stopping_ || probeNow_; });
        if (stopping_) return;
        if (probeNow_ && std::chrono::steady_clock::now() < earliest) {
          wake_.wait_until(lock, earliest, [&] { return stopping_; });
          if (stopping_) return;
        }
        probeNow_ = false;
      }
    }
    lastProbe = std::chrono::steady_clock::now();
    (void)probe();
  }
}

Status Plugin::probe() {
  std::lock_guard<std::mutex> serial(probeMu_);
  std::string seed(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), static_cast<int>(seed.size())) != 1) {
    Error e(ErrorCode::kInternal, "no random bytes from OpenSSL for the health probe");
    failed(e, "health probe");
    return e;
  }
  v1::EncryptRequest er;
  er.set_key(options_.key);
  er.set_plaintext(seed);
  er.set_aad(kAad);
  auto enc = upstream_.encrypt(er);
  wipe(*er.mutable_plaintext());
  if (!enc.ok()) {
    wipe(seed);
    Error e = upstreamError(enc.error(), "health probe: encrypt with " + options_.key);
    failed(e, "health probe");
    return e;
  }
  v1::DecryptRequest dr;
  dr.set_key(enc->key_version());
  dr.set_ciphertext(enc->ciphertext());
  dr.set_aad(kAad);
  auto dec = upstream_.decrypt(dr);
  if (!dec.ok()) {
    wipe(seed);
    Error e = upstreamError(dec.error(), "health probe: decrypt with " + enc->key_version());
    failed(e, "health probe");
    return e;
  }
  bool same = dec->plaintext() == seed;
  wipe(seed);
  wipe(*dec->mutable_plaintext());
  if (!same) {
    Error e(ErrorCode::kInternal, "health probe: decrypt with " + enc->key_version() + " did not give back what was encrypted");
    failed(e, "health probe");
    return e;
  }
  if (enc->key_version_id().empty()) {
    Error e(ErrorCode::kFailedPrecondition,
            "health probe: the crypto API returned no key_version_id (a Keygate server older than the KMS plugin?)");
    failed(e, "health probe");
    return e;
  }
  succeeded(enc->key_version_id(), enc->key_version());
  return okStatus();
}

void Plugin::succeeded(const std::string& keyId, const std::string& version) {
  bool changedHealth = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lastSuccess_ = clock_.steadyNow();
    changedHealth = !healthy_;
    healthy_ = true;
    reason_.clear();
  }
  learn(keyId, version);
  if (observer_.passed) observer_.passed();
  if (changedHealth) {
    logger().info("healthy", {{"key", options_.key}, {"keyId", keyId}, {"version", version}});
    if (observer_.health) observer_.health(true, "", keyId);
  }
}

void Plugin::failed(const Error& e, const std::string& what) {
  bool changedHealth = false;
  std::string keyId;
  {
    std::lock_guard<std::mutex> lock(mu_);
    changedHealth = healthy_ || reason_ != e.message;
    healthy_ = false;
    reason_ = e.message;
    keyId = keyId_;
  }
  if (changedHealth) {
    logger().warn("unhealthy", {{"key", options_.key}, {"check", what}, {"error", e.message}});
    if (observer_.health) observer_.health(false, e.message, keyId);
  }
}

// A passed round trip names the current Active version: Status's key_id. Only probes move it
// (one at a time, under probeMu_), so an Encrypt that raced a rotation can never move it back;
// the observer is told under probeMu_ too, so metrics follow in the same order.
void Plugin::learn(const std::string& keyId, const std::string& version) {
  std::string from;
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    known_[keyId] = version;
    if (keyId_ != keyId) {
      from = keyId_;
      keyId_ = keyId;
      keyVersion_ = version;
      changed = true;
    }
  }
  if (changed) {
    logger().info("key_id changed", {{"key", options_.key}, {"from", from}, {"to", keyId}, {"version", version}});
    if (observer_.keyIdChanged) observer_.keyIdChanged(from, keyId, version);
  }
}

bool Plugin::healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return healthy_ && clock_.steadyNow() - lastSuccess_ <= options_.healthTtl;
}

std::string Plugin::keyId() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keyId_;
}

v2::StatusResponse Plugin::status() const {
  v2::StatusResponse r;
  r.set_version("v2");
  std::lock_guard<std::mutex> lock(mu_);
  r.set_key_id(keyId_);
  if (!healthy_) {
    r.set_healthz("unhealthy: " + reason_);
  } else if (clock_.steadyNow() - lastSuccess_ > options_.healthTtl) {
    r.set_healthz("unhealthy: no successful encrypt+decrypt round trip through " + options_.key + " in the last " +
                  std::to_string(options_.healthTtl.count()) + "s");
  } else {
    r.set_healthz("ok");
  }
  return r;
}

Result<v2::EncryptResponse> Plugin::encrypt(const v2::EncryptRequest& req) {
  if (req.plaintext().empty()) return makeError(ErrorCode::kInvalidArgument, "plaintext is empty");
  if (req.plaintext().size() > kMaxPlaintext)
    return makeError(ErrorCode::kInvalidArgument,
                     "plaintext is " + std::to_string(req.plaintext().size()) + " bytes; at most " +
                         std::to_string(kMaxPlaintext) + " fit a KMS v2 ciphertext (under 1 kB); kube-apiserver sends 32");
  v1::EncryptRequest er;
  er.set_key(options_.key);
  er.set_plaintext(req.plaintext());
  er.set_aad(kAad);
  auto r = upstream_.encrypt(er);
  std::string pt = std::move(*er.mutable_plaintext());
  wipe(pt);
  if (!r.ok()) {
    if (pointsAtHealth(r.error().code)) {
      std::lock_guard<std::mutex> lock(mu_);
      probeNow_ = true;
      wake_.notify_all();
    }
    return upstreamError(r.error(), "encrypt with " + options_.key);
  }
  if (r->key_version_id().empty() || r->key_version_id().size() > kMaxKeyId)
    return makeError(ErrorCode::kInternal, "the crypto API returned no usable key_version_id for " + r->key_version() +
                                               " (a Keygate server older than the KMS plugin?)");
  if (r->ciphertext().size() > kMaxCiphertext)
    return makeError(ErrorCode::kInternal, "ciphertext of " + std::to_string(r->ciphertext().size()) +
                                               " bytes exceeds KMS v2's 1 kB (key " + r->key_version() + ")");
  {
    // A version Status does not name yet (a rotation since the last probe): remember it for
    // Decrypt, and have the prober confirm it now so Status follows within a second.
    std::lock_guard<std::mutex> lock(mu_);
    known_.emplace(r->key_version_id(), r->key_version());
    if (r->key_version_id() != keyId_) {
      probeNow_ = true;
      wake_.notify_all();
    }
  }
  v2::EncryptResponse out;
  out.set_ciphertext(std::move(*r->mutable_ciphertext()));
  out.set_key_id(r->key_version_id());
  (*out.mutable_annotations())[kVersionAnnotation] = r->key_version();
  return out;
}

Result<v2::DecryptResponse> Plugin::decrypt(const v2::DecryptRequest& req) {
  if (req.ciphertext().empty()) return makeError(ErrorCode::kInvalidArgument, "ciphertext is empty");
  if (req.ciphertext().size() > kMaxCiphertext)
    return makeError(ErrorCode::kInvalidArgument, "ciphertext is " + std::to_string(req.ciphertext().size()) +
                                                      " bytes; this plugin never makes one over 1 kB");
  if (req.key_id().empty()) return makeError(ErrorCode::kInvalidArgument, "key_id is empty");
  std::string knownVersion;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = known_.find(req.key_id());
    if (it != known_.end()) knownVersion = it->second;
  }
  // A key_id seen before names its version: the crypto API then refuses a ciphertext of any
  // other version. One not seen yet (after a restart) is checked against the answer below.
  v1::DecryptRequest dr;
  dr.set_key(knownVersion.empty() ? options_.key : knownVersion);
  dr.set_ciphertext(req.ciphertext());
  dr.set_aad(kAad);
  auto r = upstream_.decrypt(dr);
  if (!r.ok()) {
    if (pointsAtHealth(r.error().code) && r.error().code != ErrorCode::kFailedPrecondition) {
      // FailedPrecondition names the version's state (an old, destroyed version): not health.
      std::lock_guard<std::mutex> lock(mu_);
      probeNow_ = true;
      wake_.notify_all();
    }
    return upstreamError(r.error(), "decrypt with " + dr.key() + " (key_id " + req.key_id().substr(0, 64) + ")");
  }
  if (r->key_version_id() != req.key_id()) {
    wipe(*r->mutable_plaintext());
    return makeError(ErrorCode::kInvalidArgument, "key_id \"" + req.key_id().substr(0, 64) + "\" is not a version of " +
                                                      options_.key + ": the ciphertext is of " + r->key_version() +
                                                      ", whose key_id is " + r->key_version_id());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    known_.emplace(r->key_version_id(), r->key_version());
  }
  v2::DecryptResponse out;
  out.set_plaintext(std::move(*r->mutable_plaintext()));
  return out;
}

}  // namespace keygate::kms

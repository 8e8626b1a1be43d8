#pragma once
// The Kubernetes KMS v2 provider's logic: kube-apiserver's Status / Encrypt / Decrypt for one
// EncryptionKey, served through the Keygate crypto API (never a backend of its own: the key
// stays in the HSM behind the activation workflow, KeyUser bindings and audit). gRPC stays in
// kms/grpc_server.cc; this file sees only protobuf messages, so it is tested without sockets.
//
// The contract (Kubernetes "Using a KMS provider for data encryption", KMS v2):
//  - Status is polled about once a minute (every 10 s while unhealthy) and must be cheap: it
//    answers from memory. healthz is "ok" only while an Encrypt+Decrypt round trip through
//    the crypto API passed within `healthTtl`; a background prober repeats the round trip, so a
//    revoked KeyUser binding, a Compromised key or a dropped backend turns health off within
//    one probe interval (and at once when kube-apiserver's own calls see it).
//  - key_id is the crypto API's key_version_id of the current Active version: stable across
//    restarts, never reused (it hashes the key's uid), not secret, 32 hex digits.
//  - Encrypt returns the key_id of the version that encrypted, which is Status's key_id except
//    in the moment after a rotation: the prober is then woken so Status follows within about
//    a second (kube-apiserver re-polls Status and makes a new DEK seed); ciphertext and key_id
//    under 1 kB; one
//    annotation (kVersionAnnotation: "NAMESPACE/NAME@VERSION") whose key is a fully qualified
//    domain name as kube-apiserver requires.
//  - Decrypt refuses a key_id that is not a version of this key and accepts every version the
//    crypto API still lets process (Active, Deactivated), so rotation never strands old data.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/result.h"
#include "keygate/v1/crypto.pb.h"
#include "kms/v2/api.pb.h"

namespace keygate::kms {

// The annotation kept beside each encrypted DEK seed (plain text in etcd): the key version
// that made it, for operators planning a storage migration.
inline constexpr const char* kVersionAnnotation = "key-version.kms.keygate.dev";
// Authenticated data of every ciphertext the plugin makes: a ciphertext of the same key made
// for another purpose through the crypto API does not decrypt as a DEK seed, and back.
inline constexpr const char* kAad = "keygate.dev/kms-v2";
// kube-apiserver's limits (k8s.io/apiserver kmsv2): ciphertext and key_id ≤ 1 kB.
inline constexpr size_t kMaxCiphertext = 1024;
inline constexpr size_t kMaxKeyId = 1024;
// The largest plaintext whose ciphertext stays within kMaxCiphertext (AES-256-GCM: 7 bytes of
// header, 12 of IV, 16 of tag). kube-apiserver sends 32-byte seeds.
inline constexpr size_t kMaxPlaintext = kMaxCiphertext - 35;

struct PluginOptions {
  std::string key;                                   // "NAMESPACE/NAME"
  std::chrono::seconds healthTtl{60};                // a passed round trip counts this long
  std::chrono::seconds probeInterval{30};            // round trips while healthy
  std::chrono::seconds retryInterval{5};             // … and while not
};

// The crypto API as the plugin uses it (a CryptoClient in the binary, anything in tests).
struct Upstream {
  std::function<Result<v1::EncryptResponse>(const v1::EncryptRequest&)> encrypt;
  std::function<Result<v1::DecryptResponse>(const v1::DecryptRequest&)> decrypt;
};

// What the plugin reports for metrics and logs (all optional).
struct PluginObserver {
  // Health changed: healthy or not, why not, the key_id (may be empty before the first probe).
  std::function<void(bool healthy, const std::string& reason, const std::string& keyId)> health;
  // key_id changed (rotation): old, new, the new version "NAMESPACE/NAME@VERSION".
  std::function<void(const std::string& from, const std::string& to, const std::string& version)> keyIdChanged;
  // Every passed round trip (for the last-success timestamp).
  std::function<void()> passed;
};

class Plugin {
 public:
  Plugin(PluginOptions options, Upstream upstream, PluginObserver observer = {}, const Clock& clock = realClock());
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  // InvalidArgument when the key name is not "NAMESPACE/NAME".
  static Status validate(const PluginOptions& options);

  // Starts the background prober (one round trip now, then every probeInterval /
  // retryInterval). stop() (or the destructor) ends it.
  void start();
  void stop();

  // Never blocks on the network.
  v2::StatusResponse status() const;
  Result<v2::EncryptResponse> encrypt(const v2::EncryptRequest& req);
  Result<v2::DecryptResponse> decrypt(const v2::DecryptRequest& req);

  // One Encrypt+Decrypt round trip through the crypto API now; updates health and key_id.
  Status probe();

  bool healthy() const;
  std::string keyId() const;

 private:
  void succeeded(const std::string& keyId, const std::string& version);
  void failed(const Error& e, const std::string& what);
  void learn(const std::string& keyId, const std::string& version);
  void proberLoop();

  const PluginOptions options_;
  const Upstream upstream_;
  const PluginObserver observer_;
  const Clock& clock_;

  std::mutex probeMu_;  // one probe at a time (the prober, tests, start-up)
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool probeNow_ = false;
  std::thread prober_;

  bool healthy_ = false;
  std::string reason_ = "no round trip through the crypto API yet";
  SteadyTime lastSuccess_{};
  std::string keyId_;                          // current Active version's key_version_id
  std::string keyVersion_;                     // … and its "NAMESPACE/NAME@VERSION"
  std::map<std::string, std::string> known_;   // key_version_id → "NAMESPACE/NAME@VERSION"
};

}  // namespace keygate::kms

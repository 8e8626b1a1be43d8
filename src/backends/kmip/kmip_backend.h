#pragma once
// KeyBackend on a KMIP 1.2 server. KMIP has the NIST SP 800-57 states itself, so the
// lifecycle maps onto them instead of onto usage attributes:
//   generate → Create / CreateKeyPair (state Pre-Active: the server refuses every use)
//   activate → Activate;  deactivate → Revoke(Cessation of Operation) → Deactivated
//   compromised → Revoke(Key Compromise) → Compromised;  destroy → Destroy
// The usage mask is fixed at creation to exactly the purpose's operations.
//
// Identity and isolation: every object is named after the key version
// (KeyRef::backendKeyId(), "/private" and "/public" for a key pair's halves) and carries the
// tenant as its Object Group ("keygate:<namespace>"). Every Locate filters by both, so one
// tenant's name never finds another tenant's object. generate locates before it creates:
// a crash between "created" and "status written" never makes a second key.
// Unique identifiers are cached per key version; Locate runs on a cache miss only.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/key_backend.h"
#include "backends/kmip/kmip_client.h"

namespace keygate::backends::kmip {

struct KmipBackendOptions {
  std::string name = "kmip";  // backends[].name
};

class KmipBackend final : public KeyBackend {
 public:
  KmipBackend(std::unique_ptr<KmipClient> client, KmipBackendOptions options);

  const std::string& name() const override { return options_.name; }
  std::string_view type() const override { return "kmip"; }
  using KeyBackend::generate;
  Result<GeneratedKey> generate(const KeySpec& spec, const GenerateOptions& options) override;
  // BYOK over KMIP is refused with the reason (docs/byok.md): the operator would have to
  // send the material in plaintext, or the server unwrap under a key it holds, which PyKMIP
  // 0.10 cannot.
  Result<WrappingKey> createWrappingKey(const KeyRef& ref, int serial) override;
  Status applyUsage(const KeySpec& spec, UsageState state) override;
  // Revoke with Key Compromise whatever the state (Pre-Active included: left Pre-Active, a
  // compromised key could still be activated on the server).
  Status markCompromised(const KeySpec& spec) override;
  Status destroy(const KeyRef& ref) override;
  Result<KeyDescription> describe(const KeySpec& spec) override;
  Result<SelfTestResult> selfTest(const KeySpec& spec) override;
  Status probe() override;

  // Crypto API operations the server can do (kmip_crypto.cc): AES-256-GCM Encrypt/Decrypt
  // (KMIP 1.4 fields); IVs from OpenSSL's CSPRNG. Signing digests, RSA-OAEP, MAC and public
  // keys are Unimplemented: KMIP 1.2 servers sign messages, not digests (PyKMIP 0.10 has no
  // Digested Data), PyKMIP encrypts with symmetric keys only and cannot create HMAC keys.
  Result<ByteVec> randomBytes(const std::string& tenantNamespace, size_t n) override;
  Result<GcmSealed> aesGcmSeal(const KeySpec& spec, ByteView plaintext, ByteView aad) override;
  Result<ByteVec> aesGcmOpen(const KeySpec& spec, ByteView iv, ByteView sealed, ByteView aad) override;

  // The Object Group that marks a tenant's objects.
  static std::string objectGroup(const std::string& tenantNamespace) { return "keygate:" + tenantNamespace; }
  // Unique identifiers of every object named `name` in the tenant's group (tests use it to
  // prove isolation and the no-duplicate rule).
  Result<std::vector<std::string>> locate(const std::string& tenantNamespace, const std::string& name);
  KmipClient& client() { return *client_; }

 private:
  struct Objects {
    std::string secretOrPrivate;  // the symmetric key, or the key pair's private key
    std::string publicKey;        // empty for symmetric keys
  };
  // From the cache, else Locate (then cached). NotFound when the version has no object.
  Result<Objects> objects(const KeyRef& ref, bool asymmetric);
  Result<uint32_t> state(const std::string& uid);
  Status revoke(const std::string& uid, uint32_t reasonCode);

  std::unique_ptr<KmipClient> client_;
  KmipBackendOptions options_;
  std::mutex mu_;
  std::map<std::string, Objects> cache_;  // backendKeyId → identifiers
};

}  // namespace keygate::backends::kmip

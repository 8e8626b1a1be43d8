#pragma once
// KeyBackend on any PKCS#11 module: one token per tenant namespace (TokenManager), keys
// as token objects whose usage attributes encode the lifecycle state (templates.h).
//
// Object identity: CKA_ID = objectId(ref), CKA_LABEL = ref.backendKeyId(); generate finds
// before it creates, so a crash between "created in HSM" and "status written" never makes
// a second key. Handles are cached per token; C_FindObjects runs only on a cache miss, after
// a session/login loss, and in destroy (which must see every object, duplicates included).

#include <atomic>
#include <memory>
#include <string>

#include "backends/key_backend.h"
#include "backends/pkcs11/cryptoki.h"
#include "backends/pkcs11/token_manager.h"
#include "backends/secret_store.h"
#include "common/log.h"

namespace keygate::backends::pkcs11 {

struct Pkcs11BackendOptions {
  std::string name = "pkcs11";  // backends[].name; also prefixes the PIN secret names
  std::string modulePath;       // backends[].module
  size_t maxIdleSessionsPerToken = 4;
  // SoftHSM2's file store (softhsm_store.h): the token directory whose files get copies,
  // refreshed when a tenant token is initialised, around usage changes and after destroys.
  // open() fills it from SOFTHSM2_CONF for a SoftHSM2 module; "" = not SoftHSM2's file store.
  std::string softHsmTokenDir;
  // Key versions made as session objects and copied into the token (create_objects.h): a
  // kill inside a create leaves nothing usable. open() turns it on for a SoftHSM2 module;
  // a module that refuses the copy falls back to direct generation for good.
  bool stagedCreate = false;
};

class Pkcs11Backend final : public KeyBackend {
 public:
  // dlopens options.modulePath (see DlCryptoki::load for the errors).
  static Result<std::unique_ptr<Pkcs11Backend>> open(Pkcs11BackendOptions options, SecretStorePtr secrets);
  // With any Cryptoki (the fake in unit tests).
  Pkcs11Backend(std::shared_ptr<Cryptoki> ck, SecretStorePtr secrets, Pkcs11BackendOptions options);

  const std::string& name() const override { return options_.name; }
  std::string_view type() const override { return "pkcs11"; }
  using KeyBackend::generate;
  Result<GeneratedKey> generate(const KeySpec& spec, const GenerateOptions& options) override;
  // BYOK (byok.cc).
  Result<WrappingKey> createWrappingKey(const KeyRef& ref, int serial) override;
  Status destroyWrappingKey(const KeyRef& ref, int serial) override;
  Result<GeneratedKey> importWrapped(const KeySpec& spec, int wrappingSerial, const WrappedKeyMaterial& material) override;
  Status applyUsage(const KeySpec& spec, UsageState state) override;
  Status destroy(const KeyRef& ref) override;
  Result<KeyDescription> describe(const KeySpec& spec) override;
  Result<SelfTestResult> selfTest(const KeySpec& spec) override;
  Status probe() override;
  Result<std::vector<StrayObject>> sweepStrays(const std::string& tenantNamespace, const StraySweepOptions& options) override;

  // Crypto operations (crypto_ops.cc): kCrypto sessions on cached handles.
  Result<ByteVec> randomBytes(const std::string& tenantNamespace, size_t n) override;
  Result<GcmSealed> aesGcmSeal(const KeySpec& spec, ByteView plaintext, ByteView aad) override;
  Result<ByteVec> aesGcmOpen(const KeySpec& spec, ByteView iv, ByteView sealed, ByteView aad) override;
  Result<ByteVec> rsaOaepEncrypt(const KeySpec& spec, ByteView plaintext) override;
  Result<ByteVec> rsaOaepDecrypt(const KeySpec& spec, ByteView ciphertext) override;
  Result<ByteVec> signDigest(const KeySpec& spec, SigningScheme scheme, ByteView digest) override;
  Result<bool> verifyDigest(const KeySpec& spec, SigningScheme scheme, ByteView digest, ByteView signature) override;
  Result<ByteVec> hmacSha256(const KeySpec& spec, ByteView data) override;
  Result<bool> verifyHmacSha256(const KeySpec& spec, ByteView data, ByteView mac) override;
  Result<std::string> publicKeyPem(const KeySpec& spec) override;

  // The tenant's token (initialised on first use); for tests and `keygate local`.
  Result<std::shared_ptr<Token>> tokenFor(std::string_view tenantNamespace) { return tokens_.token(tenantNamespace); }
  TokenManager& tokens() { return tokens_; }
  const std::shared_ptr<Cryptoki>& cryptoki() const { return ck_; }

 private:
  // Objects of a key version: from the handle cache, else C_FindObjects (then cached).
  Result<ObjectSet> lookup(Session& s, const Bytes& id);
  // Fills the token's handle cache from one pass over all its objects (see lookup).
  void indexToken(Session& s);
  // The module refused a staged create's copy (create_objects.h): direct creation from now on, said once.
  void stagedCopyRefused(CK_RV why);
  // lookup() that insists on the complete object set for spec's algorithm.
  Result<ObjectSet> requireObjects(Session& s, const KeySpec& spec, const Bytes& id);
  Result<std::string> fingerprint(Session& s, const ObjectSet& objects);
  // SubjectPublicKeyInfo DER of the key pair's public object; empty for secret keys.
  Result<Bytes> publicKeySpki(Session& s, const ObjectSet& objects);
  // Runs op on a kCrypto session with the key version's complete object set; on a handle
  // cache miss, finds the objects first under a shared section (see Token::Access).
  template <typename T>
  Result<T> withKeyObjects(const KeySpec& spec, const std::function<Result<T>(Session&, const ObjectSet&)>& op);

  std::shared_ptr<Cryptoki> ck_;
  Pkcs11BackendOptions options_;
  std::atomic<bool> stagedRefused_{false};  // the module refused a staged create's copy
  TokenManager tokens_;
  log::Logger log_{"pkcs11.backend"};
};

// Runs the known-answer round trip for spec's purpose on the key's objects.
Result<SelfTestResult> runSelfTest(Session& s, const KeySpec& spec, const ObjectSet& objects);

}  // namespace keygate::backends::pkcs11

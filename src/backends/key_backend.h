#pragma once
// KeyBackend: where key material lives (an HSM token, a KMS). Keygate never sees key
// material; it asks a backend to create a key for one purpose with every use disabled
// (PreActive), to enable exactly that purpose (Active), to keep only the processing half
// (Deactivated), to disable everything (Compromised) and to destroy it.
//
// Every method is idempotent so a reconciler may repeat it after a crash or a retry, and
// every method is safe to call from several worker threads at once.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/key_wrapping.h"
#include "common/result.h"

namespace keygate::backends {

enum class Purpose { kEncrypt, kSign, kWrap, kMac };
enum class Algorithm { kAes256, kRsa3072, kRsa4096, kEcP256, kEcP384, kHmacSha256 };

// API spellings ("Encrypt", "AES-256", …), as in api.md.
const char* purposeName(Purpose p);
const char* algorithmName(Algorithm a);
Result<Purpose> parsePurpose(std::string_view s);
Result<Algorithm> parseAlgorithm(std::string_view s);
// Encrypt→AES/RSA, Sign→RSA/EC, Wrap→AES/RSA, MAC→HMAC.
bool algorithmFitsPurpose(Algorithm a, Purpose p);
// InvalidArgument "RSA-3072 cannot serve purpose MAC" when it does not fit.
Status checkAlgorithmFitsPurpose(Algorithm a, Purpose p);

// Identifies one version of one key. The backend key id is derived from it, never random,
// so that "generate" after a crash finds what an earlier attempt created.
struct KeyRef {
  std::string tenantNamespace;  // a DNS label: the tenant
  std::string keyUid;           // metadata.uid of the EncryptionKey
  int version = 1;

  // "keygate/<namespace>/<uid>/v<version>" — shown in status.versions[].backendKeyId.
  std::string backendKeyId() const;
  // InvalidArgument unless namespace is a DNS label, uid is [A-Za-z0-9-]{1,64}, version >= 1.
  Status validate() const;
};

struct KeySpec {
  KeyRef ref;
  Purpose purpose = Purpose::kEncrypt;
  Algorithm algorithm = Algorithm::kAes256;
};

// Which usage a key's objects allow. PreActive and Compromised both map to kNone: the
// backend cannot tell them apart, the CR status does.
enum class UsageState {
  kNone,         // PreActive, Compromised: no operation at all
  kFull,         // Active: the purpose's protect and process operations
  kProcessOnly,  // Deactivated: decrypt / verify / unwrap only
};
const char* usageStateName(UsageState s);

// What describe() found in the backend.
enum class BackendKeyState {
  kAbsent,       // no object for this key version
  kNoUsage,      // every usage attribute false (PreActive or Compromised)
  kActive,       // exactly the purpose's attributes
  kDeactivated,  // exactly the processing attribute(s)
  kDrifted,      // anything else: extra or missing usage, protection attributes changed,
                 // an incomplete key pair; `drift` says what
};
const char* backendKeyStateName(BackendKeyState s);

struct ObjectDescription {
  std::string objectClass;  // "secret-key", "public-key", "private-key"
  // Attribute name (lower-case PKCS#11 name without CKA_, e.g. "encrypt", "sensitive") →
  // value, for every boolean attribute the backend reports on this object.
  std::vector<std::pair<std::string, bool>> attributes;
  bool attribute(std::string_view name, bool fallback = false) const;
};

struct KeyDescription {
  BackendKeyState state = BackendKeyState::kAbsent;
  std::string backendKeyId;
  std::string fingerprint;  // see GeneratedKey::fingerprint
  std::vector<ObjectDescription> objects;
  std::vector<std::string> drift;  // human-readable differences from every expected state
};

struct GeneratedKey {
  std::string backendKeyId;
  // Never key material. Asymmetric keys: "sha256:<hex>" of the public key's
  // SubjectPublicKeyInfo DER. Secret keys: "kcv:<hex>", the token's CKA_CHECK_VALUE (the
  // key check value a token computes at creation; a non-extractable key with every usage
  // off cannot be used to compute one ourselves); empty if the token provides none.
  std::string fingerprint;
  bool created = false;  // false: an earlier attempt had already created it
};

struct SelfTestResult {
  bool passed = false;
  std::string mechanism;  // e.g. "CKM_AES_GCM"
  std::string detail;     // why it failed (a CKR name, a mismatch); empty when passed
};

// Material a tenant wrapped for import (BYOK), as read from its Secret. Never logged,
// copied or stored: the backend unwraps it inside the HSM.
struct WrappedKeyMaterial {
  WrappingFormat format = WrappingFormat::kRsaAesKeyWrapSha1;
  std::vector<uint8_t> blob;
  // EC keys: the public key (SubjectPublicKeyInfo PEM) the tenant supplies beside the
  // material (a PKCS#11 EC private key has no public point); it must belong to the private key.
  std::string publicKeyPem = {};  // initialiser: {format, blob} inits may omit it
};

// Signature schemes of the crypto API (AWS KMS names). ECDSA signatures are DER
// (ECDSA-Sig-Value), as OpenSSL and every X.509 tool expect them.
enum class SigningScheme { kEcdsaSha256, kEcdsaSha384, kRsaPssSha256, kRsaPkcs1Sha256 };
const char* signingSchemeName(SigningScheme s);
size_t signingSchemeDigestLength(SigningScheme s);  // 32 or 48
// Does the scheme fit the algorithm (ECDSA_SHA_256 ↔ EC-P256, ECDSA_SHA_384 ↔ EC-P384, RSA ↔ RSA)?
bool signingSchemeFits(SigningScheme s, Algorithm a);
SigningScheme defaultSigningScheme(Algorithm a);

using ByteVec = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

struct GcmSealed {
  ByteVec iv;      // 12 bytes, never reused under one key (drawn from the backend's RNG)
  ByteVec sealed;  // ciphertext || 16-byte tag
};

// BYOK: the wrapping key of one import window (`serial` 1, 2, ...) of one key version: an
// RSA-3072 pair in the tenant's own token whose private half is sensitive, never
// extractable, and can only unwrap.
struct WrappingKey {
  std::string backendKeyId;   // "keygate/<ns>/<uid>/v<version>/wrap<serial>"
  std::string publicKeyPem;   // SubjectPublicKeyInfo PEM, for the tenant
  // The formats this backend unwraps with it, best first: each was tried on this token with
  // a throw-away key when the pair was made (a module may list a mechanism it cannot use).
  std::vector<WrappingFormat> formats;
};

struct GenerateOptions {
  // The caller knows no earlier attempt can have created this key version: it was never
  // recorded in status, no other process could have acted on the key, and this process has
  // not tried before. The backend may then skip its find-before-create, which costs
  // O(objects in the token) on SoftHSM2. A wrong hint can only cost a duplicate object
  // (reported by later describe/generate calls), never a lost key.
  bool knownAbsent = false;
};

// ---- Tenant storage hygiene: objects no key accounts for (docs/scale.md). ----------------
// What Keygate accounts for in one tenant's storage: the key versions that have (or are about
// to have) objects, and the BYOK wrapping keys of open import windows.
struct AccountedObjects {
  std::vector<KeyRef> keys;
  std::vector<std::pair<KeyRef, int>> wrappingKeys;  // (the version's ref, serial)
  // Versions whose EncryptionKey says Destroyed: anything of theirs left is a stray.
  std::vector<KeyRef> destroyed;
};

struct StraySweepOptions {
  // Called inside the backend's exclusive section for the tenant, where no object is being
  // created, so a key whose creation finished just before the sweep is in the answer. An error
  // (what is accounted for cannot be known) ends the sweep with it, nothing touched.
  std::function<Result<AccountedObjects>()> accounted;
  WallTime now;
  // A stray is disabled at once (every usage off) and destroyed once it was first seen this
  // long ago, so a mistake in what is accounted for can be noticed and undone in between.
  Duration grace = std::chrono::hours(24);
};

struct StrayObject {
  enum class Action {
    kDisabled,   // found now: every usage attribute off, marked with the time it was found
    kWaiting,    // found earlier, still disabled, destroyed when the grace period ends
    kDestroyed,  // grace over, or it could not be disabled (destroyed at once then)
    // A whole, well-formed key version of an EncryptionKey that is gone: what
    // destruction.policy Retain (the default) keeps on purpose. Reported, never touched.
    kRetained,
  };
  Action action = Action::kDisabled;
  std::string location;     // the token's label
  std::string objectClass;  // secretKey, privateKey, publicKey, data, ...
  std::string id;           // CKA_ID in hex, "" when it has none
  std::string label;        // as found (before Keygate's mark)
  std::string usage;        // the usage attributes that were on when found, e.g. "encrypt,decrypt"
  std::string detail;       // why it is a stray, what was done
  std::optional<WallTime> firstSeen;
};
const char* strayActionName(StrayObject::Action a);  // Disabled, Waiting, Destroyed

class KeyBackend {
 public:
  virtual ~KeyBackend() = default;

  virtual const std::string& name() const = 0;  // the config's backends[].name
  virtual std::string_view type() const = 0;    // the config's backends[].type

  // Creates the key version with every usage disabled, or returns the one an earlier
  // attempt created (created=false). InvalidArgument: bad ref or algorithm/purpose misfit.
  // AlreadyExists: objects with this key's id exist but are a different algorithm.
  // FailedPrecondition: a half-made or used key pair, or duplicates — nothing is destroyed.
  virtual Result<GeneratedKey> generate(const KeySpec& spec, const GenerateOptions& options) = 0;
  Result<GeneratedKey> generate(const KeySpec& spec) { return generate(spec, GenerateOptions{}); }

  // ---- BYOK (docs/byok.md). Defaults: Unimplemented. ---------------------------------
  // Creates the wrapping key `serial` of the key version, or returns the one an earlier
  // attempt created (idempotent).
  virtual Result<WrappingKey> createWrappingKey(const KeyRef& ref, int serial);
  // Destroys it (an import window ended, or the import is done). OK when absent.
  virtual Status destroyWrappingKey(const KeyRef& ref, int serial);
  // Unwraps the tenant's material inside the backend with wrapping key `serial` into the key
  // version, with every usage off (PreActive) and the protection of a generated key. If the
  // version exists already, returns it (created=false) without reading the material.
  // InvalidArgument with the reason, nothing created: a blob that does not unwrap (another
  // wrapping key, truncated, padded), a format the backend cannot do, material of the wrong
  // kind or length for the algorithm. FailedPrecondition: the wrapping key is gone.
  virtual Result<GeneratedKey> importWrapped(const KeySpec& spec, int wrappingSerial, const WrappedKeyMaterial& material);

  // Sets the usage of every object of the key version to exactly `state` for the key's
  // purpose (also the repair for drift). NotFound when the key version does not exist.
  virtual Status applyUsage(const KeySpec& spec, UsageState state) = 0;
  Status activate(const KeySpec& spec) { return applyUsage(spec, UsageState::kFull); }
  Status deactivate(const KeySpec& spec) { return applyUsage(spec, UsageState::kProcessOnly); }
  // No usage, and the backend told the key is compromised where it has such a state (KMIP:
  // Revoke with Key Compromise, from Pre-Active too). Not the same as applyUsage(kNone), which
  // drift repair also uses for keys that are merely not active yet.
  virtual Status markCompromised(const KeySpec& spec) { return applyUsage(spec, UsageState::kNone); }

  // Destroys every object of the key version. OK when nothing is left (idempotent).
  virtual Status destroy(const KeyRef& ref) = 0;

  // Reads the key version's state back (drift detection, finishing interrupted work).
  // kAbsent is a value, not an error.
  virtual Result<KeyDescription> describe(const KeySpec& spec) = 0;

  // A cheap check that the backend answers and its credentials still work, with no key
  // involved; the operator runs it periodically for keygate_backend_up. PKCS#11: the slot
  // list, then on a pooled logged-in session of every token in use, its token info (a locked
  // or missing token fails). KMIP: a Query round trip. Errors say what failed.
  virtual Status probe() = 0;

  // Known-answer round trip with the purpose's mechanism; meant right after activation.
  // A failed round trip is a value (passed=false); an Error means the test could not run.
  virtual Result<SelfTestResult> selfTest(const KeySpec& spec) = 0;

  // Finds every object in the tenant's storage that `accounted` does not name. A stray (a
  // half-made object a crash inside C_GenerateKey left, what is left of a Destroyed version or
  // of a wrapping key, a version an existing key does not claim, a foreign object) is disabled
  // at once and destroyed after the grace period. A well-formed version of a key that no
  // longer exists is reported as kRetained and left alone (destruction.policy Retain).
  // Returns what it found. Default: Unimplemented (a backend whose creates are atomic, like
  // KMIP's).
  virtual Result<std::vector<StrayObject>> sweepStrays(const std::string& tenantNamespace, const StraySweepOptions& options);

  // ---- Crypto operations (the crypto API, src/dataplane/). -----------------------------
  // The caller has checked the key version's state and purpose; the backend's own usage
  // attributes (PKCS#11) or object state (KMIP) check them a second time: a use the key's
  // state does not allow fails with FailedPrecondition and reason "KEY_USE_REFUSED".
  // Errors: InvalidArgument (bad input, a ciphertext or tag that does not authenticate),
  // NotFound (no such key version), Unavailable (the backend cannot be reached),
  // Unimplemented (this backend does not serve the operation). Defaults: Unimplemented.

  // n random bytes from the backend's RNG (IVs, data keys).
  virtual Result<ByteVec> randomBytes(const std::string& tenantNamespace, size_t n);
  // AES-256-GCM with a fresh 96-bit IV from the backend's RNG (for PKCS#11 the HSM's
  // C_GenerateRandom, in the same session as the encryption) and a 128-bit tag.
  virtual Result<GcmSealed> aesGcmSeal(const KeySpec& spec, ByteView plaintext, ByteView aad);
  // Reverses aesGcmSeal; InvalidArgument when the tag does not authenticate.
  virtual Result<ByteVec> aesGcmOpen(const KeySpec& spec, ByteView iv, ByteView sealed, ByteView aad);
  // RSA-OAEP (SHA-1, MGF1-SHA1: what every PKCS#11 module offers) with the public key.
  virtual Result<ByteVec> rsaOaepEncrypt(const KeySpec& spec, ByteView plaintext);
  virtual Result<ByteVec> rsaOaepDecrypt(const KeySpec& spec, ByteView ciphertext);
  // Signs a digest (its length matches the scheme). ECDSA: DER.
  virtual Result<ByteVec> signDigest(const KeySpec& spec, SigningScheme scheme, ByteView digest);
  // false when the signature does not match (not an error).
  virtual Result<bool> verifyDigest(const KeySpec& spec, SigningScheme scheme, ByteView digest, ByteView signature);
  // HMAC-SHA256.
  virtual Result<ByteVec> hmacSha256(const KeySpec& spec, ByteView data);
  virtual Result<bool> verifyHmacSha256(const KeySpec& spec, ByteView data, ByteView mac);
  // SubjectPublicKeyInfo, PEM, of an asymmetric key version.
  virtual Result<std::string> publicKeyPem(const KeySpec& spec);
};

using KeyBackendPtr = std::unique_ptr<KeyBackend>;

}  // namespace keygate::backends

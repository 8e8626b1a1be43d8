#include "controllers/encryption_key/key_import.h"

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/time.h"
#include "controllers/kube_secret_store.h"
#include "kube/resource.h"

namespace keygate::controllers {
namespace {

namespace v1 = api::v1alpha1;

constexpr size_t kWrappingModulusBytes = 384;  // RSA-3072

const log::Logger& logger() {
  static const log::Logger l("controller.key-import");
  return l;
}

void condition(v1::EncryptionKeyStatus& st, const char* type, bool on, const std::string& reason, const std::string& message,
               const ImportContext& c) {
  v1::setCondition(st.conditions, type, on, reason, message, c.key->metadata.generation, c.now);
}

std::string secretText(const ImportContext& c) {
  const auto& ref = *c.key->spec.import->secretRef;
  return "Secret " + ref.name + " (key " + ref.key + ") in namespace " + c.key->metadata.namespace_;
}

std::string nextStep(const ImportContext& c, const v1::WrappingKeyStatus& wk) {
  return "wrap the material of version " + std::to_string(c.version) + " with status.wrappingKey (" +
         "keygate wrap --key " + c.key->metadata.namespace_ + "/" + c.key->metadata.name +
         " --material FILE -o secret.yaml), put it in " + secretText(c) + " and let the operator read it; the window ends " +
         (wk.expiresAt ? formatRfc3339(*wk.expiresAt) : std::string("soon"));
}

// Waiting for the tenant: ImportPending True with `reason`, and ImportFailed as given.
ImportOutcome waiting(const ImportContext& c, v1::EncryptionKeyStatus& st, const std::string& reason, const std::string& message,
                      const std::string& failedReason = "", const std::string& failedMessage = "") {
  // A refusal is an Event and an audit record once, not at every look at the Secret.
  const v1::Condition* before = v1::findCondition(st.conditions, "ImportFailed");
  const bool newRefusal = !failedReason.empty() && !(before && before->status == "True" && before->reason == failedReason &&
                                                     before->message == failedMessage);
  condition(st, "ImportPending", true, reason, message, c);
  if (failedReason.empty()) condition(st, "ImportFailed", false, "NoFailure", "no import was refused", c);
  else condition(st, "ImportFailed", true, failedReason, failedMessage, c);
  ImportOutcome o;
  o.requeueAfter = c.recheck;
  if (st.wrappingKey && st.wrappingKey->expiresAt) {
    auto left = std::chrono::duration_cast<Duration>(*st.wrappingKey->expiresAt - c.now);
    if (left < *o.requeueAfter) o.requeueAfter = std::max(left, Duration::zero());
  }
  if (newRefusal) {
    v1::AuditEvent ev;
    ev.event = "KeyImportRefused";
    ev.version = c.version;
    ev.message = failedReason + ": " + failedMessage;
    ev.affectedSystems = c.key->spec.affectedSystems;
    o.audit = ev;
  }
  return o;
}

// The format of a blob: the Secret's annotation, else its family by length, the best the
// backend published of that family.
Result<WrappingFormat> formatOf(const Json& secret, size_t blobSize, const v1::WrappingKeyStatus& wk) {
  std::string named;
  if (const Json* a = findPath(secret, "metadata.annotations"); a && a->is_object() && a->contains(kWrappingAlgorithmAnnotation))
    named = (*a)[kWrappingAlgorithmAnnotation].is_string() ? (*a)[kWrappingAlgorithmAnnotation].get<std::string>() : "";
  if (!named.empty()) {
    ASSIGN_OR_RETURN(WrappingFormat f, parseWrappingFormat(named));
    if (std::find(wk.algorithms.begin(), wk.algorithms.end(), named) == wk.algorithms.end())
      return makeError(ErrorCode::kInvalidArgument, named + " is not one of the formats this backend unwraps (status.wrappingKey.algorithms)");
    return f;
  }
  const bool keyWrap = blobSize > kWrappingModulusBytes;
  for (const auto& name : wk.algorithms) {
    auto f = parseWrappingFormat(name);
    if (f.ok() && isKeyWrapFormat(*f) == keyWrap) return *f;
  }
  return makeError(ErrorCode::kInvalidArgument, std::string("a ") + std::to_string(blobSize) + "-byte blob is " +
                                                    (keyWrap ? "RSA_AES_KEY_WRAP_*" : "RSAES_OAEP_*") +
                                                    ", which this backend does not unwrap");
}

}  // namespace

Result<ImportOutcome> importVersion(const ImportContext& c, v1::EncryptionKeyStatus& st) {
  const v1::EncryptionKey& key = *c.key;
  v1::KeyVersionStatus* v = st.findVersion(c.version);
  if (v == nullptr || v->state != v1::KeyState::kPending) return ImportOutcome{};
  if (!key.spec.import || !key.spec.import->secretRef)
    return makeError(ErrorCode::kInvalidArgument, "spec.import.secretRef: required for origin External");

  // 1. The wrapping key of the current window, for this version.
  std::optional<v1::WrappingKeyStatus>& wk = st.wrappingKey;
  const bool current = wk && wk->version == c.version && wk->expiresAt && c.now < *wk->expiresAt;
  if (!current) {
    int serial = 1;
    if (wk) {
      backends::KeyRef old = c.spec.ref;
      old.version = static_cast<int>(wk->version);
      if (wk->version == c.version) serial = static_cast<int>(wk->serial) + 1;
      RETURN_IF_ERROR(c.backend->destroyWrappingKey(old, static_cast<int>(wk->serial)));
    }
    ASSIGN_OR_RETURN(backends::WrappingKey made, c.backend->createWrappingKey(c.spec.ref, serial));
    v1::WrappingKeyStatus next;
    for (auto f : made.formats) next.algorithms.push_back(wrappingFormatName(f));
    next.algorithm = next.algorithms.front();
    next.publicKeyPem = made.publicKeyPem;
    next.expiresAt = c.now + std::chrono::duration_cast<WallTime::duration>(c.importWindow);
    next.version = c.version;
    next.serial = serial;
    wk = next;
    ImportOutcome o = waiting(c, st, "WaitingForMaterial", nextStep(c, *wk));
    v1::AuditEvent ev;
    ev.event = "WrappingKeyPublished";
    ev.version = c.version;
    ev.message = "wrapping key " + made.backendKeyId + " (RSA-3072, unwrap only) published for version " +
                 std::to_string(c.version) + " until " + formatRfc3339(*wk->expiresAt);
    ev.affectedSystems = key.spec.affectedSystems;
    o.audit = ev;
    return o;
  }
  const std::string wrappingKeyId = c.spec.ref.backendKeyId() + "/wrap" + std::to_string(wk->serial);

  // 2. The tenant's Secret.
  const auto& ref = *key.spec.import->secretRef;
  auto secret = c.client->get(kube::resources::secrets(), key.metadata.namespace_, ref.name);
  if (!secret.ok()) {
    if (secret.error().code == ErrorCode::kNotFound)
      return waiting(c, st, "SecretNotFound", secretText(c) + " does not exist yet: " + nextStep(c, *wk));
    if (secret.error().code == ErrorCode::kPermissionDenied)
      return waiting(c, st, "SecretForbidden", nextStep(c, *wk), "SecretForbidden",
                     "the operator may not read " + secretText(c) +
                         ": grant it get on that Secret (keygate wrap -o yaml writes the Role and RoleBinding)");
    return secret.takeError();
  }
  const Json* data = findPath(*secret, "data");
  if (data == nullptr || !data->is_object() || !data->contains(ref.key) || !(*data)[ref.key].is_string())
    return waiting(c, st, "SecretKeyNotFound", nextStep(c, *wk), "SecretKeyNotFound",
                   secretText(c) + " has no data key " + ref.key);
  const Json* ann = findPath(*secret, "metadata.annotations");
  if (ann && ann->is_object() && ann->contains(kWrappingKeyAnnotation) && (*ann)[kWrappingKeyAnnotation].is_string() &&
      (*ann)[kWrappingKeyAnnotation].get<std::string>() != wrappingKeyId)
    return waiting(c, st, "StaleWrappingKey", nextStep(c, *wk), "StaleWrappingKey",
                   secretText(c) + " was wrapped for " + (*ann)[kWrappingKeyAnnotation].get<std::string>() +
                       "; the current wrapping key is " + wrappingKeyId + ": wrap the material again");
  auto decoded = base64Decode((*data)[ref.key].get<std::string>());
  if (!decoded.ok() || decoded->empty())
    return waiting(c, st, "InvalidMaterial", nextStep(c, *wk), "InvalidMaterial", secretText(c) + " is not valid base64 data");
  backends::WrappedKeyMaterial material;
  material.blob.assign(decoded->begin(), decoded->end());
  OPENSSL_cleanse(decoded->data(), decoded->size());
  auto format = formatOf(*secret, material.blob.size(), *wk);
  if (!format.ok()) {
    OPENSSL_cleanse(material.blob.data(), material.blob.size());
    return waiting(c, st, "UnsupportedFormat", nextStep(c, *wk), "UnsupportedFormat", format.error().message);
  }
  material.format = *format;
  if (ann && ann->is_object() && ann->contains(kPublicKeyAnnotation) && (*ann)[kPublicKeyAnnotation].is_string())
    material.publicKeyPem = (*ann)[kPublicKeyAnnotation].get<std::string>();

  // 3. Unwrap inside the backend.
  auto imported = c.backend->importWrapped(c.spec, static_cast<int>(wk->serial), material);
  OPENSSL_cleanse(material.blob.data(), material.blob.size());
  if (!imported.ok()) {
    const Error& e = imported.error();
    if (e.code == ErrorCode::kInvalidArgument)
      return waiting(c, st, "ImportRejected", nextStep(c, *wk), "ImportRejected",
                     "version " + std::to_string(c.version) + " not imported from " + secretText(c) + ": " + e.message);
    if (e.code == ErrorCode::kFailedPrecondition) {
      wk.reset();  // the wrapping key is gone: the next pass publishes a new one
      ImportOutcome o;
      o.requeueAfter = Duration::zero();
      return o;
    }
    return imported.takeError();
  }
  v->state = v1::KeyState::kPreActive;
  v->createdAt = c.now;  // the PreActive TTL runs from the import
  v->backendKeyId = imported->backendKeyId;
  v->fingerprint = imported->fingerprint;
  if (auto s = c.backend->destroyWrappingKey(c.spec.ref, static_cast<int>(wk->serial)); !s.ok())
    logger().warn("wrapping key not destroyed after import", {{"wrappingKey", wrappingKeyId}, {"error", s.error().toString()}});
  const std::string done = "version " + std::to_string(c.version) + " imported PreActive from " + secretText(c) + " (" +
                           wrappingFormatName(material.format) + ", fingerprint " + imported->fingerprint +
                           "); no operation permitted until activation";
  wk.reset();
  condition(st, "ImportPending", false, "Imported", done, c);
  condition(st, "ImportFailed", false, "NoFailure", "no import was refused", c);
  ImportOutcome o;
  o.imported = true;
  o.requeueAfter = Duration::zero();  // decide() sees the PreActive version (TTL, waiting requests)
  v1::AuditEvent ev;
  ev.event = "KeyImported";
  ev.version = c.version;
  ev.message = done;
  ev.affectedSystems = key.spec.affectedSystems;
  o.audit = ev;
  return o;
}

}  // namespace keygate::controllers

#pragma once
// Fixture builders for keygate.dev/v1alpha1 objects (cert-manager test/unit/gen style):
//   gen::key("k", withPurpose(Purpose::kSign), withAlgorithm(Algorithm::kEcP256))
// Defaults: namespace tenant-a, Encrypt / AES-256 / softhsm, generation 1, schema defaults.

#include <string>
#include <utility>
#include <vector>

#include "api/v1alpha1/defaults.h"
#include "api/v1alpha1/encryption_key.h"
#include "api/v1alpha1/key_activation_request.h"
#include "api/v1alpha1/key_role_binding.h"
#include "common/time.h"

namespace keygate::testing::gen {

using namespace keygate::api::v1alpha1;

// 2027-01-15T08:00:00Z: a fixed "now" for tables.
inline WallTime t0() { return *parseRfc3339("2027-01-15T08:00:00Z"); }
inline WallTime at(std::string_view rfc3339) { return *parseRfc3339(rfc3339); }

template <typename T, typename... Mods>
T apply(T obj, Mods&&... mods) {
  (mods(obj), ...);
  return obj;
}

template <typename... Mods>
EncryptionKey key(std::string name, Mods&&... mods) {
  EncryptionKey k;
  k.metadata.name = std::move(name);
  k.metadata.namespace_ = "tenant-a";
  k.metadata.uid = "uid-" + k.metadata.name;
  k.metadata.generation = 1;
  k.spec.purpose = Purpose::kEncrypt;
  k.spec.algorithm = Algorithm::kAes256;
  k.spec.backend = "softhsm";
  applySchemaDefaults(k);
  return apply(std::move(k), std::forward<Mods>(mods)...);
}

inline auto withPurpose(Purpose p) {
  return [p](EncryptionKey& k) { k.spec.purpose = p; };
}
inline auto withAlgorithm(Algorithm a) {
  return [a](EncryptionKey& k) { k.spec.algorithm = a; };
}
inline auto withNamespace(std::string ns) {
  return [ns](auto& o) { o.metadata.namespace_ = ns; };
}
inline auto withGeneration(int64_t g) {
  return [g](auto& o) { o.metadata.generation = g; };
}
inline auto withRequiredApprovals(int64_t n) {
  return [n](EncryptionKey& k) { k.spec.activation.requiredApprovals = n; };
}
inline auto withPreActiveTTL(std::string d) {
  return [d](EncryptionKey& k) { k.spec.activation.preActiveTTL = d; };
}
inline auto withNotBefore(std::string t) {
  return [t](EncryptionKey& k) { k.spec.activation.notBefore = t; };
}
inline auto withRotation(std::string period, bool requireApproval = true) {
  return [=](EncryptionKey& k) { k.spec.rotation = RotationSpec{period, requireApproval}; };
}
inline auto withDeactivate(bool b = true) {
  return [b](EncryptionKey& k) { k.spec.deactivate = b; };
}
inline auto withCompromised(std::string reason) {
  return [reason](EncryptionKey& k) { k.spec.compromised = CompromisedSpec{reason}; };
}
inline auto withScheduleDestruction(bool b = true) {
  return [b](EncryptionKey& k) { k.spec.scheduleDestruction = b; };
}
inline auto withDestruction(DestructionPolicy p, std::string window = "168h") {
  return [=](EncryptionKey& k) { k.spec.destruction = DestructionSpec{p, window}; };
}
inline auto withJurisdiction(std::string j) {
  return [j](EncryptionKey& k) { k.spec.jurisdiction = j; };
}
inline auto withBackend(std::string b) {
  return [b](EncryptionKey& k) { k.spec.backend = b; };
}
inline auto withExternalOrigin(std::string secret = "wrapped", std::string key = "blob") {
  return [=](EncryptionKey& k) {
    k.spec.origin = Origin::kExternal;
    k.spec.import = ImportSpec{SecretKeyRef{secret, key, ""}};
  };
}
inline auto withFinalizer() {
  return [](EncryptionKey& k) { k.metadata.finalizers.emplace_back(kBackendCleanupFinalizer); };
}
inline auto deletedAt(WallTime t) {
  return [t](auto& o) { o.metadata.deletionTimestamp = t; };
}
inline auto withAnnotation(std::string k, std::string v) {
  return [=](auto& o) { o.metadata.annotations[k] = v; };
}
inline auto withState(KeyState s) {
  return [s](EncryptionKey& k) { k.status.state = s; };
}
// Appends a version to status (and makes it current when it is the first).
inline auto withVersion(int64_t v, KeyState s, WallTime createdAt, std::optional<WallTime> activatedAt = {}) {
  return [=](EncryptionKey& k) {
    KeyVersionStatus vs;
    vs.version = v;
    vs.state = s;
    vs.createdAt = createdAt;
    vs.activatedAt = activatedAt;
    k.status.versions.push_back(vs);
    if (k.status.currentVersion == 0) k.status.currentVersion = v;
  };
}
inline auto withCurrentVersion(int64_t v) {
  return [v](EncryptionKey& k) { k.status.currentVersion = v; };
}

template <typename... Mods>
KeyActivationRequest request(std::string name, std::string keyName, Mods&&... mods) {
  KeyActivationRequest r;
  r.metadata.name = std::move(name);
  r.metadata.namespace_ = "tenant-a";
  r.metadata.uid = "uid-" + r.metadata.name;
  r.metadata.generation = 1;
  r.spec.keyRef.name = std::move(keyName);
  r.spec.reason = "Production rollout";
  r.spec.changeReference = "CHG-1234";
  r.spec.requester = "alice";
  return apply(std::move(r), std::forward<Mods>(mods)...);
}

inline auto withApproval(std::string approver, Decision d = Decision::kApprove) {
  return [=](KeyActivationRequest& r) {
    r.spec.approvals.push_back(Approval{approver, d, "ok", "2027-01-15T07:00:00Z", "sha256:abc", "sig"});
  };
}
// Phase Approved with `received` valid approvals (what the request reconciler writes).
inline auto approved(int64_t received, int64_t required = 1) {
  return [=](KeyActivationRequest& r) {
    r.status.phase = RequestPhase::kApproved;
    r.status.approvalsReceived = received;
    r.status.approvalsRequired = required;
    r.status.approvals = formatApprovals(received, required);
  };
}
inline auto withPhase(RequestPhase p) {
  return [p](KeyActivationRequest& r) { r.status.phase = p; };
}
inline auto forVersion(int64_t v) {
  return [v](KeyActivationRequest& r) { r.spec.keyRef.version = v; };
}

template <typename... Mods>
KeyRoleBinding binding(std::string name, Role role, std::vector<Subject> subjects, Mods&&... mods) {
  KeyRoleBinding b;
  b.metadata.name = std::move(name);
  b.metadata.namespace_ = "tenant-a";
  b.metadata.generation = 1;
  b.spec.role = role;
  b.spec.subjects = std::move(subjects);
  b.spec.reviewBy = "2027-06-30";
  return apply(std::move(b), std::forward<Mods>(mods)...);
}
inline Subject user(std::string n) { return Subject{SubjectKind::kUser, std::move(n), ""}; }
inline Subject group(std::string n) { return Subject{SubjectKind::kGroup, std::move(n), ""}; }
inline Subject serviceAccount(std::string n, std::string ns = "tenant-a") {
  return Subject{SubjectKind::kServiceAccount, std::move(n), std::move(ns)};
}

}  // namespace keygate::testing::gen

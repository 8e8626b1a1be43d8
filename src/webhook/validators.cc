#include "webhook/validators.h"

#include <algorithm>
#include <optional>
#include <string>

#include "api/v1alpha1/codec.h"
#include "api/v1alpha1/validation.h"

namespace keygate::webhook {
namespace av1 = api::v1alpha1;

namespace {

using av1::FieldErrors;

std::string dq(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Errors in `now` that `before` did not already have (see validators.h).
FieldErrors introduced(const FieldErrors& now, const FieldErrors& before) {
  FieldErrors out;
  for (const auto& e : now)
    if (std::find(before.begin(), before.end(), e) == before.end()) out.push_back(e);
  return out;
}

AdmissionResponse invalid(const AdmissionRequest& req, const std::string& what, const FieldErrors& errs) {
  return AdmissionResponse::deny(req.uid, 422, "Invalid",
                                 what + " is invalid: " + av1::joinErrors(errs) + " (fix these fields and retry)");
}

AdmissionResponse forbidden(const AdmissionRequest& req, std::string message) {
  return AdmissionResponse::deny(req.uid, 403, "Forbidden", std::move(message));
}

AdmissionResponse undecodable(const AdmissionRequest& req, const std::string& which, const Error& e) {
  return AdmissionResponse::deny(req.uid, 400, "BadRequest",
                                 "cannot decode " + which + " " + req.kind.kind + ": " + e.message);
}

std::string objectName(const AdmissionRequest& req) { return req.namespace_ + "/" + req.name; }

// "…: dave holds no current KeyApprover binding …" with the concrete remedy.
std::string roleRemedy(const RoleGrant& g, av1::Role role, const std::string& user, const std::string& ns,
                       const std::string& keyName) {
  const std::string r(av1::toString(role));
  if (!g.overdueBindings.empty())
    return user + "'s " + r + " binding(s) " + joinNames(g.overdueBindings) + " in namespace " + ns +
           " are past their reviewBy date and grant nothing until renewed: ask a namespace administrator to "
           "review them and move spec.reviewBy forward";
  if (!g.selectorMismatchBindings.empty())
    return user + "'s " + r + " binding(s) " + joinNames(g.selectorMismatchBindings) + " in namespace " + ns +
           " do not select key " + keyName + " (spec.keySelector does not match the key's labels)";
  return user + " holds no current " + r + " KeyRoleBinding in namespace " + ns +
         " (by user name, group or service account): ask a namespace administrator for a KeyRoleBinding with "
         "role " + r;
}

// ---- KeyActivationRequest -----------------------------------------------------------------

AdmissionResponse validateRequestCreate(const AdmissionRequest& req, const AdmissionContext& ctx) {
  auto r = av1::decodeKeyActivationRequest(req.object);
  if (!r.ok()) return undecodable(req, "object", r.error());
  const auto& user = req.userInfo.username;
  if (r->spec.requester != user)
    return forbidden(req, "spec.requester must be the creating user " + dq(user) + ", got " + dq(r->spec.requester) +
                              ": keygate's mutating webhook stamps it; check that the MutatingWebhookConfiguration "
                              "for keyactivationrequests is installed");
  if (!r->spec.approvals.empty())
    return forbidden(req, "spec.approvals must be empty when a request is created: approvers add their decision "
                          "later, each with an update of their own");
  FieldErrors errs = av1::validateCreate(*r, ctx.policy);
  AdmissionResponse resp = AdmissionResponse::allow(req.uid);
  if (auto key = ctx.roles.key(req.namespace_, r->spec.keyRef.name)) {
    auto more = av1::validateRequestForKey(*r, *key, ctx.policy);
    errs.insert(errs.end(), more.begin(), more.end());
  } else if (!r->spec.keyRef.name.empty()) {
    resp.warnings.push_back("EncryptionKey " + req.namespace_ + "/" + r->spec.keyRef.name +
                            " does not exist (yet): the request stays Pending until it does");
  }
  if (!errs.empty()) return invalid(req, "KeyActivationRequest " + objectName(req), errs);
  return resp;
}

// Checks the one approval this update appends. Returns a denial or nullopt.
std::optional<AdmissionResponse> checkNewApproval(const AdmissionRequest& req, const AdmissionContext& ctx,
                                                  const av1::KeyActivationRequest& oldR,
                                                  const av1::KeyActivationRequest& newR, size_t index) {
  const auto& user = req.userInfo.username;
  const auto& a = newR.spec.approvals[index];
  const std::string field = "spec.approvals[" + std::to_string(index) + "]";
  const std::string what = user + " cannot " + (a.decision == av1::Decision::kDeny ? "deny" : "approve");
  if (a.decision == av1::Decision::kUnspecified)
    return invalid(req, "KeyActivationRequest " + objectName(req),
                   {{field + ".decision", "Required value: Approve or Deny"}});

  if (a.approver != user)
    return forbidden(req, field + ".approver must be the updating user " + dq(user) + ", got " + dq(a.approver) +
                              ": keygate's mutating webhook stamps it; check that the MutatingWebhookConfiguration "
                              "for keyactivationrequests is installed");
  for (size_t i = 0; i < oldR.spec.approvals.size(); ++i)
    if (oldR.spec.approvals[i].approver == user)
      return forbidden(req, what + ": " + user + " already recorded a decision on this request (spec.approvals[" +
                                std::to_string(i) + "]); each approver decides once and entries cannot be changed");
  switch (oldR.status.phase) {
    case av1::RequestPhase::kActivated:
    case av1::RequestPhase::kDenied:
    case av1::RequestPhase::kExpired:
    case av1::RequestPhase::kFailed:
      return forbidden(req, what + ": request " + objectName(req) + " is already " +
                                std::string(av1::toString(oldR.status.phase)) +
                                "; create a new KeyActivationRequest to start over");
    default: break;
  }
  if (user == newR.spec.requester && !ctx.policy.segregationOfDuties.requesterMayApprove)
    return forbidden(req, what + ": " + user +
                              " is the requester of this activation request; segregation of duties requires a "
                              "different approver");

  auto key = ctx.roles.key(req.namespace_, newR.spec.keyRef.name);
  if (!key)
    return AdmissionResponse::deny(req.uid, 404, "NotFound",
                                   what + ": EncryptionKey " + req.namespace_ + "/" + newR.spec.keyRef.name +
                                       " was not found (if it was just created, retry in a moment)");
  auto creator = key->metadata.annotations.find(std::string(av1::kCreatedByAnnotation));
  if (creator != key->metadata.annotations.end() && creator->second == user &&
      !ctx.policy.segregationOfDuties.creatorMayApprove)
    return forbidden(req, what + ": " + user + " created key " + key->metadata.name +
                              "; segregation of duties requires an approver other than the key's creator");

  RoleGrant grant = holdsRole(ctx.roles.bindings(req.namespace_), req.userInfo, av1::Role::kKeyApprover,
                              req.namespace_, &*key, ctx.now);
  if (!grant.granted)
    return forbidden(req, what + " key " + key->metadata.name + ": " +
                              roleRemedy(grant, av1::Role::kKeyApprover, user, req.namespace_, key->metadata.name));

  // The stamp must be keygate's own: a missing or foreign signature means the mutating
  // webhook did not run (or the client forged the entry).
  SignedFields f{oldR.metadata.uid, key->metadata.uid, a.specHash, a.approver, std::string(av1::toString(a.decision)),
                 a.time, a.approverGroups};
  if (a.specHash != computeSpecHash(newR.spec, key->spec) || !ctx.signer.verify(f, a.signature))
    return forbidden(req, field + " is not stamped by keygate (specHash/signature missing or wrong): approvals are "
                                  "signed by keygate's mutating webhook; check that it is installed and that you "
                                  "did not set time, specHash, approverGroups or signature yourself");
  return std::nullopt;
}

AdmissionResponse validateRequestUpdate(const AdmissionRequest& req, const AdmissionContext& ctx) {
  auto oldR = av1::decodeKeyActivationRequest(req.oldObject);
  if (!oldR.ok()) return undecodable(req, "oldObject", oldR.error());
  auto newR = av1::decodeKeyActivationRequest(req.object);
  if (!newR.ok()) return undecodable(req, "object", newR.error());
  const auto& oa = oldR->spec.approvals;
  const auto& na = newR->spec.approvals;

  FieldErrors errs = introduced(av1::validateUpdate(*oldR, *newR, ctx.policy), av1::validateUpdate(*oldR, *oldR, ctx.policy));
  if (oldR->spec.requester.empty() && !newR->spec.requester.empty())
    errs.push_back({"spec.requester", "field is immutable (it is stamped on create only)"});
  {
    const std::string annotation(av1::kApprovalsRequiredAnnotation);
    auto o = oldR->metadata.annotations.find(annotation), n = newR->metadata.annotations.find(annotation);
    const bool hadIt = o != oldR->metadata.annotations.end(), hasIt = n != newR->metadata.annotations.end();
    if (hadIt != hasIt || (hadIt && o->second != n->second))
      errs.push_back({"metadata.annotations[" + annotation + "]", "field is immutable (it is stamped on create only)"});
  }

  // Identity and role rules for what this update appends (append-only itself is a field rule).
  bool appendOnly = na.size() >= oa.size() && std::equal(oa.begin(), oa.end(), na.begin());
  if (appendOnly && na.size() > oa.size()) {
    if (na.size() - oa.size() > 1)
      return forbidden(req, "add one approval per update: this update appends " + std::to_string(na.size() - oa.size()) +
                                " entries to spec.approvals, but each entry is stamped with the identity of the "
                                "user who adds it");
    if (auto denial = checkNewApproval(req, ctx, *oldR, *newR, oa.size())) return *denial;
  }
  if (!errs.empty()) return invalid(req, "KeyActivationRequest " + objectName(req), errs);
  return AdmissionResponse::allow(req.uid);
}

// ---- EncryptionKey -------------------------------------------------------------------------

bool compromisedChanged(const av1::EncryptionKeySpec& o, const av1::EncryptionKeySpec& n) {
  auto reason = [](const av1::EncryptionKeySpec& s) { return s.compromised ? s.compromised->reason : std::string(); };
  return reason(o) != reason(n);
}

// A key may not contradict its namespace's jurisdiction label (the platform team's).
std::optional<AdmissionResponse> checkNamespaceJurisdiction(const AdmissionRequest& req, const AdmissionContext& ctx,
                                                            const av1::EncryptionKey& k) {
  const std::string label = ctx.roles.namespaceJurisdiction(req.namespace_);
  if (label.empty() || k.spec.jurisdiction == label) return std::nullopt;
  return forbidden(req, "namespace " + req.namespace_ + " is in jurisdiction " + dq(label) + " (label " +
                            std::string(av1::kJurisdictionLabel) + "): EncryptionKey " + objectName(req) +
                            " cannot have spec.jurisdiction " + dq(k.spec.jurisdiction) +
                            "; leave it empty to take the namespace's");
}

AdmissionResponse validateKeyCreate(const AdmissionRequest& req, const AdmissionContext& ctx) {
  auto k = av1::decodeEncryptionKey(req.object);
  if (!k.ok()) return undecodable(req, "object", k.error());
  const auto& user = req.userInfo.username;
  if (k->metadata.annotations.count(std::string(av1::kRequestedByAnnotation)))
    return forbidden(req, "metadata.annotations[" + std::string(av1::kRequestedByAnnotation) +
                              "] is set by keygate; clients cannot set it");
  const std::string annotation(av1::kCreatedByAnnotation);
  auto it = k->metadata.annotations.find(annotation);
  if (it == k->metadata.annotations.end() || it->second != user)
    return forbidden(req, "metadata.annotations[" + annotation + "] must be the creating user " + dq(user) +
                              ": keygate's mutating webhook stamps it; check that the MutatingWebhookConfiguration "
                              "for encryptionkeys is installed");
  if (auto denial = checkNamespaceJurisdiction(req, ctx, *k)) return *denial;
  FieldErrors errs = av1::validateCreate(*k, ctx.policy);
  if (!errs.empty()) return invalid(req, "EncryptionKey " + objectName(req), errs);
  return AdmissionResponse::allow(req.uid);
}

// A key that kube-apiserver encrypts Secrets with (affectedSystems names kube-apiserver, as
// docs/kms-plugin.md sets it up): destroying it makes every Secret still sealed under it
// unreadable. Not refused (the pending window and cancellation exist), but said where the
// person asking sees it: kubectl prints admission warnings.
static std::optional<std::string> kmsDestructionWarning(const av1::EncryptionKey& k, const std::string& name) {
  for (const auto& s : k.spec.affectedSystems)
    if (s == "kube-apiserver")
      return "EncryptionKey " + name +
             " encrypts kube-apiserver's Secrets (affectedSystems: kube-apiserver): destruction takes every "
             "version, and every Secret still sealed under any of them becomes unreadable for good. Before the "
             "pending window ends, move kube-apiserver to a new key and rewrite every Secret "
             "(kubectl get secrets -A -o json | kubectl replace -f -), see docs/kms-plugin.md \"Retiring the key\"";
  return std::nullopt;
}

AdmissionResponse validateKeyUpdate(const AdmissionRequest& req, const AdmissionContext& ctx) {
  auto oldK = av1::decodeEncryptionKey(req.oldObject);
  if (!oldK.ok()) return undecodable(req, "oldObject", oldK.error());
  auto newK = av1::decodeEncryptionKey(req.object);
  if (!newK.ok()) return undecodable(req, "object", newK.error());
  const auto& o = oldK->spec;
  const auto& n = newK->spec;

  std::vector<std::string> adminFields;
  if (o.deactivate != n.deactivate) adminFields.push_back("spec.deactivate");
  if (compromisedChanged(o, n)) adminFields.push_back("spec.compromised");
  if (o.scheduleDestruction != n.scheduleDestruction) adminFields.push_back("spec.scheduleDestruction");
  {
    const std::string rotate(av1::kRotateRequestedAtAnnotation);
    auto was = oldK->metadata.annotations.find(rotate), now = newK->metadata.annotations.find(rotate);
    const bool hadIt = was != oldK->metadata.annotations.end(), hasIt = now != newK->metadata.annotations.end();
    if (hadIt != hasIt || (hadIt && was->second != now->second))
      adminFields.push_back("metadata.annotations[" + rotate + "]");
  }
  if (!adminFields.empty()) {
    // The key as it is (old labels): relabelling in the same update cannot widen a selector.
    RoleGrant g = holdsRole(ctx.roles.bindings(req.namespace_), req.userInfo, av1::Role::kKeyAdministrator,
                            req.namespace_, &*oldK, ctx.now);
    if (!g.granted)
      return forbidden(req, req.userInfo.username + " cannot change " + joinNames(adminFields) + " on key " +
                                objectName(req) + ": only a KeyAdministrator may set deactivate, compromised, "
                                "scheduleDestruction or ask for a rotation; " +
                                roleRemedy(g, av1::Role::kKeyAdministrator, req.userInfo.username, req.namespace_,
                                           oldK->metadata.name));
  }

  if (o.jurisdiction != n.jurisdiction)
    if (auto denial = checkNamespaceJurisdiction(req, ctx, *newK)) return *denial;
  {
    // keygate.dev/requested-by is the webhook's: it changes only to the user who changes an
    // admin field (the mutating webhook stamps it; anything else means it was bypassed).
    const std::string rb(av1::kRequestedByAnnotation);
    auto before = oldK->metadata.annotations.find(rb), after = newK->metadata.annotations.find(rb);
    const std::string was = before == oldK->metadata.annotations.end() ? "" : before->second;
    const std::string now = after == newK->metadata.annotations.end() ? "" : after->second;
    if (was != now && (adminFields.empty() || now != req.userInfo.username))
      return forbidden(req, "metadata.annotations[" + rb + "] is set by keygate to the user who changes "
                            "spec.deactivate, spec.compromised, spec.scheduleDestruction or asks for a rotation; clients cannot set it");
  }
  FieldErrors errs = introduced(av1::validateUpdate(*oldK, *newK, ctx.policy), av1::validateUpdate(*oldK, *oldK, ctx.policy));
  const std::string annotation(av1::kCreatedByAnnotation);
  if (!oldK->metadata.annotations.count(annotation) && newK->metadata.annotations.count(annotation))
    errs.push_back({"metadata.annotations[" + annotation + "]", "field is immutable (it is stamped on create only)"});
  if (o.origin != n.origin && (o.origin == av1::Origin::kUnspecified || n.origin == av1::Origin::kUnspecified) &&
      (o.origin == av1::Origin::kExternal || n.origin == av1::Origin::kExternal))
    errs.push_back({"spec.origin", "field is immutable"});
  if (!errs.empty()) return invalid(req, "EncryptionKey " + objectName(req), errs);
  AdmissionResponse ok = AdmissionResponse::allow(req.uid);
  if (n.scheduleDestruction && !o.scheduleDestruction)
    if (auto w = kmsDestructionWarning(*newK, objectName(req))) ok.warnings.push_back(*w);
  return ok;
}

AdmissionResponse validateKeyDelete(const AdmissionRequest& req) {
  if (!req.oldObject.is_object()) return AdmissionResponse::allow(req.uid);
  auto k = av1::decodeEncryptionKey(req.oldObject);
  if (!k.ok()) return AdmissionResponse::allow(req.uid);  // nothing to protect that we can read
  FieldErrors errs = av1::validateDelete(*k);
  if (!errs.empty())
    return forbidden(req, "cannot delete EncryptionKey " + objectName(req) + ": " + av1::joinErrors(errs));
  AdmissionResponse ok = AdmissionResponse::allow(req.uid);
  if (k->spec.destruction.policy == av1::DestructionPolicy::kDestroy)
    if (auto w = kmsDestructionWarning(*k, objectName(req))) ok.warnings.push_back(*w);
  return ok;
}

// ---- KeyRoleBinding ------------------------------------------------------------------------

AdmissionResponse validateBinding(const AdmissionRequest& req, const AdmissionContext& ctx) {
  auto b = av1::decodeKeyRoleBinding(req.object);
  if (!b.ok()) return undecodable(req, "object", b.error());
  FieldErrors errs;
  if (req.operation == "CREATE") {
    errs = av1::validateCreate(*b, ctx.policy);
  } else {
    auto oldB = av1::decodeKeyRoleBinding(req.oldObject);
    if (!oldB.ok()) return undecodable(req, "oldObject", oldB.error());
    errs = introduced(av1::validateUpdate(*oldB, *b, ctx.policy), av1::validateUpdate(*oldB, *oldB, ctx.policy));
  }
  if (!errs.empty()) return invalid(req, "KeyRoleBinding " + objectName(req), errs);
  // The object in the review may lack namespace on CREATE: the request's namespace is authoritative.
  if (b->metadata.namespace_.empty()) b->metadata.namespace_ = req.namespace_;
  if (b->metadata.name.empty()) b->metadata.name = req.name;
  FieldErrors sod = av1::validateSegregation(*b, ctx.roles.bindings(req.namespace_));
  if (!sod.empty())
    return forbidden(req, "KeyRoleBinding " + objectName(req) + " would break segregation of duties: " +
                              av1::joinErrors(sod) +
                              ". A subject may hold KeyAdministrator or KeyApprover in a namespace, not both: remove "
                              "the subject from one of the bindings");
  return AdmissionResponse::allow(req.uid);
}

}  // namespace

AdmissionResponse validateKeyActivationRequest(const AdmissionRequest& req, const AdmissionContext& ctx) {
  if (req.operation == "CREATE") return validateRequestCreate(req, ctx);
  if (req.operation == "UPDATE") return validateRequestUpdate(req, ctx);
  return AdmissionResponse::allow(req.uid);
}

AdmissionResponse validateEncryptionKey(const AdmissionRequest& req, const AdmissionContext& ctx) {
  if (req.operation == "CREATE") return validateKeyCreate(req, ctx);
  if (req.operation == "UPDATE") return validateKeyUpdate(req, ctx);
  if (req.operation == "DELETE") return validateKeyDelete(req);
  return AdmissionResponse::allow(req.uid);
}

AdmissionResponse validateKeyRoleBinding(const AdmissionRequest& req, const AdmissionContext& ctx) {
  if (req.operation == "CREATE" || req.operation == "UPDATE") return validateBinding(req, ctx);
  return AdmissionResponse::allow(req.uid);
}

}  // namespace keygate::webhook

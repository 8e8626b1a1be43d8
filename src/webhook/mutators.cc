#include "webhook/mutators.h"

#include <optional>

#include "api/v1alpha1/codec.h"
#include "api/v1alpha1/defaults.h"
#include "api/v1alpha1/roles.h"
#include "common/time.h"

namespace keygate::webhook {
namespace av1 = api::v1alpha1;

namespace {

Json addOp(const std::string& path, Json value) {
  return Json{{"op", "add"}, {"path", path}, {"value", std::move(value)}};
}

std::optional<std::string> annotationOf(const Json& object, const std::string& name) {
  const Json* a = findPath(object, "metadata.annotations");
  if (!a || !a->is_object()) return std::nullopt;
  auto it = a->find(name);
  if (it == a->end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// Appends to `patch` what sets annotation `name` of `object` to `value` (nullopt: removes
// it when present), whatever of metadata.annotations exists yet.
void setAnnotation(Json& patch, const Json& object, const std::string& name, const std::optional<std::string>& value) {
  const Json* meta = findPath(object, "metadata");
  const Json* annotations = meta ? findPath(*meta, "annotations") : nullptr;
  const bool hasMap = annotations && annotations->is_object();
  if (!patch.is_array()) patch = Json::array();
  if (!value) {
    if (hasMap && annotations->contains(name))
      patch.push_back({{"op", "remove"}, {"path", "/metadata/annotations/" + jsonPointerEscape(name)}});
  } else if (hasMap) {
    patch.push_back(addOp("/metadata/annotations/" + jsonPointerEscape(name), *value));
  } else if (meta && meta->is_object()) {
    patch.push_back(addOp("/metadata/annotations", Json{{name, *value}}));
  } else {
    patch.push_back(addOp("/metadata", Json{{"annotations", Json{{name, *value}}}}));
  }
}

AdmissionResponse mutateRequestCreate(const AdmissionRequest& req, const AdmissionContext& ctx) {
  AdmissionResponse resp = AdmissionResponse::allow(req.uid);
  const Json* spec = findPath(req.object, "spec");
  if (!spec || !spec->is_object()) return resp;  // the schema (spec required) rejects it
  std::string given = getString(*spec, "requester");
  if (!given.empty() && given != req.userInfo.username)
    resp.warnings.push_back("spec.requester is set by keygate from your identity: \"" + given + "\" was replaced by \"" +
                            req.userInfo.username + "\"");
  resp.patch = Json::array({addOp("/spec/requester", req.userInfo.username)});
  // The bar is fixed now: lowering the key's requiredApprovals later does not lower it.
  std::optional<std::string> required;
  if (auto key = ctx.roles.key(req.namespace_, getString(*spec, "keyRef.name")))
    required = std::to_string(av1::effectiveRequiredApprovals(key->spec, ctx.policy));
  setAnnotation(resp.patch, req.object, std::string(av1::kApprovalsRequiredAnnotation), required);
  return resp;
}

AdmissionResponse mutateRequestUpdate(const AdmissionRequest& req, const AdmissionContext& ctx) {
  AdmissionResponse resp = AdmissionResponse::allow(req.uid);
  auto oldR = av1::decodeKeyActivationRequest(req.oldObject);
  auto newR = av1::decodeKeyActivationRequest(req.object);
  if (!oldR.ok() || !newR.ok()) return resp;  // the validator reports the decode error
  const auto& oa = oldR->spec.approvals;
  const auto& na = newR->spec.approvals;
  if (na.size() <= oa.size()) return resp;  // nothing appended (removals are the validator's business)

  auto key = ctx.roles.key(req.namespace_, newR->spec.keyRef.name);
  if (!key)
    return AdmissionResponse::deny(
        req.uid, 404, "NotFound",
        "cannot record an approval: EncryptionKey " + req.namespace_ + "/" + newR->spec.keyRef.name +
            " was not found (approvals are signed over the key's spec; if the key was just created, retry in a moment)");
  const std::string requestUid = oldR->metadata.uid;  // CREATE-time objects have none: see mutators.h
  const std::string specHash = computeSpecHash(newR->spec, key->spec);
  const std::string time = formatRfc3339(ctx.now);
  // The groups through which the role is held now (the validator denies when it is not).
  const std::vector<std::string> groups =
      av1::holdsRole(ctx.roles.bindings(req.namespace_), req.userInfo, av1::Role::kKeyApprover, req.namespace_,
                     &*key, ctx.now)
          .grantingGroups;
  resp.patch = Json::array();
  for (size_t i = oa.size(); i < na.size(); ++i) {
    const auto& a = na[i];
    if (a.decision == av1::Decision::kUnspecified) continue;  // validator: decision Required
    const std::string base = "/spec/approvals/" + std::to_string(i);
    SignedFields f{requestUid, key->metadata.uid, specHash, req.userInfo.username,
                   std::string(av1::toString(a.decision)), time, groups};
    if (!a.approver.empty() && a.approver != req.userInfo.username)
      resp.warnings.push_back("spec.approvals[" + std::to_string(i) + "].approver is set by keygate from your identity: \"" +
                              a.approver + "\" was replaced by \"" + req.userInfo.username + "\"");
    resp.patch.push_back(addOp(base + "/approver", req.userInfo.username));
    resp.patch.push_back(addOp(base + "/time", time));
    resp.patch.push_back(addOp(base + "/specHash", specHash));
    if (!groups.empty()) {
      resp.patch.push_back(addOp(base + "/approverGroups", groups));
    } else if (const Json* given = findPath(req.object, "spec"); given && given->contains("approvals") &&
               (*given)["approvals"].is_array() && i < (*given)["approvals"].size() &&
               (*given)["approvals"][i].is_object() && (*given)["approvals"][i].contains("approverGroups")) {
      resp.patch.push_back(Json{{"op", "remove"}, {"path", base + "/approverGroups"}});
    }
    if (!a.approverGroups.empty() && a.approverGroups != groups)
      resp.warnings.push_back("spec.approvals[" + std::to_string(i) +
                              "].approverGroups is set by keygate from the bindings that grant you KeyApprover");
    resp.patch.push_back(addOp(base + "/signature", ctx.signer.sign(f)));
  }
  return resp;
}

// keygate.dev/created-by: the creating user, whatever the client sent.
AdmissionResponse mutateKeyCreatedBy(const AdmissionRequest& req) {
  AdmissionResponse resp = AdmissionResponse::allow(req.uid);
  if (req.operation != "CREATE") return resp;
  const std::string annotation(av1::kCreatedByAnnotation);
  // Not getString(): the annotation name contains a dot, which it would take for a path.
  const std::optional<std::string> given = annotationOf(req.object, annotation);
  if (given && *given != req.userInfo.username)
    resp.warnings.push_back("annotation " + annotation + " is set by keygate from your identity: \"" + *given +
                            "\" was replaced by \"" + req.userInfo.username + "\"");
  setAnnotation(resp.patch, req.object, annotation, req.userInfo.username);
  return resp;
}

}  // namespace

AdmissionResponse mutateKeyActivationRequest(const AdmissionRequest& req, const AdmissionContext& ctx) {
  if (req.operation == "CREATE") return mutateRequestCreate(req, ctx);
  if (req.operation == "UPDATE") return mutateRequestUpdate(req, ctx);
  return AdmissionResponse::allow(req.uid);
}

namespace {

// The spec fields (and the rotate-requested-at annotation) only a KeyAdministrator changes,
// whose transitions the audit trail attributes to the person (keygate.dev/requested-by).
bool adminFieldsChanged(const Json& oldObject, const Json& object) {
  for (const char* f : {"deactivate", "compromised", "scheduleDestruction"}) {
    const Json* o = findPath(oldObject, std::string("spec.") + f);
    const Json* n = findPath(object, std::string("spec.") + f);
    if ((o == nullptr) != (n == nullptr) || (o && *o != *n)) return true;
  }
  const std::string rotate(av1::kRotateRequestedAtAnnotation);
  return annotationOf(oldObject, rotate) != annotationOf(object, rotate);
}

// keygate.dev/requested-by: the user who changed an admin field; otherwise what it was.
void stampRequestedBy(const AdmissionRequest& req, AdmissionResponse& resp) {
  const std::string annotation(av1::kRequestedByAnnotation);
  std::optional<std::string> want;
  if (req.operation == "UPDATE")
    want = adminFieldsChanged(req.oldObject, req.object) ? std::optional(req.userInfo.username)
                                                          : annotationOf(req.oldObject, annotation);
  const std::optional<std::string> given = annotationOf(req.object, annotation);
  if (given == want) return;
  setAnnotation(resp.patch, req.object, annotation, want);
}

// The key is born with the operator's finalizer, so a delete can never skip the backend's
// cleanup and the operator need not patch every new key (one request, two admission reviews
// and one watch event fewer per key). Fields a mutating webhook adds on create belong to no
// field manager: a later server-side apply (Flux, Argo CD) without the finalizer keeps it.
// The operator still adds it to a key that lacks it (created while the webhook was bypassed,
// or stripped by a client: a JSON merge patch replaces the whole list).
void addBackendCleanupFinalizer(Json& patch, const Json& object) {
  const std::string mine(av1::kBackendCleanupFinalizer);
  const Json* meta = findPath(object, "metadata");
  if (!patch.is_array()) patch = Json::array();
  if (!meta || !meta->is_object()) return;  // not an object the schema admits: nothing to stamp
  const Json* fins = findPath(*meta, "finalizers");
  if (fins && fins->is_array()) {
    for (const auto& f : *fins)
      if (f.is_string() && f.get<std::string>() == mine) return;
    patch.push_back(addOp("/metadata/finalizers/-", mine));
  } else if (!fins || fins->is_null()) {
    patch.push_back(addOp("/metadata/finalizers", Json::array({mine})));
  }  // finalizers of another type: the schema refuses the object
}

}  // namespace

AdmissionResponse mutateEncryptionKey(const AdmissionRequest& req, const AdmissionContext& ctx) {
  AdmissionResponse resp = mutateKeyCreatedBy(req);
  stampRequestedBy(req, resp);
  if (req.operation != "CREATE") return resp;
  addBackendCleanupFinalizer(resp.patch, req.object);
  // The namespace's jurisdiction is the key's default (and the validator refuses another).
  const Json* spec = findPath(req.object, "spec");
  if (spec && spec->is_object() && getString(*spec, "jurisdiction").empty())
    if (std::string j = ctx.roles.namespaceJurisdiction(req.namespace_); !j.empty())
      resp.patch.push_back(addOp("/spec/jurisdiction", j));
  return resp;
}

}  // namespace keygate::webhook

#include "webhook/admission.h"

#include <exception>

#include "api/v1alpha1/common_types.h"
#include "common/log.h"
#include "webhook/mutators.h"
#include "webhook/validators.h"

namespace keygate::webhook {
namespace av1 = api::v1alpha1;

namespace {

const log::Logger& logger() {
  static const log::Logger l("webhook");
  return l;
}

Error bad(std::string msg) { return makeError(ErrorCode::kInvalidArgument, "malformed AdmissionReview: " + msg); }

// Optional string field; wrong type is an error.
Status optString(const Json& obj, const char* key, const std::string& path, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_string()) return bad(path + "." + key + " must be a string");
  *out = it->get<std::string>();
  return okStatus();
}

Status decodeGvk(const Json& req, const char* key, GroupVersionKind* out) {
  auto it = req.find(key);
  if (it == req.end() || it->is_null()) return okStatus();
  if (!it->is_object()) return bad(std::string("request.") + key + " must be an object");
  const std::string p = std::string("request.") + key;
  RETURN_IF_ERROR(optString(*it, "group", p, &out->group));
  RETURN_IF_ERROR(optString(*it, "version", p, &out->version));
  RETURN_IF_ERROR(optString(*it, "kind", p, &out->kind));
  return okStatus();
}

Status decodeUserInfo(const Json& req, UserInfo* out) {
  auto it = req.find("userInfo");
  if (it == req.end() || it->is_null()) return okStatus();  // missing identity: denied later, cleanly
  if (!it->is_object()) return bad("request.userInfo must be an object");
  RETURN_IF_ERROR(optString(*it, "username", "request.userInfo", &out->username));
  RETURN_IF_ERROR(optString(*it, "uid", "request.userInfo", &out->uid));
  auto g = it->find("groups");
  if (g != it->end() && !g->is_null()) {
    if (!g->is_array()) return bad("request.userInfo.groups must be a list of strings");
    for (const auto& x : *g) {
      if (!x.is_string()) return bad("request.userInfo.groups must be a list of strings");
      out->groups.push_back(x.get<std::string>());
    }
  }
  return okStatus();
}

}  // namespace

Result<AdmissionRequest> decodeAdmissionRequest(const Json& review) { return decodeAdmissionRequest(Json(review)); }

Result<AdmissionRequest> decodeAdmissionRequest(Json&& review) {
  if (!review.is_object()) return bad("the body must be a JSON object");
  std::string kind, apiVersion;
  RETURN_IF_ERROR(optString(review, "kind", "", &kind));
  RETURN_IF_ERROR(optString(review, "apiVersion", "", &apiVersion));
  if (kind != "AdmissionReview")
    return bad("expected kind AdmissionReview, got \"" + kind + "\" (is this endpoint registered as an admission webhook?)");
  if (apiVersion != kAdmissionApiVersion)
    return bad("unsupported apiVersion \"" + apiVersion + "\": keygate serves " + std::string(kAdmissionApiVersion) +
               " only (set admissionReviewVersions: [v1] in the webhook configuration)");
  auto it = review.find("request");
  if (it == review.end() || !it->is_object()) return bad("request is missing");
  Json& req = *it;
  AdmissionRequest r;
  RETURN_IF_ERROR(optString(req, "uid", "request", &r.uid));
  if (r.uid.empty()) return bad("request.uid is missing");
  RETURN_IF_ERROR(decodeGvk(req, "kind", &r.kind));
  {
    auto res = req.find("resource");
    if (res != req.end() && !res->is_null()) {
      if (!res->is_object()) return bad("request.resource must be an object");
      RETURN_IF_ERROR(optString(*res, "resource", "request.resource", &r.resource));
    }
  }
  RETURN_IF_ERROR(optString(req, "subResource", "request", &r.subResource));
  RETURN_IF_ERROR(optString(req, "name", "request", &r.name));
  RETURN_IF_ERROR(optString(req, "namespace", "request", &r.namespace_));
  RETURN_IF_ERROR(optString(req, "operation", "request", &r.operation));
  if (r.operation.empty()) return bad("request.operation is missing");
  RETURN_IF_ERROR(decodeUserInfo(req, &r.userInfo));
  // Moved, not copied: the objects are most of the review (managedFields and all).
  if (auto o = req.find("object"); o != req.end()) r.object = std::move(*o);
  if (auto o = req.find("oldObject"); o != req.end()) r.oldObject = std::move(*o);
  if (auto d = req.find("dryRun"); d != req.end() && d->is_boolean()) r.dryRun = d->get<bool>();
  return r;
}

Result<AdmissionRequest> parseAdmissionReview(std::string_view body) {
  auto j = parseJson(body);
  if (!j.ok()) return bad(j.error().message);
  return decodeAdmissionRequest(std::move(*j));
}

Json encodeAdmissionReview(const AdmissionResponse& r) {
  Json resp = Json::object();
  resp["uid"] = r.uid;
  resp["allowed"] = r.allowed;
  if (!r.allowed || r.code != 0 || !r.message.empty()) {
    Json st = Json::object();
    if (r.code) st["code"] = r.code;
    if (!r.reason.empty()) st["reason"] = r.reason;
    if (!r.message.empty()) st["message"] = r.message;
    if (!r.allowed) st["status"] = "Failure";
    resp["status"] = std::move(st);
  }
  if (r.allowed && r.patch.is_array() && !r.patch.empty()) {
    resp["patchType"] = "JSONPatch";
    resp["patch"] = base64Encode(dumpJson(r.patch));
  }
  if (!r.warnings.empty()) resp["warnings"] = r.warnings;
  return Json{{"apiVersion", kAdmissionApiVersion}, {"kind", "AdmissionReview"}, {"response", std::move(resp)}};
}

std::string jsonPointerEscape(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string statusBody(int code, std::string_view reason, std::string_view message) {
  Json j = {{"kind", "Status"}, {"apiVersion", "v1"},   {"metadata", Json::object()}, {"status", "Failure"},
            {"message", message}, {"reason", reason}, {"code", code}};
  return dumpJson(j);
}

AdmissionHandler::AdmissionHandler(const RoleView& roles, const ApprovalSigner& signer, av1::Policy policy,
                                   const Clock& clock)
    : roles_(roles), signer_(signer), policy_(std::move(policy)), clock_(clock) {}

AdmissionResponse AdmissionHandler::dispatch(Endpoint endpoint, const AdmissionRequest& req) const {
  const AdmissionContext ctx{roles_, signer_, policy_, clock_.now()};
  const auto& op = req.operation;
  if (op != "CREATE" && op != "UPDATE" && op != "DELETE" && op != "CONNECT")
    return AdmissionResponse::deny(req.uid, 400, "BadRequest", "unsupported operation \"" + op + "\"");
  if (op == "CONNECT") return AdmissionResponse::allow(req.uid);
  // Status is written by the operator's service account (RBAC decides who may); the spec
  // rules do not apply to it.
  if (!req.subResource.empty()) return AdmissionResponse::allow(req.uid);

  if (req.kind.group != av1::kGroup) {
    return AdmissionResponse::deny(
        req.uid, 400, "BadRequest",
        "the keygate webhook handles only keygate.dev kinds, got " +
            (req.kind.group.empty() ? std::string("core") : req.kind.group) + "/" + req.kind.version + " " +
            req.kind.kind + ": restrict the webhook configuration's rules to apiGroups [keygate.dev]");
  }
  const auto& kind = req.kind.kind;
  const bool known = kind == "EncryptionKey" || kind == "KeyActivationRequest" || kind == "KeyRoleBinding";
  if (!known)
    return AdmissionResponse::deny(req.uid, 400, "BadRequest",
                                   "the keygate webhook does not handle kind \"" + kind + "\" of keygate.dev");
  if (op == "DELETE") {
    if (endpoint == Endpoint::kValidate && kind == "EncryptionKey") {
      AdmissionResponse r = validateEncryptionKey(req, ctx);
      if (r.allowed && !req.dryRun && onKeyDeletion) onKeyDeletion(req);
      return r;
    }
    return AdmissionResponse::allow(req.uid);
  }
  if (req.userInfo.username.empty())
    return AdmissionResponse::deny(req.uid, 403, "Forbidden",
                                   "the request carries no userInfo.username: keygate attributes every change to "
                                   "an authenticated user and refuses anonymous ones");
  if (!req.object.is_object())
    return AdmissionResponse::deny(req.uid, 400, "BadRequest", "request.object is missing or not an object");
  if (op == "UPDATE" && !req.oldObject.is_object())
    return AdmissionResponse::deny(req.uid, 400, "BadRequest", "UPDATE without request.oldObject");

  if (endpoint == Endpoint::kMutate) {
    if (kind == "KeyActivationRequest") return mutateKeyActivationRequest(req, ctx);
    if (kind == "EncryptionKey") return mutateEncryptionKey(req, ctx);
    return AdmissionResponse::allow(req.uid);
  }
  if (kind == "KeyActivationRequest") return validateKeyActivationRequest(req, ctx);
  if (kind == "EncryptionKey") return validateEncryptionKey(req, ctx);
  return validateKeyRoleBinding(req, ctx);
}

AdmissionResponse AdmissionHandler::review(Endpoint endpoint, const AdmissionRequest& req) const noexcept {
  try {
    AdmissionResponse r = dispatch(endpoint, req);
    if (!r.allowed)
      logger().info("admission denied", {{"endpoint", endpoint == Endpoint::kMutate ? "mutate" : "validate"},
                                         {"kind", req.kind.kind},
                                         {"operation", req.operation},
                                         {"namespace", req.namespace_},
                                         {"name", req.name},
                                         {"user", req.userInfo.username},
                                         {"message", r.message}});
    return r;
  } catch (const std::exception& e) {
    logger().error("admission handler failed", {{"uid", req.uid}, {"error", e.what()}});
    return AdmissionResponse::deny(req.uid, 500, "InternalError",
                                   std::string("keygate webhook internal error (the change was refused): ") + e.what());
  } catch (...) {
    return AdmissionResponse::deny(req.uid, 500, "InternalError", "keygate webhook internal error (the change was refused)");
  }
}

HttpReply AdmissionHandler::handle(Endpoint endpoint, std::string_view body) const noexcept {
  HttpReply reply;
  try {
    auto req = parseAdmissionReview(body);
    if (!req.ok()) {
      reply.status = 400;
      reply.body = statusBody(400, "BadRequest", req.error().message);
      return reply;
    }
    reply.kind = req->kind.kind;
    reply.operation = req->operation;
    AdmissionResponse resp = review(endpoint, *req);
    reply.allowed = resp.allowed;
    reply.body = dumpJson(encodeAdmissionReview(resp));
    return reply;
  } catch (const std::exception& e) {
    reply = HttpReply{};
    reply.status = 500;
    reply.body = statusBody(500, "InternalError", std::string("keygate webhook internal error: ") + e.what());
    return reply;
  } catch (...) {
    reply = HttpReply{};
    reply.status = 500;
    reply.body = statusBody(500, "InternalError", "keygate webhook internal error");
    return reply;
  }
}

}  // namespace keygate::webhook

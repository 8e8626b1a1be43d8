#include "controllers/activation_request/reconciler.h"

#include "api/v1alpha1/codec.h"
#include "common/log.h"
#include "kube/resource.h"

namespace keygate::controllers {
namespace v1 = keygate::api::v1alpha1;

namespace {

const log::Logger& logger() {
  static const log::Logger l("controller.keyactivationrequest");
  return l;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::vector<v1::KeyRoleBinding> bindingsIn(const kube::ObjectReader& bindings, const std::string& ns) {
  std::vector<v1::KeyRoleBinding> out;
  for (const auto& obj : bindings.listNamespace(ns)) {
    if (!obj) continue;
    auto b = v1::decodeKeyRoleBinding(*obj);
    if (b.ok()) out.push_back(std::move(*b));  // fail closed: an undecodable binding grants nothing
  }
  return out;
}

std::function<std::vector<v1::ApprovalVerdict>(const v1::EncryptionKey&, const std::vector<v1::KeyActivationRequest>&,
                                               WallTime)>
approvalVerdicts(const kube::ObjectReader* bindings, ApprovalSignerPtr signer, v1::Policy policy) {
  return [bindings, signer = std::move(signer), policy = std::move(policy)](
             const v1::EncryptionKey& key, const std::vector<v1::KeyActivationRequest>& requests, WallTime now) {
    std::vector<v1::ApprovalVerdict> out;
    std::vector<v1::KeyRoleBinding> bs = bindings ? bindingsIn(*bindings, key.metadata.namespace_)
                                                  : std::vector<v1::KeyRoleBinding>{};
    for (const auto& r : requests) {
      if (r.metadata.namespace_ != key.metadata.namespace_) continue;
      out.push_back(verdictFor(r, tallyApprovals(r, key, bs, policy, *signer, now)));
    }
    return out;
  };
}

ActivationRequestReconciler::ActivationRequestReconciler(ActivationRequestReconcilerDeps deps)
    : deps_(std::move(deps)), clock_(deps_.clock ? *deps_.clock : realClock()) {}

Result<ReconcileResult> ActivationRequestReconciler::reconcile(const std::string& cacheKey) {
  kube::ObjectPtr obj = deps_.requests->get(cacheKey);
  if (!obj) {
    ownWrites_.forget(cacheKey);  // deleted: no watch event of our last write to wait for
    return ReconcileResult{};
  }
  auto decoded = v1::decodeKeyActivationRequest(*obj);
  if (!decoded.ok()) {
    logger().error("cannot decode KeyActivationRequest", {{"request", cacheKey}, {"error", decoded.error().toString()}});
    if (deps_.events) deps_.events->record(*obj, kube::EventType::kWarning, "InvalidSpec", decoded.error().message);
    return ReconcileResult{};
  }
  if (ownWrites_.cacheIsBehind(cacheKey, *obj)) return ReconcileResult{};
  v1::KeyActivationRequest request = std::move(*decoded);
  if (request.metadata.deletionTimestamp) return ReconcileResult{};
  const std::string& ns = request.metadata.namespace_;

  std::optional<v1::EncryptionKey> key;
  if (deps_.keys) {
    if (auto k = deps_.keys->get(ns + "/" + request.spec.keyRef.name)) {
      auto dk = v1::decodeEncryptionKey(*k);
      if (dk.ok()) key = std::move(*dk);
    }
  }
  std::vector<v1::KeyRoleBinding> bindings = deps_.bindings ? bindingsIn(*deps_.bindings, ns)
                                                            : std::vector<v1::KeyRoleBinding>{};
  static const v1::ApprovalSigner kNoKey{""};  // verifies nothing: fail closed without a key
  RequestInputs in;
  in.request = &request;
  in.key = key ? &*key : nullptr;
  in.bindings = &bindings;
  in.policy = &deps_.policy;
  in.signer = deps_.signer ? deps_.signer.get() : &kNoKey;
  in.now = clock_.now();
  RequestDecision d = decideRequest(in);

  Json current = *obj;
  if (!(d.status == request.status)) {
    Json body = *obj;
    body["status"] = v1::encodeStatus(d.status);
    // Conflict (the key reconciler patched the phase meanwhile): retried on fresh cache data.
    ASSIGN_OR_RETURN(current, deps_.client->update(kube::resources::keyActivationRequests(), ns, body, "status"));
    ownWrites_.remember(cacheKey, *obj);
  }
  if (!d.event.empty()) emit(current, request, in.key, d);
  if (d.becameApproved && deps_.enqueueKey) deps_.enqueueKey(ns + "/" + request.spec.keyRef.name);
  return ReconcileResult{d.requeueAfter};
}

void ActivationRequestReconciler::emit(const Json& obj, const v1::KeyActivationRequest& request,
                                       const v1::EncryptionKey* key, const RequestDecision& d) {
  const bool denied = d.event == "RequestDenied";
  if (deps_.audit && (d.event == "ApprovalReceived" || denied || d.event == "RequestExpired")) {
    AuditRecord rec;
    rec.time = clock_.now();
    rec.event = d.event;
    rec.ns = request.metadata.namespace_;
    rec.key = request.spec.keyRef.name;
    if (key) {
      rec.keyUid = key->metadata.uid;
      rec.backend = key->spec.backend;
    }
    rec.version = request.spec.keyRef.version;
    rec.initiator = request.spec.requester;
    rec.approvers = denied ? d.tally.deniers : d.tally.approvers;
    rec.changeReference = request.spec.changeReference;
    rec.affectedSystems = request.spec.affectedSystems;
    rec.request = request.metadata.name;
    rec.result = d.event == "ApprovalReceived" ? "Success" : (denied ? "Denied" : "Expired");
    rec.message = d.message;
    deps_.audit->write(rec);
  }
  if (deps_.events) {
    std::string msg = d.message + "; requester " + request.spec.requester;
    if (!request.spec.changeReference.empty()) msg += ", change " + request.spec.changeReference;
    if (!request.spec.affectedSystems.empty()) msg += ", affected systems " + join(request.spec.affectedSystems);
    bool normal = d.event == "ApprovalReceived";
    deps_.events->record(obj, normal ? kube::EventType::kNormal : kube::EventType::kWarning,
                         d.event == "ApprovalReceived" ? "Approved" : d.event, msg);
  }
  logger().info("activation request decided", {{"request", request.metadata.namespace_ + "/" + request.metadata.name},
                                               {"event", d.event},
                                               {"message", d.message}});
}


}  // namespace keygate::controllers

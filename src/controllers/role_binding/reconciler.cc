#include "controllers/role_binding/reconciler.h"

#include <algorithm>

#include "api/v1alpha1/codec.h"
#include "common/log.h"
#include "kube/resource.h"

namespace keygate::controllers {
namespace v1 = keygate::api::v1alpha1;

namespace {

const log::Logger& logger() {
  static const log::Logger l("controller.keyrolebinding");
  return l;
}

bool ownedBy(const Json& obj, const std::string& uid) {
  const Json* owners = findPath(obj, "metadata.ownerReferences");
  if (!owners || !owners->is_array()) return false;
  return std::any_of(owners->begin(), owners->end(),
                     [&](const Json& o) { return o.value("uid", std::string()) == uid && o.value("controller", false); });
}

}  // namespace

std::vector<std::string> bindingsToRecheck(const kube::ObjectReader& bindings, const Json& binding) {
  std::vector<std::string> out{kube::objectKey(binding)};
  for (const auto& o : bindings.listNamespace(kube::namespaceOf(binding)))
    if (o && kube::objectKey(*o) != out.front()) out.push_back(kube::objectKey(*o));
  return out;
}

RoleBindingReconciler::RoleBindingReconciler(RoleBindingReconcilerDeps deps)
    : deps_(std::move(deps)), clock_(deps_.clock ? *deps_.clock : realClock()) {}

Result<ReconcileResult> RoleBindingReconciler::reconcile(const std::string& key) {
  kube::ObjectPtr obj = deps_.bindings->get(key);
  if (!obj) {
    // Gone: its Role and RoleBinding follow through their owner reference (garbage collector).
    if (deps_.onReviewDue) {
      auto slash = key.find('/');
      deps_.onReviewDue(key.substr(0, slash), slash == std::string::npos ? key : key.substr(slash + 1), std::nullopt);
    }
    return ReconcileResult{};
  }
  auto decoded = v1::decodeKeyRoleBinding(*obj);
  if (!decoded.ok()) {
    logger().error("cannot decode KeyRoleBinding", {{"binding", key}, {"error", decoded.error().toString()}});
    if (deps_.events) deps_.events->record(*obj, kube::EventType::kWarning, "InvalidSpec", decoded.error().message);
    return ReconcileResult{};
  }
  if (ownWrites_.cacheIsBehind(key, *obj)) return ReconcileResult{};
  v1::KeyRoleBinding b = std::move(*decoded);
  if (b.metadata.deletionTimestamp) return ReconcileResult{};
  const std::string& ns = b.metadata.namespace_;

  std::vector<v1::KeyRoleBinding> all;
  for (const auto& o : deps_.bindings->listNamespace(ns)) {
    auto d = v1::decodeKeyRoleBinding(*o);
    if (d.ok()) all.push_back(std::move(*d));
  }
  const WallTime now = clock_.now();
  BindingDecision d = decideBinding(b, all, now);

  // The Role always exists (it grants nothing without its RoleBinding); the RoleBinding only
  // while the binding is current.
  const std::string rbacName = rbacObjectName(b.metadata.name);
  RETURN_IF_ERROR(ensure(kube::resources::roles(), desiredRole(b)));
  if (d.grant) {
    RETURN_IF_ERROR(ensure(kube::resources::roleBindings(), desiredRoleBinding(b)));
  } else {
    RETURN_IF_ERROR(ensureAbsent(kube::resources::roleBindings(), ns, rbacName, b.metadata.uid));
  }

  if (!(d.status == b.status)) {
    Json body = *obj;
    body["status"] = v1::encodeStatus(d.status);
    ASSIGN_OR_RETURN(Json written, deps_.client->update(kube::resources::keyRoleBindings(), ns, body, "status"));
    (void)written;
    ownWrites_.remember(key, *obj);
    if (deps_.events) {
      const v1::Condition* overdue = v1::findCondition(d.status.conditions, "ReviewOverdue");
      const v1::Condition* before = v1::findCondition(b.status.conditions, "ReviewOverdue");
      if (overdue && overdue->status == "True" && (!before || before->status != "True"))
        deps_.events->record(*obj, kube::EventType::kWarning, "ReviewOverdue", overdue->message);
      const v1::Condition* sod = v1::findCondition(d.status.conditions, "SegregationConflict");
      const v1::Condition* sodBefore = v1::findCondition(b.status.conditions, "SegregationConflict");
      if (sod && sod->status == "True" && (!sodBefore || sodBefore->message != sod->message))
        deps_.events->record(*obj, kube::EventType::kWarning, "SegregationConflict", sod->message);
    }
  }
  if (deps_.onReviewDue) deps_.onReviewDue(ns, b.metadata.name, d.reviewDue);
  return ReconcileResult{d.requeueAfter};
}

Status RoleBindingReconciler::ensure(const kube::Resource& r, const Json& desired) {
  const std::string ns = getString(desired, "metadata.namespace");
  const std::string name = getString(desired, "metadata.name");
  auto live = deps_.client->get(r, ns, name);
  if (!live.ok()) {
    if (live.error().code != ErrorCode::kNotFound) return live.takeError();
    auto c = deps_.client->create(r, ns, desired);
    if (!c.ok()) return c.takeError();  // AlreadyExists: a concurrent create; retried with backoff
    logger().info("created", {{"kind", r.kind}, {"object", ns + "/" + name}});
    return Status();
  }
  if (rbacInSync(*live, desired)) return Status();
  if (r.kind == "RoleBinding" && live->contains("roleRef") && (*live)["roleRef"] != desired["roleRef"]) {
    auto del = deps_.client->remove(r, ns, name);
    if (!del.ok() && del.error().code != ErrorCode::kNotFound) return del.takeError();
    auto c = deps_.client->create(r, ns, desired);
    if (!c.ok()) return c.takeError();
    return Status();
  }
  // Drift (edited by hand, or the binding's spec changed): put back what we manage, keep
  // anything else on the object (other labels, annotations).
  Json body = *live;
  for (const auto& [k, v] : desired["metadata"]["labels"].items()) body["metadata"]["labels"][k] = v;
  body["metadata"]["ownerReferences"] = desired["metadata"]["ownerReferences"];
  for (const char* f : {"rules", "roleRef", "subjects"})
    if (desired.contains(f)) body[f] = desired[f];
  auto u = deps_.client->update(r, ns, body);
  if (!u.ok()) return u.takeError();
  logger().info("repaired drift", {{"kind", r.kind}, {"object", ns + "/" + name}});
  return Status();
}

Status RoleBindingReconciler::ensureAbsent(const kube::Resource& r, const std::string& ns, const std::string& name,
                                           const std::string& ownerUid) {
  auto live = deps_.client->get(r, ns, name);
  if (!live.ok()) return live.error().code == ErrorCode::kNotFound ? Status() : Status(live.takeError());
  if (!ownedBy(*live, ownerUid)) {
    // Not ours (same name by coincidence): never delete someone else's RBAC.
    logger().warn("not deleting a RoleBinding this binding does not own", {{"object", ns + "/" + name}});
    return Status();
  }
  kube::DeleteOptions o;
  o.preconditionUid = getString(*live, "metadata.uid");
  auto del = deps_.client->remove(r, ns, name, o);
  if (!del.ok() && del.error().code != ErrorCode::kNotFound) return del.takeError();
  logger().info("deleted RoleBinding of an overdue KeyRoleBinding", {{"object", ns + "/" + name}});
  return Status();
}


}  // namespace keygate::controllers

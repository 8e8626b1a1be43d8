#pragma once
// KeyRoleBinding reconciler: cache (the binding and its namespace's bindings) ->
// decideBinding() (pure) -> Role + RoleBinding created/updated on drift, the RoleBinding
// deleted once reviewBy has passed -> one status write when it changed -> requeueAfter
// until reviewBy.
//
// The generated Role/RoleBinding are read with GET (two per reconcile) rather than through
// informers over every Role in the cluster: bindings are few and change rarely. Drift is
// therefore repaired on the binding's next reconcile (any change to it, the review date,
// or a resync), not instantly.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "controllers/own_writes.h"
#include "controllers/reconciler.h"
#include "controllers/role_binding/rbac.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/event_recorder.h"

namespace keygate::controllers {

struct RoleBindingReconcilerDeps {
  const kube::ObjectReader* bindings = nullptr;  // KeyRoleBindings
  kube::ClientPtr client;                        // Role/RoleBinding CRUD, status writes
  kube::EventRecorderPtr events;                 // may be null
  const Clock* clock = nullptr;                  // null = real clock
  // Metrics hook (keygate_rolebinding_review_due_timestamp_seconds): the binding's review
  // due time, or nullopt when the binding is gone (drop the series).
  std::function<void(const std::string& ns, const std::string& binding, std::optional<WallTime> reviewDue)> onReviewDue;
};

class RoleBindingReconciler final : public Reconciler {
 public:
  explicit RoleBindingReconciler(RoleBindingReconcilerDeps deps);
  const std::string& name() const override { return name_; }
  Result<ReconcileResult> reconcile(const std::string& key) override;

 private:
  // Creates or updates `desired` (Role or RoleBinding); a RoleBinding whose roleRef changed
  // is deleted and recreated (roleRef is immutable).
  Status ensure(const kube::Resource& r, const Json& desired);
  Status ensureAbsent(const kube::Resource& r, const std::string& ns, const std::string& name, const std::string& ownerUid);

  std::string name_ = "keyrolebinding";
  RoleBindingReconcilerDeps deps_;
  const Clock& clock_;
  std::mutex mu_;
  OwnWrites ownWrites_;  // see own_writes.h
};

// Cache keys of every KeyRoleBinding in the namespace of `binding`: a change to one binding
// can start or end a segregation conflict reported on the others.
std::vector<std::string> bindingsToRecheck(const kube::ObjectReader& bindings, const Json& binding);

}  // namespace keygate::controllers

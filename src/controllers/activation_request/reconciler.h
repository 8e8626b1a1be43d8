#pragma once
// KeyActivationRequest reconciler: cache (request, its key, the namespace's KeyRoleBindings)
// -> decideRequest() (pure: which approvals count, the phase) -> one status write when it
// changed -> Event + audit record when the request is decided -> requeueAfter its expiry.
// See decide.h for the validity rules and who owns which phase transition.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/v1alpha1/approval_signing.h"
#include "api/v1alpha1/lifecycle.h"
#include "api/v1alpha1/policy.h"
#include "controllers/activation_request/decide.h"
#include "controllers/audit.h"
#include "controllers/own_writes.h"
#include "controllers/reconciler.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/event_recorder.h"

namespace keygate::controllers {

using ApprovalSignerPtr = std::shared_ptr<const api::v1alpha1::ApprovalSigner>;

struct ActivationRequestReconcilerDeps {
  const kube::ObjectReader* requests = nullptr;  // KeyActivationRequests
  const kube::ObjectReader* keys = nullptr;      // EncryptionKeys
  const kube::ObjectReader* bindings = nullptr;  // KeyRoleBindings (namespace listing)
  kube::ClientPtr client;                        // status writes
  api::v1alpha1::Policy policy;
  ApprovalSignerPtr signer;                      // the key the webhook signs approvals with
  kube::EventRecorderPtr events;                 // may be null
  AuditSinkPtr audit;                            // may be null
  const Clock* clock = nullptr;                  // null = real clock
  // Called with the key's cache key ("ns/name") when a request becomes Approved, so the
  // EncryptionKey controller activates without waiting for its own watch event.
  std::function<void(const std::string&)> enqueueKey;
};

class ActivationRequestReconciler final : public Reconciler {
 public:
  explicit ActivationRequestReconciler(ActivationRequestReconcilerDeps deps);
  const std::string& name() const override { return name_; }
  Result<ReconcileResult> reconcile(const std::string& key) override;

 private:
  void emit(const Json& obj, const api::v1alpha1::KeyActivationRequest& request,
            const api::v1alpha1::EncryptionKey* key, const RequestDecision& d);

  std::string name_ = "keyactivationrequest";
  ActivationRequestReconcilerDeps deps_;
  const Clock& clock_;
  std::mutex mu_;
  OwnWrites ownWrites_;  // see own_writes.h
};

// KeyRoleBindings of one namespace decoded from a cache; undecodable ones grant nothing.
std::vector<api::v1alpha1::KeyRoleBinding> bindingsIn(const kube::ObjectReader& bindings, const std::string& ns);

// The EncryptionKeyReconcilerDeps::verdicts source: the same counting as the request
// reconciler, evaluated when the key reconciler is about to activate. `bindings` must
// outlive the returned function.
std::function<std::vector<api::v1alpha1::ApprovalVerdict>(const api::v1alpha1::EncryptionKey&,
                                                          const std::vector<api::v1alpha1::KeyActivationRequest>&,
                                                          WallTime)>
approvalVerdicts(const kube::ObjectReader* bindings, ApprovalSignerPtr signer, api::v1alpha1::Policy policy);

}  // namespace keygate::controllers

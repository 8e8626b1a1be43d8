#pragma once
// An in-process operator for controller integration tests: informers on the test API
// server, the EncryptionKey controller, a SoftHSM2 backend, an injectable clock, and the
// audit lines it wrote. With approvalWorkflow, also the KeyActivationRequest and
// KeyRoleBinding controllers, an approval-signing key (share it with the webhook under
// test) and the key controller counting only signature-valid approvals.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "api/v1alpha1/approval_signing.h"
#include "api/v1alpha1/policy.h"
#include "controllers/audit.h"
#include "controllers/backend_set.h"
#include "controllers/activation_request/reconciler.h"
#include "controllers/controller.h"
#include "controllers/encryption_key/reconciler.h"
#include "controllers/role_binding/reconciler.h"
#include "kube/event_recorder.h"
#include "kube/informer.h"
#include "support/fake_clock.h"
#include "support/test_api_server.h"

namespace keygate::testing {

struct KeyOperatorOptions {
  api::v1alpha1::Policy policy;
  int workers = 4;
  const Clock* clock = nullptr;  // null = real clock
  // The identity the operator acts as. Until deploy/'s RBAC is loaded into the test API
  // server, tests use admin.
  std::string user = "admin";
  // Run the activation-request and role-binding controllers; the key controller then
  // counts only approvals they would count. Off: it trusts a request's status.phase (the
  // EncryptionKey tests stand in for the request controller that way).
  bool approvalWorkflow = false;
  std::string signingKey;  // approval-signing key bytes; empty = generated
  Duration driftScanInterval{0};  // the key reconciler's periodic drift scan; 0 = off
  Duration importWindow = std::chrono::hours(24);  // BYOK import window
  // health.firstDescribeRateLimit; qps 0 = none (every key described when first seen).
  double firstDescribeQps = 0;
  int firstDescribeBurst = 1;
  // Observers of the reconciler's backend calls and of its first-describe schedule.
  std::function<void(const std::string& backend, const std::string& op)> onBackendOperation;
  std::function<void(const std::string& backend, int delta)> onFirstDescribeScheduled;
  // Watch Namespaces as the operator does: their keygate.dev/jurisdiction label binds their
  // keys, and a label change re-queues them.
  bool watchNamespaces = false;
};

class KeyOperator {
 public:
  KeyOperator(TestApiServer& server, controllers::BackendSet* backends, KeyOperatorOptions options = {});
  ~KeyOperator();
  void start();
  void stop();
  // Reconcile this key now (after advancing a fake clock).
  void poke(const std::string& ns, const std::string& name);
  std::vector<std::string> auditLines() const { return audit_->lines(); }
  kube::ClientPtr client() const { return client_; }
  // Observe the operator's own EncryptionKey informer (register before start()); lets a
  // benchmark watch progress without opening a second watch on the API server.
  void addKeyHandlers(kube::EventHandlers h) { keys_->addHandlers(std::move(h)); }
  const kube::Cache& keyCache() const { return keys_->cache(); }
  // approvalWorkflow only: the KeyRoleBinding informer's cache (the crypto API reads it).
  const kube::Cache& bindingCache() const { return bindings_->cache(); }
  controllers::Controller& controller() { return *controller_; }
  controllers::EncryptionKeyReconciler& keyReconciler() { return *keyReconciler_; }
  // approvalWorkflow only (null otherwise).
  std::shared_ptr<const api::v1alpha1::ApprovalSigner> signer() const { return signer_; }
  void pokeRequest(const std::string& ns, const std::string& name);
  void pokeBinding(const std::string& ns, const std::string& name);
  // The last review due time the binding controller reported per "ns/binding".
  std::map<std::string, std::optional<WallTime>> reviewDue() const;

 private:
  kube::ClientPtr client_;
  std::unique_ptr<kube::Informer> keys_;
  std::unique_ptr<kube::Informer> requests_;
  std::unique_ptr<kube::Informer> namespaces_;  // watchNamespaces
  std::shared_ptr<controllers::StreamAuditSink> audit_;
  std::shared_ptr<kube::ApiEventRecorder> events_;
  std::shared_ptr<controllers::EncryptionKeyReconciler> keyReconciler_;
  std::unique_ptr<controllers::Controller> controller_;
  // approvalWorkflow
  std::unique_ptr<kube::Informer> bindings_;
  std::shared_ptr<const api::v1alpha1::ApprovalSigner> signer_;
  std::unique_ptr<controllers::Controller> requestController_;
  std::unique_ptr<controllers::Controller> bindingController_;
  mutable std::mutex reviewMu_;
  std::map<std::string, std::optional<WallTime>> reviewDue_;
  std::unique_ptr<controllers::DescribeBudget> firstDescribes_;
  bool started_ = false;
};

// Polls GET until pred(object) holds or the timeout passes; returns the last object seen.
Json waitForObject(kube::Client& c, const kube::Resource& r, const std::string& ns, const std::string& name,
                   const std::function<bool(const Json&)>& pred,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(15'000));
bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(15'000));

}  // namespace keygate::testing

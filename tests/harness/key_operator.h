#pragma once
// An in-process operator for controller integration tests: informers on the test API
// server, the EncryptionKey controller, a SoftHSM2 backend, an injectable clock, and the
// audit lines it wrote. Later controllers plug in the same way.

#include <memory>
#include <string>

#include "api/v1alpha1/policy.h"
#include "controllers/audit.h"
#include "controllers/backend_set.h"
#include "controllers/controller.h"
#include "controllers/encryption_key/reconciler.h"
#include "kube/event_recorder.h"
#include "kube/informer.h"
#include "support/fake_clock.h"
#include "support/test_api_server.h"

namespace keygate::testing {

struct KeyOperatorOptions {
  api::v1alpha1::Policy policy;
  int workers = 2;
  const Clock* clock = nullptr;  // null = real clock
  // The identity the operator acts as. Until deploy/'s RBAC is loaded into the test API
  // server, tests use admin.
  std::string user = "admin";
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
  controllers::Controller& controller() { return *controller_; }

 private:
  kube::ClientPtr client_;
  std::unique_ptr<kube::Informer> keys_;
  std::unique_ptr<kube::Informer> requests_;
  std::shared_ptr<controllers::StreamAuditSink> audit_;
  std::shared_ptr<kube::ApiEventRecorder> events_;
  std::unique_ptr<controllers::Controller> controller_;
  bool started_ = false;
};

// Polls GET until pred(object) holds or the timeout passes; returns the last object seen.
Json waitForObject(kube::Client& c, const kube::Resource& r, const std::string& ns, const std::string& name,
                   const std::function<bool(const Json&)>& pred,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(15'000));
bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(15'000));

}  // namespace keygate::testing

#include "key_operator.h"

#include <thread>

#include "controllers/indexes.h"
#include "api/v1alpha1/codec.h"

namespace keygate::testing {

KeyOperator::KeyOperator(TestApiServer& server, controllers::BackendSet* backends, KeyOperatorOptions options) {
  client_ = server.clientFor(options.user);
  kube::ReflectorOptions ro;
  keys_ = std::make_unique<kube::Informer>(client_, kube::resources::encryptionKeys(), ro);
  requests_ = std::make_unique<kube::Informer>(client_, kube::resources::keyActivationRequests(), ro);
  requests_->addIndexer(controllers::kRequestsByKeyIndex, controllers::requestsByKey);
  audit_ = std::make_shared<controllers::StreamAuditSink>(nullptr);
  kube::EventRecorderOptions eo;
  eo.reportingInstance = "test-operator";
  events_ = std::make_shared<kube::ApiEventRecorder>(client_, eo);
  controllers::EncryptionKeyReconcilerDeps deps;
  deps.keys = &keys_->cache();
  deps.requests = &requests_->cache();
  deps.client = client_;
  deps.backends = backends;
  deps.policy = options.policy;
  deps.events = events_;
  deps.audit = audit_;
  deps.clock = options.clock;
  deps.driftScanInterval = options.driftScanInterval;
  deps.importWindow = options.importWindow;
  if (options.firstDescribeQps > 0) {
    firstDescribes_ = std::make_unique<controllers::DescribeBudget>(options.firstDescribeQps, options.firstDescribeBurst);
    deps.firstDescribeBudget = firstDescribes_.get();
  }
  deps.onFirstDescribeScheduled = options.onFirstDescribeScheduled;
  if (options.onBackendOperation)
    deps.onBackendOperation = [f = options.onBackendOperation](const std::string& b, const std::string& op,
                                                               const std::string&, double) { f(b, op); };
  if (options.watchNamespaces) {
    namespaces_ = std::make_unique<kube::Informer>(client_, kube::resources::namespaces(), ro);
    deps.namespaceJurisdiction = [this](const std::string& ns) {
      auto obj = namespaces_->cache().get(ns);
      return obj ? api::v1alpha1::jurisdictionOfNamespace(*obj) : std::string();
    };
  }
  if (options.approvalWorkflow) {
    std::string key = options.signingKey;
    if (key.empty()) key = api::v1alpha1::generateSigningKey().value();
    signer_ = std::make_shared<const api::v1alpha1::ApprovalSigner>(key);
    bindings_ = std::make_unique<kube::Informer>(client_, kube::resources::keyRoleBindings(), ro);
    deps.verdicts = controllers::approvalVerdicts(&bindings_->cache(), signer_, options.policy);
  }
  controllers::ControllerOptions co;
  co.workers = options.workers;
  keyReconciler_ = std::make_shared<controllers::EncryptionKeyReconciler>(std::move(deps));
  controller_ = std::make_unique<controllers::Controller>(keyReconciler_, co);
  keys_->addHandlers(controller_->enqueueHandlers());
  requests_->addHandlers(controller_->mappedHandlers([](const kube::ObjectPtr& o) { return controllers::requestsByKey(*o); }));
  if (namespaces_)
    namespaces_->addHandlers(
        controllers::keysOnJurisdictionChange(keys_->cache(), [this](const std::string& k) { controller_->enqueue(k); }));
  if (!options.approvalWorkflow) return;

  controllers::ActivationRequestReconcilerDeps rd;
  rd.requests = &requests_->cache();
  rd.keys = &keys_->cache();
  rd.bindings = &bindings_->cache();
  rd.client = client_;
  rd.policy = options.policy;
  rd.signer = signer_;
  rd.events = events_;
  rd.audit = audit_;
  rd.clock = options.clock;
  rd.enqueueKey = [this](const std::string& k) { controller_->enqueue(k); };
  requestController_ = std::make_unique<controllers::Controller>(
      std::make_shared<controllers::ActivationRequestReconciler>(std::move(rd)), co);
  requests_->addHandlers(requestController_->enqueueHandlers());
  // A key's state (PreActive, Expired, Active) decides its requests' phases.
  keys_->addHandlers(requestController_->mappedHandlers([this](const kube::ObjectPtr& o) {
    std::vector<std::string> out;
    for (const auto& r : requests_->cache().byIndex(controllers::kRequestsByKeyIndex, kube::objectKey(*o)))
      out.push_back(kube::objectKey(*r));
    return out;
  }));
  // A binding that lapses or changes can void approvals in its namespace.
  bindings_->addHandlers(requestController_->mappedHandlers([this](const kube::ObjectPtr& o) {
    std::vector<std::string> out;
    for (const auto& r : requests_->cache().listNamespace(kube::namespaceOf(*o))) out.push_back(kube::objectKey(*r));
    return out;
  }));

  controllers::RoleBindingReconcilerDeps bd;
  bd.bindings = &bindings_->cache();
  bd.client = client_;
  bd.events = events_;
  bd.clock = options.clock;
  bd.onReviewDue = [this](const std::string& ns, const std::string& b, std::optional<WallTime> due) {
    std::lock_guard<std::mutex> l(reviewMu_);
    reviewDue_[ns + "/" + b] = due;
  };
  bindingController_ = std::make_unique<controllers::Controller>(
      std::make_shared<controllers::RoleBindingReconciler>(std::move(bd)), co);
  bindings_->addHandlers(bindingController_->mappedHandlers(
      [this](const kube::ObjectPtr& o) { return controllers::bindingsToRecheck(bindings_->cache(), *o); }));
}

KeyOperator::~KeyOperator() { stop(); }

void KeyOperator::start() {
  keys_->start();
  requests_->start();
  if (bindings_) bindings_->start();
  if (namespaces_) namespaces_->start();
  if (namespaces_) namespaces_->waitForSync(std::chrono::seconds(10));
  keys_->waitForSync(std::chrono::seconds(10));
  requests_->waitForSync(std::chrono::seconds(10));
  if (bindings_) bindings_->waitForSync(std::chrono::seconds(10));
  controller_->start();
  if (requestController_) requestController_->start();
  if (bindingController_) bindingController_->start();
  started_ = true;
}

void KeyOperator::stop() {
  if (!started_) return;
  started_ = false;
  controller_->stop(std::chrono::seconds(5));
  if (requestController_) requestController_->stop(std::chrono::seconds(5));
  if (bindingController_) bindingController_->stop(std::chrono::seconds(5));
  keys_->stop();
  requests_->stop();
  if (bindings_) bindings_->stop();
  if (namespaces_) namespaces_->stop();
  events_->shutDown();
}

void KeyOperator::poke(const std::string& ns, const std::string& name) { controller_->enqueue(ns + "/" + name); }
void KeyOperator::pokeRequest(const std::string& ns, const std::string& name) {
  if (requestController_) requestController_->enqueue(ns + "/" + name);
}
void KeyOperator::pokeBinding(const std::string& ns, const std::string& name) {
  if (bindingController_) bindingController_->enqueue(ns + "/" + name);
}

std::map<std::string, std::optional<WallTime>> KeyOperator::reviewDue() const {
  std::lock_guard<std::mutex> l(reviewMu_);
  return reviewDue_;
}

bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

Json waitForObject(kube::Client& c, const kube::Resource& r, const std::string& ns, const std::string& name,
                   const std::function<bool(const Json&)>& pred, std::chrono::milliseconds timeout) {
  Json last;
  waitUntil(
      [&] {
        auto g = c.get(r, ns, name);
        if (!g.ok()) return false;
        last = *g;
        return pred(last);
      },
      timeout);
  return last;
}

}  // namespace keygate::testing

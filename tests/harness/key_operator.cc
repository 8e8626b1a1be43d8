#include "key_operator.h"

#include <thread>

#include "controllers/indexes.h"

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
  controllers::ControllerOptions co;
  co.workers = options.workers;
  controller_ = std::make_unique<controllers::Controller>(
      std::make_shared<controllers::EncryptionKeyReconciler>(std::move(deps)), co);
  keys_->addHandlers(controller_->enqueueHandlers());
  requests_->addHandlers(controller_->mappedHandlers([](const kube::ObjectPtr& o) { return controllers::requestsByKey(*o); }));
}

KeyOperator::~KeyOperator() { stop(); }

void KeyOperator::start() {
  keys_->start();
  requests_->start();
  keys_->waitForSync(std::chrono::seconds(10));
  requests_->waitForSync(std::chrono::seconds(10));
  controller_->start();
  started_ = true;
}

void KeyOperator::stop() {
  if (!started_) return;
  started_ = false;
  controller_->stop(std::chrono::seconds(5));
  keys_->stop();
  requests_->stop();
  events_->shutDown();
}

void KeyOperator::poke(const std::string& ns, const std::string& name) { controller_->enqueue(ns + "/" + name); }

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

#pragma once
// A fault injected into the real SoftHSM2 backend: every call goes to it, and a test overrides
// the one call whose answer a faulty module (or a refusing server) would change.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "backends/pkcs11/pkcs11_backend.h"
#include "controllers/backend_set.h"
#include "harness/key_operator.h"
#include "support/softhsm_env.h"

namespace keygate::security {

class ForwardingBackend : public backends::KeyBackend {
 public:
  explicit ForwardingBackend(std::unique_ptr<backends::pkcs11::Pkcs11Backend> inner) : inner_(std::move(inner)) {}
  backends::pkcs11::Pkcs11Backend& inner() { return *inner_; }

  const std::string& name() const override { return inner_->name(); }
  std::string_view type() const override { return inner_->type(); }
  using KeyBackend::generate;
  Result<backends::GeneratedKey> generate(const backends::KeySpec& s, const backends::GenerateOptions& o) override {
    return inner_->generate(s, o);
  }
  Status applyUsage(const backends::KeySpec& s, backends::UsageState u) override { return inner_->applyUsage(s, u); }
  Status markCompromised(const backends::KeySpec& s) override { return inner_->markCompromised(s); }
  Status destroy(const backends::KeyRef& r) override { return inner_->destroy(r); }
  Result<backends::KeyDescription> describe(const backends::KeySpec& s) override { return inner_->describe(s); }
  Status probe() override { return inner_->probe(); }
  Result<backends::SelfTestResult> selfTest(const backends::KeySpec& s) override { return inner_->selfTest(s); }

 private:
  std::unique_ptr<backends::pkcs11::Pkcs11Backend> inner_;
};

// The EncryptionKey controller (harness/key_operator.h) on a fresh test API server, with one
// backend: B, a ForwardingBackend over SoftHSM2, named "softhsm". start() from the test body.
template <typename B>
struct OperatorOver {
  std::unique_ptr<testing::TestApiServer> server;
  kube::ClientPtr admin;
  controllers::BackendSet set;
  B* backend = nullptr;
  std::unique_ptr<testing::KeyOperator> op;

  void start() {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server = std::move(*s);
    admin = server->adminClient();
    auto wrapped = std::make_unique<B>(keygate::backends::testing::SoftHsmEnv::get().openBackend());
    backend = wrapped.get();
    set.add(std::move(wrapped));
    testing::KeyOperatorOptions o;
    o.policy.knownBackends = {"softhsm"};
    op = std::make_unique<testing::KeyOperator>(*server, &set, o);
    op->start();
  }
};

}  // namespace keygate::security

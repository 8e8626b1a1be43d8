#pragma once
// Shared fixture: one test API server per test suite (start-up costs ~0.5 s), a Widget
// resource from the recorded samples, and small helpers.

#include <gtest/gtest.h>

#include <memory>

#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "support/test_api_server.h"

namespace keygate::kube {

inline Resource widgets() { return {"example.test", "v1", "widgets", "Widget", true}; }

inline Json widget(const std::string& name, int size = 3, Json labels = Json::object()) {
  Json w = {{"apiVersion", "example.test/v1"},
            {"kind", "Widget"},
            {"metadata", {{"name", name}}},
            {"spec", {{"size", size}, {"color", "red"}, {"mode", "fast"}}}};
  if (!labels.empty()) w["metadata"]["labels"] = labels;
  return w;
}

class ApiServerTest : public ::testing::Test {
 protected:
  // Kube client tests need only the samples' Widget CRD (not keygate's CRDs).
  static void startServer(testing::TestApiServerOptions opts = {}) {
    if (opts.crds.empty())
      opts.crds.push_back(testing::envOr("KEYGATE_SAMPLES_DIR", testing::sourceDir() + "/tests/fidelity/samples") +
                          "/00-crd-widget.yaml");
    auto s = testing::TestApiServer::start(std::move(opts));
    ASSERT_TRUE(s.ok()) << s.error().toString();
    server_ = std::move(*s);
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override {
    if (!server_) startServer();
    ASSERT_TRUE(server_);
    admin_ = server_->adminClient();
    ASSERT_TRUE(admin_);
  }
  inline static std::unique_ptr<testing::TestApiServer> server_;
  ClientPtr admin_;
};

}  // namespace keygate::kube

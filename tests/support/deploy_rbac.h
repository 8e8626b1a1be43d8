#pragma once
// deploy/'s RBAC on the test API server: rendered with `kubectl kustomize` and applied as
// admin, so the server enforces exactly the shipped rules for the operator's identity.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "api/v1alpha1/manifest.h"
#include "common/json.h"
#include "kube/client.h"
#include "kube/resource.h"
#include "support/temp_dir.h"
#include "support/test_api_server.h"

namespace keygate::e2e {

// Renders deploy/ with kubectl kustomize and applies its RBAC objects as admin, so the test
// API server enforces exactly the shipped ClusterRole/Role for the operator's identity.
inline void applyDeployRbac(kube::Client& admin, const std::string& scratch) {
  auto readAll = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  std::string out = scratch + "/deploy.yaml";
  ASSERT_EQ(std::system(("kubectl kustomize " + testing::sourceDir() + "/deploy > " + out + " 2>&1").c_str()), 0)
      << readAll(out);
  auto docs = api::v1alpha1::parseManifests(readAll(out), out);
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  int applied = 0;
  for (const auto& m : *docs) {
    std::string kind = getString(m.object, "kind");
    kube::Resource r{"rbac.authorization.k8s.io", "v1", "", kind, true};
    if (kind == "ClusterRole") r = {"rbac.authorization.k8s.io", "v1", "clusterroles", kind, false};
    else if (kind == "ClusterRoleBinding") r = {"rbac.authorization.k8s.io", "v1", "clusterrolebindings", kind, false};
    else if (kind == "Role") r.plural = "roles";
    else if (kind == "RoleBinding") r.plural = "rolebindings";
    else continue;
    auto c = admin.create(r, getString(m.object, "metadata.namespace"), m.object);
    ASSERT_TRUE(c.ok()) << kind << ": " << c.error().toString();
    ++applied;
  }
  ASSERT_EQ(applied, 8);  // rbac.yaml: operator ClusterRole, binding, Role, binding; user-roles.yaml: 4 ClusterRoles
}

inline constexpr const char* kOperatorServiceAccount = "system:serviceaccount:keygate-system:keygate";

// A test API server with deploy/'s RBAC applied, an admin client and a client acting as the
// operator's ServiceAccount (which the server then holds to exactly the shipped rules).
class DeployRbacTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.ok()) << s.error().toString();
    api_ = std::move(*s);
    admin_ = api_->adminClient();
    applyDeployRbac(*admin_, scratch_.path());
    operator_ = api_->clientFor(kOperatorServiceAccount);
  }

  testing::TempDir scratch_{"keygate-deploy-rbac"};
  std::unique_ptr<testing::TestApiServer> api_;
  kube::ClientPtr admin_, operator_;
};

}  // namespace keygate::e2e

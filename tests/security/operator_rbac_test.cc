// Security finding 4 (issue 16): the operator could grant anything.
//
// With `escalate` and `bind` on roles cluster-wide, whoever controls the operator's
// ServiceAccount token could write a Role granting any right in any namespace and bind it to
// anyone. deploy/'s ClusterRole no longer has either verb; the Roles the operator writes for
// KeyRoleBindings carry only rules it holds itself, which Kubernetes' escalation check
// accepts without `escalate`. The test API server implements that check as kube-apiserver does
// (tests/support/testapiserver/rbac_escalation.py lists what is relied on).

#include <gmock/gmock.h>

#include "api/v1alpha1/common_types.h"
#include "controllers/role_binding/rbac.h"
#include "kube/client.h"
#include "kube/resource.h"
#include "support/deploy_rbac.h"
#include "support/temp_dir.h"
#include "support/test_api_server.h"

namespace keygate::security {
namespace {

using ::testing::HasSubstr;
namespace v1 = api::v1alpha1;


kube::Resource roles() { return {"rbac.authorization.k8s.io", "v1", "roles", "Role", true}; }
kube::Resource roleBindings() { return {"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true}; }

Json role(const std::string& name, Json rules) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "Role"},
          {"metadata", {{"name", name}, {"namespace", "tenant-a"}}},
          {"rules", std::move(rules)}};
}

Json binding(const std::string& name, const std::string& kind, const std::string& roleName, const std::string& user) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "RoleBinding"},
          {"metadata", {{"name", name}, {"namespace", "tenant-a"}}},
          {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", kind}, {"name", roleName}}},
          {"subjects", {{{"kind", "User"}, {"name", user}, {"apiGroup", "rbac.authorization.k8s.io"}}}}};
}

class OperatorRbacTest : public e2e::DeployRbacTest {};

// deploy/'s rules as applied (tests/chart checks that the chart renders the same rules).
TEST_F(OperatorRbacTest, ShippedRulesHaveNeitherEscalateNorBindNorWildcards) {
  kube::Resource clusterRoles{"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false};
  auto cr = admin_->get(clusterRoles, "", "keygate-operator");
  ASSERT_TRUE(cr.ok()) << cr.error().toString();
  auto r = admin_->get(roles(), "keygate-system", "keygate-operator");
  ASSERT_TRUE(r.ok()) << r.error().toString();
  for (const Json* obj : {&*cr, &*r})
    for (const Json& rule : (*obj)["rules"])
      for (const std::string key : {"verbs", "resources", "apiGroups"})
        for (const Json& v : rule[key]) {
          EXPECT_NE(v, "escalate") << rule.dump();
          EXPECT_NE(v, "bind") << rule.dump();
          EXPECT_NE(v, "impersonate") << rule.dump();
          EXPECT_NE(v, "*") << rule.dump();
        }
}

// The attack: the operator's identity writes a Role that reads Secrets and binds it (or
// cluster-admin) to a user of its choosing. Both are refused by the escalation check.
TEST_F(OperatorRbacTest, OperatorIdentityCannotGrantWhatItDoesNotHold) {
  auto r = operator_->create(roles(), "tenant-a",
                             role("steal-secrets", Json::array({{{"apiGroups", {""}},
                                                                 {"resources", {"secrets"}},
                                                                 {"verbs", {"get", "list"}}}})));
  ASSERT_FALSE(r.ok()) << "the operator wrote a Role granting secrets";
  EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied) << r.error().toString();
  EXPECT_THAT(r.error().message, HasSubstr("is attempting to grant RBAC permissions not currently held"));
  EXPECT_THAT(r.error().message, HasSubstr("{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\" \"list\"]}"));

  auto b = operator_->create(roleBindings(), "tenant-a", binding("own-cluster", "ClusterRole", "cluster-admin", "mallory"));
  ASSERT_FALSE(b.ok()) << "the operator bound cluster-admin";
  EXPECT_EQ(b.error().code, ErrorCode::kPermissionDenied);

  // A Role the admin made (rights the operator lacks) cannot be bound by the operator either.
  ASSERT_TRUE(admin_->create(roles(), "tenant-a",
                             role("secret-reader", Json::array({{{"apiGroups", {""}},
                                                                 {"resources", {"secrets"}},
                                                                 {"verbs", {"get"}}}})))
                  .ok());
  auto b2 = operator_->create(roleBindings(), "tenant-a", binding("read", "Role", "secret-reader", "mallory"));
  ASSERT_FALSE(b2.ok());
  EXPECT_EQ(b2.error().code, ErrorCode::kPermissionDenied);
}

// What the operator does write, for each Keygate role, passes the same check: the Role and
// its RoleBinding, exactly as the KeyRoleBinding reconciler builds them.
TEST_F(OperatorRbacTest, OperatorWritesEveryKeygateRoleWithoutEscalate) {
  for (v1::Role kind : {v1::Role::kKeyAdministrator, v1::Role::kKeyApprover, v1::Role::kKeyUser, v1::Role::kKeyAuditor}) {
    const std::string name = "b-" + std::string(v1::toString(kind));
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto created = operator_->create(roles(), "tenant-a", role(lower, controllers::rulesFor(kind)));
    ASSERT_TRUE(created.ok()) << v1::toString(kind) << ": " << created.error().toString();
    auto bound = operator_->create(roleBindings(), "tenant-a", binding(lower, "Role", lower, "alice"));
    ASSERT_TRUE(bound.ok()) << v1::toString(kind) << ": " << bound.error().toString();
  }
}

}  // namespace
}  // namespace keygate::security

#pragma once
// The fixture of the e2e tests that run the real `kubectl` (and the kubectl-keygate plugin)
// as users against the test API server and the operator binary, with its webhook and deploy/'s
// RBAC: token kubeconfigs per user (default namespace tenant-a), approvers, PreActive keys.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "e2e/operator/operator_process.h"

namespace keygate::e2e {

struct KubectlResult {
  int rc = -1;
  std::string out;  // stdout and stderr together, as a person sees them
};

class KubectlE2E : public OperatorE2E {
 protected:
  // `kubectl ARGS` as `user` (token kubeconfig, default namespace tenant-a).
  KubectlResult kubectl(const std::string& user, const std::string& args, const std::string& env = "") {
    return shell(env + " kubectl --kubeconfig " + server_->writeKubeconfig(user) + " " + args);
  }
  // A shell command line, its output and exit code as a person sees them.
  KubectlResult shell(const std::string& command) {
    const std::string out = dir_.path() + "/command.out";
    int status = std::system((command + " > " + out + " 2>&1").c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, readAll(out)};
  }
  std::string file(const std::string& name, const std::string& text) { return dir_.write(name, text); }

  void createApprovers(const std::vector<std::string>& users) {
    Json subjects = Json::array();
    for (const auto& u : users) subjects.push_back({{"kind", "User"}, {"name", u}});
    Json krb = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "KeyRoleBinding"},
                {"metadata", {{"name", "approvers"}}},
                {"spec", {{"role", "KeyApprover"}, {"subjects", subjects}, {"reviewBy", "2099-12-31"}}}};
    auto created = createThroughWebhook(*admin_, kube::resources::keyRoleBindings(), "tenant-a", krb);
    ASSERT_TRUE(created.ok()) << created.error().toString();
    ASSERT_TRUE(waitUntil([&] { return admin_->get(kube::resources::roleBindings(), "tenant-a", "keygate-approvers").ok(); }));
  }

  void createPreActiveKey(const std::string& name, int approvals) {
    Json key = {{"apiVersion", "keygate.dev/v1alpha1"},
                {"kind", "EncryptionKey"},
                {"metadata", {{"name", name}}},
                {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"},
                          {"activation", {{"requiredApprovals", approvals}}}}}};
    ASSERT_TRUE(admin_->create(kube::resources::encryptionKeys(), "tenant-a", key).ok());
    ASSERT_TRUE(waitUntil([&] {
      auto k = admin_->get(kube::resources::encryptionKeys(), "tenant-a", name);
      return k.ok() && getString(*k, "status.state") == "PreActive";
    }));
  }

  std::string requestYaml(const std::string& name, const std::string& key) {
    return file(name + ".yaml", "apiVersion: keygate.dev/v1alpha1\nkind: KeyActivationRequest\nmetadata:\n  name: " + name +
                                    "\nspec:\n  keyRef: {name: " + key + "}\n  reason: rollout\n  changeReference: CHG-42\n");
  }

  Json approvals(const std::string& request) {
    auto r = admin_->get(kube::resources::keyActivationRequests(), "tenant-a", request);
    return r.ok() ? r->at("spec").value("approvals", Json::array()) : Json();
  }
};

}  // namespace keygate::e2e

#pragma once
// Shared by the security tests that drive the EncryptionKey controller (harness/key_operator.h)
// on real SoftHSM2: an AES-256 Encrypt key created by admin, PreActive, and an activation
// request marked Approved in its status (the request controller is not running here, as in
// tests/integration/controllers).
#include <gtest/gtest.h>

#include <string>

#include "harness/key_operator.h"
#include "kube/client.h"
#include "kube/resource.h"

namespace keygate::security {

inline void createKeyAndApprove(kube::Client& admin, const std::string& ns, const std::string& key,
                                const std::string& request) {
  const kube::Resource keys = kube::resources::encryptionKeys(), requests = kube::resources::keyActivationRequests();
  auto k = admin.create(keys, ns,
                        {{"apiVersion", "keygate.dev/v1alpha1"},
                         {"kind", "EncryptionKey"},
                         {"metadata", {{"name", key}}},
                         {"spec", {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}}});
  ASSERT_TRUE(k.ok()) << k.error().toString();
  testing::waitForObject(admin, keys, ns, key, [](const Json& o) { return getString(o, "status.state") == "PreActive"; });
  auto r = admin.create(requests, ns,
                        {{"apiVersion", "keygate.dev/v1alpha1"},
                         {"kind", "KeyActivationRequest"},
                         {"metadata", {{"name", request}}},
                         {"spec", {{"keyRef", {{"name", key}}}, {"reason", "rollout"}, {"requester", "alice"}}}});
  ASSERT_TRUE(r.ok()) << r.error().toString();
  Json body = *r;
  body["status"] = {{"phase", "Approved"}, {"approvalsRequired", 1}, {"approvalsReceived", 1}};
  auto s = admin.update(requests, ns, body, "status");
  ASSERT_TRUE(s.ok()) << s.error().toString();
}

}  // namespace keygate::security

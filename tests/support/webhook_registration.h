#pragma once
// Registers keygate's admission webhooks in the test API server the way
// deploy/webhooks.yaml does, but by URL (there is no Service here): both configurations,
// failurePolicy Fail, the three kinds, CREATE and UPDATE.

#include <string>

#include "kube/client.h"

namespace keygate::testing {

inline kube::Resource webhookConfigurations(bool mutating) {
  return {"admissionregistration.k8s.io", "v1", mutating ? "mutatingwebhookconfigurations" : "validatingwebhookconfigurations",
          mutating ? "MutatingWebhookConfiguration" : "ValidatingWebhookConfiguration", false};
}

// baseUrl: "https://127.0.0.1:<port>"; caBundle: base64 of the serving CA (PEM).
inline Status registerKeygateWebhooks(kube::Client& admin, const std::string& baseUrl, const std::string& caBundle) {
  for (bool mutating : {true, false}) {
    Json hook = {{"name", mutating ? "mutate.keygate.dev" : "validate.keygate.dev"},
                 {"admissionReviewVersions", {"v1"}},
                 {"sideEffects", "None"},
                 {"failurePolicy", "Fail"},
                 {"timeoutSeconds", 5},
                 {"clientConfig", {{"url", baseUrl + (mutating ? "/mutate" : "/validate")}, {"caBundle", caBundle}}},
                 {"rules",
                  {{{"apiGroups", {"keygate.dev"}},
                    {"apiVersions", {"v1alpha1"}},
                    {"operations", {"CREATE", "UPDATE"}},
                    {"resources", {"encryptionkeys", "keyactivationrequests", "keyrolebindings"}},
                    {"scope", "Namespaced"}}}}};
    Json cfg = {{"apiVersion", "admissionregistration.k8s.io/v1"},
                {"kind", mutating ? "MutatingWebhookConfiguration" : "ValidatingWebhookConfiguration"},
                {"metadata", {{"name", mutating ? "keygate-mutating" : "keygate-validating"}}},
                {"webhooks", {hook}}};
    auto r = admin.create(webhookConfigurations(mutating), "", cfg);
    if (!r.ok()) return r.takeError();
  }
  return okStatus();
}

}  // namespace keygate::testing

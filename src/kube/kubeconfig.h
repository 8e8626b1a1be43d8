#pragma once
// Loads client configuration from a kubeconfig file or from the in-cluster service account.

#include <string>

#include "common/result.h"
#include "kube/transport.h"

namespace keygate::kube {

struct ClientConfig {
  TransportConfig transport;
  std::string ns;  // default namespace from the context / service account ("default" if none)
  std::string context = {};  // the kubeconfig context used ("" in cluster); initialiser: {transport, ns} inits may omit it
};

struct KubeconfigOptions {
  std::string path;     // file; "" = $KUBECONFIG (first entry) or ~/.kube/config
  std::string context;  // "" = current-context
};

// Errors name the file and the field ("kubeconfig /x: user \"u\": exec credential plugins are not supported").
Result<ClientConfig> loadKubeconfig(const KubeconfigOptions& opts);
// Parses kubeconfig YAML text; baseDir resolves relative file paths as kubectl does.
Result<ClientConfig> parseKubeconfig(const std::string& yamlText, const std::string& context, const std::string& baseDir,
                                     const std::string& sourceName);

struct InClusterPaths {
  std::string tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string caFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};
// KUBERNETES_SERVICE_HOST/PORT + service-account files; the token is re-read when it rotates.
Result<ClientConfig> loadInCluster(const InClusterPaths& paths = {});

Result<std::string> readFile(const std::string& path);

}  // namespace keygate::kube

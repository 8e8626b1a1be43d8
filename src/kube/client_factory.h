#pragma once
// Builds the production client: transport from a ClientConfig, client-side rate limit,
// retry policy. The operator and CLI use this; tests may build RestClient directly.

#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "kube/rest_client.h"

namespace keygate::kube {

struct ClientOptions {
  double qps = 20;   // client-side rate limit; <= 0 turns it off
  int burst = 30;
  RestClientOptions rest;
};

Result<ClientPtr> makeClient(const ClientConfig& config, ClientOptions options = {});

}  // namespace keygate::kube

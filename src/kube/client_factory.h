#pragma once
// Builds the production client: transport from a ClientConfig, client-side rate limit,
// retry policy. The operator and CLI use this; tests may build RestClient directly.

#include <functional>
#include <string>

#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "kube/rest_client.h"

namespace keygate::kube {

// Client-side rate limit (kubeAPI.qps / --kube-api-qps, as controller-runtime and cert-manager
// spell it). 0 = automatic: a token bucket of kAutoQps/kAutoBurst until a response shows that
// the API server applies API Priority and Fairness (its X-Kubernetes-PF-FlowSchema-UID header,
// the test client-go's flowcontrol.IsEnabled makes), then none: APF queues and sheds load
// fairly on the server and answers 429 + Retry-After, which the REST client honours.
// > 0 = always that rate; < 0 (-1) = never limited.
inline constexpr double kAutoQps = 50;
inline constexpr int kAutoBurst = 100;

struct ClientOptions {
  double qps = 0;
  int burst = 0;  // 0 = kAutoBurst in auto mode, else max(2 * qps, 1)
  RestClientOptions rest;
  // Called once, from a request thread, when auto mode turns the limiter off.
  std::function<void()> onServerFairness;
};

// What `options` asks for, in words (for start-up logs): "off", "50 qps, burst 100", or
// "auto (50 qps, burst 100 until the API server shows Priority and Fairness)".
std::string describeRateLimit(const ClientOptions& options);

Result<ClientPtr> makeClient(const ClientConfig& config, ClientOptions options = {});
// The same over a given transport (tests, benches).
ClientPtr makeClient(TransportPtr transport, ClientOptions options);

}  // namespace keygate::kube

#include "kube/client_factory.h"

#include "kube/rate_limiter.h"

namespace keygate::kube {

Result<ClientPtr> makeClient(const ClientConfig& config, ClientOptions options) {
  ASSIGN_OR_RETURN(TransportPtr transport, makeCpprestTransport(config.transport));
  if (options.qps > 0) {
    auto limiter = std::make_shared<RateLimiter>(RateLimiterOptions{options.qps, options.burst, nullptr});
    auto inner = std::move(options.rest.throttle);
    options.rest.throttle = [limiter, inner] {
      (void)limiter->acquire();  // fails only after close(), when the client is going away
      if (inner) inner();
    };
  }
  return ClientPtr(std::make_shared<RestClient>(std::move(transport), std::move(options.rest)));
}

}  // namespace keygate::kube

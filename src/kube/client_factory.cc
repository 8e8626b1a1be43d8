#include "kube/client_factory.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "kube/rate_limiter.h"

namespace keygate::kube {
namespace {

constexpr const char* kFlowSchemaHeader = "x-kubernetes-pf-flowschema-uid";

int burstFor(const ClientOptions& o) {
  if (o.burst > 0) return o.burst;
  if (o.qps == 0) return kAutoBurst;
  return std::max(1, static_cast<int>(std::ceil(2 * o.qps)));
}

// Watches ordinary responses for the APF header; once seen, `fair` is set for good.
class FairnessProbe : public Transport {
 public:
  FairnessProbe(TransportPtr inner, std::function<void()> onFair) : inner_(std::move(inner)), onFair_(std::move(onFair)) {}
  Result<HttpResponse> send(const HttpRequest& req) override {
    auto r = inner_->send(req);
    if (r.ok() && !fair_.load(std::memory_order_relaxed) && !r->header(kFlowSchemaHeader).empty() &&
        !fair_.exchange(true) && onFair_)
      onFair_();
    return r;
  }
  Result<HttpStreamPtr> stream(const HttpRequest& req) override { return inner_->stream(req); }
  bool fair() const { return fair_.load(std::memory_order_relaxed); }

 private:
  TransportPtr inner_;
  std::function<void()> onFair_;
  std::atomic<bool> fair_{false};
};

}  // namespace

std::string describeRateLimit(const ClientOptions& o) {
  auto rate = [&](double qps) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g qps, burst %d", qps, burstFor(o));
    return std::string(buf);
  };
  if (o.qps < 0) return "off";
  if (o.qps > 0) return rate(o.qps);
  return "auto (" + rate(kAutoQps) + " until the API server shows Priority and Fairness, then off)";
}

ClientPtr makeClient(TransportPtr transport, ClientOptions options) {
  if (options.qps >= 0) {
    const bool automatic = options.qps == 0;
    auto limiter =
        std::make_shared<RateLimiter>(RateLimiterOptions{automatic ? kAutoQps : options.qps, burstFor(options), nullptr});
    std::shared_ptr<FairnessProbe> probe;
    if (automatic) {
      probe = std::make_shared<FairnessProbe>(std::move(transport), std::move(options.onServerFairness));
      transport = probe;
    }
    auto inner = std::move(options.rest.throttle);
    // The probe is held weakly: the transport owns it, the throttle must not keep it alive.
    options.rest.throttle = [limiter, inner, weak = std::weak_ptr<FairnessProbe>(probe), automatic] {
      bool limited = true;
      if (automatic) {
        auto p = weak.lock();
        limited = !p || !p->fair();
      }
      if (limited) (void)limiter->acquire();  // fails only after close(), when the client is going away
      if (inner) inner();
    };
  }
  return ClientPtr(std::make_shared<RestClient>(std::move(transport), std::move(options.rest)));
}

Result<ClientPtr> makeClient(const ClientConfig& config, ClientOptions options) {
  ASSIGN_OR_RETURN(TransportPtr transport, makeHttpTransport(config.transport));
  return makeClient(std::move(transport), std::move(options));
}

}  // namespace keygate::kube

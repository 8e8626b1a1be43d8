#pragma once
// Client implementation over a Transport: builds URLs, encodes bodies, decodes Status
// errors, rate-limits and retries where it is safe.
//
// Retry policy: reads (GET/LIST) retry on transport failures, 429, 5xx; writes retry only
// on 429 (the server refused the request before acting on it) and on connection refused.
// Retry-After is honoured; otherwise exponential backoff.

#include <functional>
#include <memory>

#include "kube/client.h"
#include "kube/transport.h"

namespace keygate::kube {

struct RestClientOptions {
  int maxRetries = 4;
  std::chrono::milliseconds retryBase{100};
  std::chrono::milliseconds retryMax{5'000};
  // Called before every request: blocks to enforce client-side QPS/burst (null = off).
  std::function<void()> throttle;
  // Observes every finished request (verb, resource plural, HTTP status or 0) for metrics.
  std::function<void(const std::string& verb, const std::string& resource, int code)> observe;
  std::string fieldManager = "keygate";
  // Adds dryRun=All to create, update and patch: the server validates, admits (webhooks see
  // dryRun: true) and answers with the object it would store, and stores nothing
  // (kubectl --dry-run=server).
  bool dryRun = false;
};

class RestClient final : public Client {
 public:
  RestClient(TransportPtr transport, RestClientOptions options = {});

  Result<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                   const std::string& subresource = "") override;
  Result<Json> list(const Resource& r, const std::string& ns, const ListOptions& opts = {}) override;
  Result<std::string> listRaw(const Resource& r, const std::string& ns, const ListOptions& opts) override;
  Result<Json> create(const Resource& r, const std::string& ns, const Json& body) override;
  Result<std::string> createRaw(const Resource& r, const std::string& ns, const Json& body) override;
  Result<std::string> updateRaw(const Resource& r, const std::string& ns, const Json& body,
                                const std::string& subresource = "") override;
  Result<Json> update(const Resource& r, const std::string& ns, const Json& body,
                      const std::string& subresource = "") override;
  Result<Json> patch(const Resource& r, const std::string& ns, const std::string& name, PatchType type,
                     const std::string& body, const PatchOptions& opts = {}) override;
  Result<DeleteResult> remove(const Resource& r, const std::string& ns, const std::string& name,
                              const DeleteOptions& opts = {}) override;
  Result<WatchStreamPtr> watch(const Resource& r, const std::string& ns, const WatchOptions& opts) override;

 private:
  Result<HttpResponse> call(const std::string& verb, const Resource& r, HttpRequest req, bool idempotent);
  Result<Json> callJson(const std::string& verb, const Resource& r, HttpRequest req, bool idempotent);

  TransportPtr transport_;
  RestClientOptions options_;
};

// Percent-encodes a query parameter value.
std::string urlEncode(const std::string& s);

}  // namespace keygate::kube

#pragma once
// HTTP(S) transport to the API server. The interface is free of libcurl so that the REST
// client, reflector and tests compile without it; makeHttpTransport() lives in
// transport_curl.cc (the only kube/ file that includes curl headers).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace keygate::kube {

struct HttpRequest {
  std::string method;        // GET, POST, PUT, PATCH, DELETE
  std::string pathAndQuery;  // "/api/v1/namespaces/x/secrets?limit=10"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& lowerName) const {
    auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A streaming response (watch). readLine() blocks until a full line arrives.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  virtual int status() const = 0;
  // The next line without its '\n'; std::nullopt at a clean end of stream. An error when the
  // connection breaks (kUnavailable), the idle timeout fires (kDeadlineExceeded), a line
  // exceeds the limit (kInvalidArgument) or cancel() was called (kCancelled).
  virtual Result<std::optional<std::string>> readLine() = 0;
  // Whole remaining body (used when status != 200 to decode a Status).
  virtual Result<std::string> readAll() = 0;
  virtual void cancel() = 0;  // thread-safe
};
using HttpStreamPtr = std::unique_ptr<HttpStream>;

// Where credentials come from. Token sources are called per request so that a rotated
// service-account token file is picked up without restart.
struct TransportConfig {
  std::string server;                 // https://host:port
  std::string caPem;                  // PEM data of the cluster CA ("" = system trust store)
  std::string clientCertPem;          // client certificate (PEM data), optional
  std::string clientKeyPem;
  bool insecureSkipTlsVerify = false;
  std::function<Result<std::string>()> tokenSource;  // bearer token, optional
  std::string userAgent = "keygate/0.1.0";
  std::chrono::milliseconds requestTimeout{30'000};  // idle timeout of ordinary requests
  std::chrono::milliseconds streamIdleTimeout{15 * 60'000};  // must exceed watch timeoutSeconds
  size_t maxResponseBytes = 256u << 20;              // larger bodies are refused, not buffered
  size_t maxLineBytes = 64u << 20;                   // longest accepted watch line
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Transport-level failures only (connection refused, TLS, timeout): kUnavailable /
  // kDeadlineExceeded. Any HTTP status is a successful response here.
  virtual Result<HttpResponse> send(const HttpRequest& req) = 0;
  virtual Result<HttpStreamPtr> stream(const HttpRequest& req) = 0;
};
using TransportPtr = std::shared_ptr<Transport>;

// libcurl, one kept-alive connection per concurrent caller; see transport_curl.cc. Checks the
// URL and the PEM data up front (kInvalidArgument naming the field).
Result<TransportPtr> makeHttpTransport(const TransportConfig& config);

// Reads a token from a file, re-reading it only when its mtime/size changes (projected
// service-account tokens rotate roughly hourly).
std::function<Result<std::string>()> fileTokenSource(std::string path);

}  // namespace keygate::kube

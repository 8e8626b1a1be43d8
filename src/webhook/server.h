#pragma once
// The HTTPS AdmissionReview server: POST /mutate and POST /validate (the API server appends
// ?timeout=Ns, which is ignored), TLS >= 1.2. The certificate and key files are read on
// every new connection and compared with the pair in service, so a rotated certificate is
// served without a restart (a new TLS context is built only when they changed); a
// half-written pair (unparsable, or key not matching the certificate) keeps the last good
// pair in service.
//
// Boost.Beast (HTTP/1.1) over Boost.Asio's OpenSSL stream is confined to server.cc (pimpl).
// Each server has its own I/O threads (ServerOptions::threads, named kg-webhook) that also run
// the handler: AdmissionHandler never blocks (it reads informer caches). Connections are kept
// alive as kube-apiserver keeps them; `Expect: 100-continue` is answered.
//
// HTTP answers: 200 + AdmissionReview (allowed or denied); 400 + Status for a body that is
// not a v1 AdmissionReview; 404 unknown path; 405 other methods; 413 body over the limit;
// 500 if the handler itself failed (never expected: AdmissionHandler does not throw); 400 and
// a closed connection for bytes that are not HTTP/1.x or a header over 16 KiB. A 404 or 405
// request's body is read and dropped (the connection carries on), unless it is over the limit
// or the client waits for 100 Continue: then the answer comes at once and the connection
// closes (Connection: close), as after a 413.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "webhook/admission.h"

namespace keygate::webhook {

// I/O threads of the listener (they also run the handler). Two measured best on a 2-vCPU
// node (docs/scale.md); `keygate operator --http-threads` sets it.
inline constexpr size_t kDefaultHttpThreads = 2;

// One served HTTP request, for metrics (keygate_webhook_requests_total{kind,operation,allowed},
// keygate_webhook_duration_seconds) and logs.
struct RequestRecord {
  std::string path;
  int status = 0;
  std::string kind;
  std::string operation;
  std::optional<bool> allowed;
  std::chrono::nanoseconds duration{0};
};

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 9443;  // 0: pick a free port (tests); see Server::port()
  std::string certFile;  // PEM chain, leaf first
  std::string keyFile;   // PEM private key
  // Caller authentication (docs/security.md, "The admission webhook"). Non-empty: every
  // connection must present a TLS client certificate that chains to a CA in this PEM file, or
  // the handshake fails before any request is read. The file is re-read like the serving
  // pair; an unparsable replacement keeps the last good CA set. Empty: any caller that can
  // reach the port is served (the operator warns and exports keygate_webhook_client_auth 0).
  std::string clientCAFile;
  // With clientCAFile: the client certificate's subject CN must be one of these (empty: any
  // certificate from the CA).
  std::vector<std::string> allowedClientNames;
  size_t maxBodyBytes = 3 * 1024 * 1024;  // the API server's own request limit
  // Limit of each I/O step of a connection: the TLS handshake, reading a request (header and
  // body), writing a reply, and waiting for the next request on a kept-alive connection.
  std::chrono::seconds ioTimeout{30};
  size_t threads = kDefaultHttpThreads;   // >= 1
  // Called after each reply, on a listener thread; must be cheap and thread-safe.
  std::function<void(const RequestRecord&)> onRequest;
};

class Server {
 public:
  // Checks the certificate files (and the client CA file), binds and starts serving. The
  // handler must outlive the server. Errors: kInvalidArgument (unreadable/invalid cert, key or
  // client CA: message names the file), kUnavailable (cannot bind).
  static Result<std::unique_ptr<Server>> start(ServerOptions options, const AdmissionHandler& handler);
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  std::string url() const;  // https://<host>:<port>
  // For readiness: OK while a socket listens on the webhook port (the kernel's TCP table);
  // Unavailable once stopped or when nothing listens there.
  Status serving() const;
  // Stops accepting, waits for a handler that is running, and closes the listener and every
  // connection (a request not answered yet fails). Idempotent.
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keygate::webhook

#pragma once
// The crypto API's gRPC server (service keygate.v1.Crypto): TLS with the certificate and
// key re-read when they change on disk (like the webhook), optional client certificates
// verified against a CA, the caller's credentials handed to the Authenticator, the request
// to CryptoService, and Error codes mapped to gRPC status codes one to one.
//
// gRPC is confined to grpc_server.cc; this header is cheap to include.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "dataplane/crypto_service.h"
#include "dataplane/identity.h"

namespace keygate::dataplane {

struct GrpcServerOptions {
  std::string address = "0.0.0.0:8443";  // host:port; port 0 picks a free one (tests)
  // TLS: both set, or neither. Without TLS the server only binds loopback addresses
  // (`keygate local`, tests): bearer tokens never cross a network in clear text.
  std::string certFile;
  std::string keyFile;
  std::string clientCaFile;  // optional: verify client certificates from this CA
  std::chrono::seconds certRefresh{10};
  size_t maxMessageBytes = 4 * 65536 + 4096;
  // Checked before each call; an error answers UNAVAILABLE with its message (a standby
  // replica, a backend not ready). Null = always serving.
  std::function<Status()> serving;
};

class GrpcServer {
 public:
  // Errors: InvalidArgument (unreadable or invalid certificate files, TLS off on a
  // non-loopback address), Unavailable (cannot bind).
  static Result<std::unique_ptr<GrpcServer>> start(GrpcServerOptions options, Authenticator& authenticator,
                                                   CryptoService& service);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const;
  // Stops accepting; in-flight calls get until `deadline` to finish. Idempotent.
  void stop(std::chrono::milliseconds deadline = std::chrono::milliseconds(2000));

  struct Impl;

 private:
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keygate::dataplane

#pragma once
// The KMS v2 plugin's gRPC server (service v2.KeyManagementService) on a unix socket, the only
// transport kube-apiserver speaks to KMS plugins. The socket is created 0600 (umask during
// bind, chmod after): only root, which kube-apiserver runs as on control-plane nodes, can call.
// gRPC is confined to grpc_server.cc; this header is cheap to include.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "kms/plugin.h"

namespace keygate::kms {

struct KmsServerOptions {
  std::string listen;                  // "unix:///path/to/socket" (or "unix:/path")
  size_t maxMessageBytes = 64 * 1024;  // larger requests: RESOURCE_EXHAUSTED before the plugin
  int maxThreads = 64;                 // concurrent calls (kube-apiserver bursts at start)
  // Each call: method ("Status", "Encrypt", "Decrypt"), its result, seconds spent.
  std::function<void(const char* method, ErrorCode code, double seconds)> observe;
};

// The socket path of "unix:///p" or "unix:/p"; InvalidArgument for anything else.
Result<std::string> unixSocketPath(const std::string& listen);

class KmsServer {
 public:
  // Errors: InvalidArgument (not a unix:// address, a non-socket file in the way, no parent
  // directory), Unavailable (cannot bind).
  static Result<std::unique_ptr<KmsServer>> start(KmsServerOptions options, Plugin& plugin);
  ~KmsServer();
  KmsServer(const KmsServer&) = delete;
  KmsServer& operator=(const KmsServer&) = delete;

  const std::string& socketPath() const;
  // Stops accepting; in-flight calls get until `deadline`; removes the socket file. Idempotent.
  void stop(std::chrono::milliseconds deadline = std::chrono::milliseconds(2000));

  struct Impl;

 private:
  explicit KmsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keygate::kms

#pragma once
// A real PyKMIP server (python3-pykmip's pykmip-server) on a free loopback port, for the
// KMIP backend's integration tests. Its own CA, server certificate (IP SAN 127.0.0.1) and
// client certificates with the clientAuth EKU (PyKMIP requires it) are made with the
// openssl CLI. RSA: PyKMIP's TLS 1.2 suites are RSA key exchange (AES128-SHA256).
// Stopped with SIGINT (it lingers on SIGTERM).

#include <memory>
#include <string>
#include <sys/types.h>

#include "common/result.h"
#include "support/temp_dir.h"

namespace keygate::testing {

struct KmipClientCert {
  std::string certFile;
  std::string keyFile;
};

class PyKmipServer {
 public:
  static Result<std::unique_ptr<PyKmipServer>> start();
  ~PyKmipServer();

  int port() const { return port_; }
  const std::string& caFile() const { return caFile_; }
  // A client certificate whose CN is `identity` (PyKMIP's object owner), signed by the CA.
  Result<KmipClientCert> clientCert(const std::string& identity);
  // A CA the server does not know, with a client certificate from it.
  Result<KmipClientCert> strangerCert();
  std::string log() const;
  // Stops the server (SIGINT, then SIGKILL after 5 s); idempotent.
  void stop();
  // Starts it again on the same port, certificates and database.
  Status restart();

 private:
  PyKmipServer() = default;
  Status launch();
  TempDir dir_{"keygate-pykmip"};
  std::string caFile_, caKey_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace keygate::testing

#pragma once
// A client of the crypto API for Keygate's own tools (the `keygate encrypt|decrypt|…` CLI,
// the KMS v2 plugin, tests, benchmarks). Errors carry the server's gRPC status as an
// ErrorCode and its message unchanged. gRPC is confined to grpc_client.cc.

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "keygate/v1/crypto.pb.h"

namespace keygate::dataplane {

struct CryptoClientOptions {
  std::string target;          // host:port
  bool insecure = false;       // plain text (loopback servers of `keygate local` and tests)
  std::string caFile;          // CA of the server certificate (TLS); "" = system roots
  std::string serverName;      // TLS name to verify, "" = the target's host
  std::string certFile;        // client certificate (optional; re-read when it changes)
  std::string keyFile;
  // How often certFile/keyFile/caFile are looked at; when they changed, the next call uses a
  // new connection (a new TLS handshake) with the renewed certificate.
  std::chrono::seconds certReloadInterval{60};
  std::string token;           // bearer token
  std::string tokenFile;       // or a file holding it (a projected token, re-read on change)
  std::chrono::milliseconds timeout{10000};
};

class CryptoClient {
 public:
  static Result<std::unique_ptr<CryptoClient>> connect(CryptoClientOptions options);
  ~CryptoClient();

  Result<v1::EncryptResponse> encrypt(const v1::EncryptRequest& r);
  Result<v1::DecryptResponse> decrypt(const v1::DecryptRequest& r);
  Result<v1::GenerateDataKeyResponse> generateDataKey(const v1::GenerateDataKeyRequest& r);
  Result<v1::ReEncryptResponse> reEncrypt(const v1::ReEncryptRequest& r);
  Result<v1::SignResponse> sign(const v1::SignRequest& r);
  Result<v1::VerifyResponse> verify(const v1::VerifyRequest& r);
  Result<v1::MacResponse> mac(const v1::MacRequest& r);
  Result<v1::VerifyMacResponse> verifyMac(const v1::VerifyMacRequest& r);
  Result<v1::GetPublicKeyResponse> getPublicKey(const v1::GetPublicKeyRequest& r);
  // Up to 256 calls in one round trip; each result says its own success or error.
  Result<v1::BatchResponse> batch(const v1::BatchRequest& r);

  struct Impl;

 private:
  explicit CryptoClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keygate::dataplane

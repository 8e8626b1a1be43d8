#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "common/file.h"
#include "common/grpc_codes.h"
#include "common/log.h"
#include "dataplane/crypto_client.h"
#include "keygate/v1/crypto.grpc.pb.h"

namespace keygate::dataplane {
namespace {

Result<std::string> readFile(const std::string& path) { return readWholeFile(path, ErrorCode::kInvalidArgument); }

const log::Logger& logger() {
  static const log::Logger l("crypto.client");
  return l;
}

// "--ca-file /x: cannot read /x": which flag named the file.
Result<std::string> readNamed(const char* flag, const std::string& path) {
  auto r = readFile(path);
  if (!r.ok()) return makeError(ErrorCode::kInvalidArgument, std::string(flag) + ": " + r.error().message);
  return r;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// Modification time and size of each credential file: a change means a renewed certificate.
std::string fileStamp(const std::vector<std::string>& paths) {
  std::string out;
  for (const auto& p : paths) {
    struct stat st {};
    if (p.empty() || ::stat(p.c_str(), &st) != 0) {
      out += "-;";
      continue;
    }
    out += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" + std::to_string(st.st_size) + ";";
  }
  return out;
}

// The private key belongs to the certificate (a renewal can be caught with one file written).
Status checkPair(const std::string& certPem, const std::string& keyPem, const std::string& certFile) {
  BIO* cb = BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO* kb = BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  const bool ok = cert && key && X509_check_private_key(cert, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  ERR_clear_error();
  if (!ok)
    return makeError(ErrorCode::kInvalidArgument,
                     "client certificate " + certFile + " and its key file are not a PEM certificate and its private key");
  return okStatus();
}

}  // namespace

struct CryptoClient::Impl {
  CryptoClientOptions options;
  grpc::ChannelArguments args;

  std::mutex mu;
  std::shared_ptr<v1::Crypto::Stub> stub;  // shared: in-flight calls keep the old channel alive
  std::string stamp;                       // of the credential files the channel was built from
  std::string failedStamp;                 // files that did not make a channel (not retried until they change)
  std::chrono::steady_clock::time_point nextCheck;

  // The channel's credentials, read from the files now. A client certificate is presented at
  // the TLS handshake, so a renewed one needs a new channel (see currentStub).
  Result<std::shared_ptr<grpc::ChannelCredentials>> credentials() const {
    const auto& o = options;
    if (o.insecure) return grpc::InsecureChannelCredentials();
    grpc::SslCredentialsOptions ssl;
    if (!o.caFile.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_root_certs, readNamed("--ca-file", o.caFile));
    }
    if (!o.certFile.empty() || !o.keyFile.empty()) {
      if (o.certFile.empty() || o.keyFile.empty())
        return makeError(ErrorCode::kInvalidArgument, "a client certificate needs both --cert-file and --key-file");
      ASSIGN_OR_RETURN(ssl.pem_cert_chain, readNamed("--cert-file", o.certFile));
      ASSIGN_OR_RETURN(ssl.pem_private_key, readNamed("--key-file", o.keyFile));
      Status pair = checkPair(ssl.pem_cert_chain, ssl.pem_private_key, o.certFile);
      if (!pair.ok()) {
        OPENSSL_cleanse(ssl.pem_private_key.data(), ssl.pem_private_key.size());
        return pair.takeError();
      }
    }
    auto creds = grpc::SslCredentials(ssl);
    // gRPC keeps its own copy; ours goes.
    if (!ssl.pem_private_key.empty()) OPENSSL_cleanse(ssl.pem_private_key.data(), ssl.pem_private_key.size());
    return creds;
  }

  std::string currentStamp() const { return fileStamp({options.caFile, options.certFile, options.keyFile}); }

  // A new channel from the files as they are now; `now` is their stamp.
  Status rebuild(std::string now) {
    ASSIGN_OR_RETURN(auto creds, credentials());
    auto channel = grpc::CreateCustomChannel(options.target, creds, args);
    stub = std::shared_ptr<v1::Crypto::Stub>(v1::Crypto::NewStub(channel));
    stamp = std::move(now);
    return okStatus();
  }

  // The stub for the next call. With a client certificate, the files are looked at every
  // certReloadInterval; when they changed (cert-manager or kubeadm renewed them) the next
  // call goes over a new channel and so a new handshake with the new certificate, instead of
  // the old identity living on in a long-lived connection. A renewal caught half-written
  // keeps the current channel and is tried again at the next check.
  std::shared_ptr<v1::Crypto::Stub> currentStub() {
    std::lock_guard<std::mutex> lock(mu);
    const bool files = !options.insecure && (!options.certFile.empty() || !options.caFile.empty());
    if (files && std::chrono::steady_clock::now() >= nextCheck) {
      nextCheck = std::chrono::steady_clock::now() + options.certReloadInterval;
      std::string now = currentStamp();
      if (now != stamp && now != failedStamp) {
        auto old = stub;
        Status st = rebuild(now);
        if (!st.ok()) {
          // Said once per change of the files; the last good connection keeps serving.
          stub = old;
          failedStamp = now;
          logger().warn("renewed credentials not used", {{"error", st.error().message}});
        }
      }
    }
    return stub;
  }

  // The bearer token for this call: the file is re-read each time (projected tokens rotate).
  Result<std::string> token() const {
    if (!options.token.empty()) return options.token;
    if (options.tokenFile.empty()) return std::string();
    ASSIGN_OR_RETURN(std::string t, readFile(options.tokenFile));
    return trim(t);
  }

  template <typename Req, typename Resp, typename Fn>
  Result<Resp> call(const Req& req, Fn fn) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options.timeout);
    ASSIGN_OR_RETURN(std::string t, token());
    if (!t.empty()) ctx.AddMetadata("authorization", "Bearer " + t);
    Resp resp;
    auto s = currentStub();
    grpc::Status st = fn(*s, &ctx, req, &resp);
    if (!st.ok()) {
      Error e(errorCodeFromGrpc(st.error_code()), st.error_message());
      e.reason = "GRPC_" + std::to_string(static_cast<int>(st.error_code()));
      return e;
    }
    return resp;
  }
};

CryptoClient::CryptoClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CryptoClient::~CryptoClient() = default;

Result<std::unique_ptr<CryptoClient>> CryptoClient::connect(CryptoClientOptions o) {
  if (o.target.empty()) return makeError(ErrorCode::kInvalidArgument, "crypto API address is empty (--server HOST:PORT)");
  if (o.certReloadInterval.count() < 1) o.certReloadInterval = std::chrono::seconds(1);
  auto impl = std::make_unique<Impl>();
  impl->args.SetMaxReceiveMessageSize(4 * 65536 + 4096);
  impl->args.SetMaxSendMessageSize(4 * 65536 + 4096);
  if (!o.insecure && !o.serverName.empty()) impl->args.SetSslTargetNameOverride(o.serverName);
  impl->options = std::move(o);
  impl->nextCheck = std::chrono::steady_clock::now() + impl->options.certReloadInterval;
  // Unreadable files are a clear error now, not a failed handshake later.
  RETURN_IF_ERROR(impl->rebuild(impl->currentStamp()));
  return std::unique_ptr<CryptoClient>(new CryptoClient(std::move(impl)));
}

#define KG_CLIENT(method, Rpc)                                                                            \
  Result<v1::Rpc##Response> CryptoClient::method(const v1::Rpc##Request& r) {                           \
    return impl_->call<v1::Rpc##Request, v1::Rpc##Response>(                                            \
        r, [](v1::Crypto::Stub& s, grpc::ClientContext* c, const v1::Rpc##Request& q, v1::Rpc##Response* p) { \
          return s.Rpc(c, q, p);                                                                         \
        });                                                                                              \
  }
KG_CLIENT(encrypt, Encrypt)
KG_CLIENT(decrypt, Decrypt)
KG_CLIENT(generateDataKey, GenerateDataKey)
KG_CLIENT(reEncrypt, ReEncrypt)
KG_CLIENT(sign, Sign)
KG_CLIENT(verify, Verify)
KG_CLIENT(mac, Mac)
KG_CLIENT(verifyMac, VerifyMac)
KG_CLIENT(getPublicKey, GetPublicKey)
KG_CLIENT(batch, Batch)
#undef KG_CLIENT

}  // namespace keygate::dataplane

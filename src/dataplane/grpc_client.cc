#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/file.h"
#include "common/grpc_codes.h"
#include "dataplane/crypto_client.h"
#include "keygate/v1/crypto.grpc.pb.h"

namespace keygate::dataplane {
namespace {

Result<std::string> readFile(const std::string& path) { return readWholeFile(path, ErrorCode::kInvalidArgument); }

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

struct CryptoClient::Impl {
  CryptoClientOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Crypto::Stub> stub;

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
    grpc::Status st = fn(&ctx, req, &resp);
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
  std::shared_ptr<grpc::ChannelCredentials> creds;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(4 * 65536 + 4096);
  args.SetMaxSendMessageSize(4 * 65536 + 4096);
  if (o.insecure) {
    creds = grpc::InsecureChannelCredentials();
  } else if (!o.certFile.empty() || !o.keyFile.empty()) {
    if (o.certFile.empty() || o.keyFile.empty())
      return makeError(ErrorCode::kInvalidArgument, "a client certificate needs both --cert-file and --key-file");
    // Read once here so a missing or unreadable file is a clear error now, not a failed
    // handshake later; then gRPC's file watcher re-reads all three files when they change
    // (cert-manager or kubeadm renewing the client certificate of a long-running plugin).
    RETURN_IF_ERROR(readFile(o.certFile));
    RETURN_IF_ERROR(readFile(o.keyFile));
    if (!o.caFile.empty()) RETURN_IF_ERROR(readFile(o.caFile));
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.keyFile, o.certFile, o.caFile, static_cast<unsigned>(std::max<int64_t>(1, o.certReloadInterval.count())));
    grpc::experimental::TlsChannelCredentialsOptions tls;
    tls.set_certificate_provider(provider);
    tls.watch_identity_key_cert_pairs();
    if (!o.caFile.empty()) tls.watch_root_certs();
    tls.set_verify_server_certs(true);
    tls.set_certificate_verifier(std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
    tls.set_check_call_host(true);
    creds = grpc::experimental::TlsCredentials(tls);
    if (!o.serverName.empty()) args.SetSslTargetNameOverride(o.serverName);
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!o.caFile.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_root_certs, readFile(o.caFile));
    }
    if (!o.certFile.empty() || !o.keyFile.empty()) {
      if (o.certFile.empty() || o.keyFile.empty())
        return makeError(ErrorCode::kInvalidArgument, "a client certificate needs both --cert-file and --key-file");
      ASSIGN_OR_RETURN(ssl.pem_cert_chain, readFile(o.certFile));
      ASSIGN_OR_RETURN(ssl.pem_private_key, readFile(o.keyFile));
    }
    creds = grpc::SslCredentials(ssl);
    if (!o.serverName.empty()) args.SetSslTargetNameOverride(o.serverName);
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(o);
  impl->channel = grpc::CreateCustomChannel(impl->options.target, creds, args);
  impl->stub = v1::Crypto::NewStub(impl->channel);
  return std::unique_ptr<CryptoClient>(new CryptoClient(std::move(impl)));
}

#define KG_CLIENT(method, Rpc)                                                                            \
  Result<v1::Rpc##Response> CryptoClient::method(const v1::Rpc##Request& r) {                           \
    return impl_->call<v1::Rpc##Request, v1::Rpc##Response>(                                            \
        r, [this](grpc::ClientContext* c, const v1::Rpc##Request& q, v1::Rpc##Response* p) {             \
          return impl_->stub->Rpc(c, q, p);                                                              \
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
#undef KG_CLIENT

}  // namespace keygate::dataplane

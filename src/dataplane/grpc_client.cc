#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "dataplane/crypto_client.h"
#include "keygate/v1/crypto.grpc.pb.h"

namespace keygate::dataplane {
namespace {

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(ErrorCode::kInvalidArgument, path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

ErrorCode errorCodeFromGrpc(int c) {
  switch (static_cast<grpc::StatusCode>(c)) {
    case grpc::StatusCode::OK: return ErrorCode::kOk;
    case grpc::StatusCode::CANCELLED: return ErrorCode::kCancelled;
    case grpc::StatusCode::INVALID_ARGUMENT: return ErrorCode::kInvalidArgument;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return ErrorCode::kDeadlineExceeded;
    case grpc::StatusCode::NOT_FOUND: return ErrorCode::kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS: return ErrorCode::kAlreadyExists;
    case grpc::StatusCode::PERMISSION_DENIED: return ErrorCode::kPermissionDenied;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return ErrorCode::kResourceExhausted;
    case grpc::StatusCode::FAILED_PRECONDITION: return ErrorCode::kFailedPrecondition;
    case grpc::StatusCode::ABORTED: return ErrorCode::kConflict;
    case grpc::StatusCode::UNIMPLEMENTED: return ErrorCode::kUnimplemented;
    case grpc::StatusCode::UNAVAILABLE: return ErrorCode::kUnavailable;
    case grpc::StatusCode::UNAUTHENTICATED: return ErrorCode::kUnauthenticated;
    default: return ErrorCode::kInternal;
  }
}

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

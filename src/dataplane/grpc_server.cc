#include "dataplane/grpc_server.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <arpa/inet.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "common/file.h"
#include "common/grpc_codes.h"
#include "common/log.h"
#include "common/pem.h"
#include "keygate/v1/crypto.grpc.pb.h"

namespace keygate::dataplane {
namespace {

const log::Logger& logger() {
  static const log::Logger l("dataplane.grpc");
  return l;
}

grpc::Status toGrpc(const Error& e) {
  return grpc::Status(static_cast<grpc::StatusCode>(grpcStatusCode(e.code)), e.message);
}

Result<std::string> readFile(const std::string& path, const std::string& what) {
  auto r = readWholeFile(path, ErrorCode::kInvalidArgument);
  if (!r.ok()) return makeError(ErrorCode::kInvalidArgument, what + " " + path + ": cannot read");
  return r;
}

// The PEM file holds at least one certificate (or, for the key, one private key).
Status checkPem(const std::string& path, const std::string& what, bool key) {
  ASSIGN_OR_RETURN(std::string pem, readFile(path, what));
  if (!pemHolds(pem, key))
    return makeError(ErrorCode::kInvalidArgument, what + " " + path + ": no PEM " + (key ? "private key" : "certificate"));
  return okStatus();
}

// A loopback listen address: 127.0.0.0/8 as an IPv4 literal, [::1], localhost or a unix
// socket. (A host name that merely starts with "127." is not loopback.)
bool loopback(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) return true;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string host = address.substr(0, colon);
  if (host == "localhost" || host == "[::1]") return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

// Organizations (O) of the verified peer certificate, parsed from its PEM.
std::vector<std::string> parseOrganizations(const std::string& pem) {
  std::vector<std::string> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!cert) return out;
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_organizationName, i)) >= 0;) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n > 0) out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  X509_free(cert);
  return out;
}

// The same, remembered per certificate: a connection presents one certificate for all its
// calls, and OpenSSL 3's PEM decoding (its decoder framework, under global locks) cost more
// than the rest of a crypto call. Bounded: cleared when it holds 1024 certificates.
std::vector<std::string> organizations(const std::string& pem) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::vector<std::string>> memo;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = memo.find(pem);
    if (it != memo.end()) return it->second;
  }
  auto orgs = parseOrganizations(pem);
  std::lock_guard<std::mutex> lock(mu);
  if (memo.size() >= 1024) memo.clear();
  memo.emplace(pem, orgs);
  return orgs;
}

std::string str(const grpc::string_ref& r) { return std::string(r.data(), r.size()); }

Credentials credentialsOf(const grpc::ServerContextBase& ctx) {
  Credentials c;
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) {
    std::string v = str(it->second);
    if (v.size() > 7 && (v.rfind("Bearer ", 0) == 0 || v.rfind("bearer ", 0) == 0)) c.bearerToken = v.substr(7);
  }
  auto auth = ctx.auth_context();
  if (auth && auth->IsPeerAuthenticated()) {
    auto cn = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
    auto pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (!cn.empty()) {
      c.certificateVerified = true;
      c.certificateCommonName = str(cn.front());
      if (!pem.empty()) c.certificateOrganizations = organizations(str(pem.front()));
    }
  }
  return c;
}

// The callback API: each call runs inline on gRPC's own threads (a crypto call holds one for
// tens of microseconds), without the sync server's hand-off to a thread pool that grows and
// shrinks under load (thread creation per burst dominated bench/crypto_bench's profile).
class CryptoImpl final : public keygate::v1::Crypto::CallbackService {
 public:
  CryptoImpl(Authenticator& a, CryptoService& s, std::function<Status()> serving, size_t maxMessageBytes)
      : auth_(a), svc_(s), serving_(std::move(serving)), maxMessageBytes_(maxMessageBytes) {}

  template <typename Req, typename Resp, typename Fn>
  grpc::Status handle(grpc::CallbackServerContext* ctx, Operation op, const Req* req, Resp* resp, Fn fn) {
    if (serving_) {
      Status st = serving_();
      if (!st.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, st.error().message);
    }
    Result<Caller> caller = auth_.authenticate(credentialsOf(*ctx));
    if (!caller.ok()) {
      svc_.observeUnauthenticated(op, caller.error(), req->key());
      return toGrpc(caller.error());
    }
    auto r = fn(*caller, *req);
    if (!r.ok()) return toGrpc(r.error());
    *resp = std::move(*r);
    return grpc::Status::OK;
  }

#define KG_RPC(Method, OP, fn)                                                                                 \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx, const v1::Method##Request* req,             \
                                   v1::Method##Response* resp) override {                                        \
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();                                                   \
    reactor->Finish(                                                                                             \
        handle(ctx, OP, req, resp, [this](const Caller& c, const v1::Method##Request& r) { return svc_.fn(c, r); })); \
    return reactor;                                                                                              \
  }
  KG_RPC(Encrypt, Operation::kEncrypt, encrypt)
  KG_RPC(Decrypt, Operation::kDecrypt, decrypt)
  KG_RPC(GenerateDataKey, Operation::kGenerateDataKey, generateDataKey)
  KG_RPC(ReEncrypt, Operation::kReEncrypt, reEncrypt)
  KG_RPC(Sign, Operation::kSign, sign)
  KG_RPC(Verify, Operation::kVerify, verify)
  KG_RPC(Mac, Operation::kMac, mac)
  KG_RPC(VerifyMac, Operation::kVerifyMac, verifyMac)
  KG_RPC(GetPublicKey, Operation::kGetPublicKey, getPublicKey)
#undef KG_RPC

  grpc::ServerUnaryReactor* Batch(grpc::CallbackServerContext* ctx, const v1::BatchRequest* req,
                                  v1::BatchResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(batch(*ctx, *req, resp));
    return reactor;
  }

  grpc::Status batch(const grpc::CallbackServerContext& ctx, const v1::BatchRequest& req, v1::BatchResponse* resp) {
    if (serving_) {
      Status st = serving_();
      if (!st.ok()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, st.error().message);
    }
    if (req.calls().empty() || req.calls_size() > kMaxBatchCalls)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a batch holds 1.." + std::to_string(kMaxBatchCalls) + " calls; this one has " +
                              std::to_string(req.calls_size()));
    Result<Caller> caller = auth_.authenticate(credentialsOf(ctx));
    if (!caller.ok()) {
      auto [op, key] = operationOf(req.calls(0));
      svc_.observeUnauthenticated(op, caller.error(), key);
      return toGrpc(caller.error());
    }
    // The response must fit the message size limit too. A result is at most its call's size
    // plus resultSlack() (the version name and id, IV and tag, a data key; a signature or a
    // PEM public key), so a call that might not fit is not run: it and the calls after it
    // answer RESOURCE_EXHAUSTED.
    resp->mutable_results()->Reserve(req.calls_size());
    size_t used = 0;
    for (const auto& call : req.calls()) {
      auto* r = resp->add_results();
      r->set_id(call.id());
      const size_t bound = call.ByteSizeLong() + resultSlack(call);
      if (used + bound > maxMessageBytes_) {
        setError(r, makeError(ErrorCode::kResourceExhausted,
                              "not run: the batch's response could exceed " + std::to_string(maxMessageBytes_) +
                                  " bytes; send this call and the ones after it in another batch"));
        used = maxMessageBytes_;
        continue;
      }
      dispatch(*caller, call, r);
      used += r->ByteSizeLong() + 8;  // + the field's tag and length
    }
    return grpc::Status::OK;
  }

 private:
  static constexpr int kMaxBatchCalls = 256;

  // How much larger than its call a result can be: an RSA-4096 signature or a PEM public
  // key is up to ~800 bytes more; every other result adds less than 128 bytes.
  static size_t resultSlack(const v1::Call& call) {
    return call.has_sign() || call.has_get_public_key() ? 1024 : 256;
  }

  void dispatch(const Caller& c, const v1::Call& req, v1::CallResult* resp) {
    using R = v1::Call;
    switch (req.call_case()) {
      case R::kEncrypt: put(resp, svc_.encrypt(c, req.encrypt()), &v1::CallResult::mutable_encrypt); break;
      case R::kDecrypt: put(resp, svc_.decrypt(c, req.decrypt()), &v1::CallResult::mutable_decrypt); break;
      case R::kGenerateDataKey:
        put(resp, svc_.generateDataKey(c, req.generate_data_key()), &v1::CallResult::mutable_generate_data_key);
        break;
      case R::kReEncrypt: put(resp, svc_.reEncrypt(c, req.re_encrypt()), &v1::CallResult::mutable_re_encrypt); break;
      case R::kSign: put(resp, svc_.sign(c, req.sign()), &v1::CallResult::mutable_sign); break;
      case R::kVerify: put(resp, svc_.verify(c, req.verify()), &v1::CallResult::mutable_verify); break;
      case R::kMac: put(resp, svc_.mac(c, req.mac()), &v1::CallResult::mutable_mac); break;
      case R::kVerifyMac: put(resp, svc_.verifyMac(c, req.verify_mac()), &v1::CallResult::mutable_verify_mac); break;
      case R::kGetPublicKey:
        put(resp, svc_.getPublicKey(c, req.get_public_key()), &v1::CallResult::mutable_get_public_key);
        break;
      case R::CALL_NOT_SET:
        setError(resp, makeError(ErrorCode::kInvalidArgument,
                                 "the call names no method: set one of encrypt, decrypt, generate_data_key, "
                                 "re_encrypt, sign, verify, mac, verify_mac, get_public_key"));
        break;
    }
  }

  static void setError(v1::CallResult* resp, const Error& e) {
    auto* err = resp->mutable_error();
    err->set_code(grpcStatusCode(e.code));
    err->set_message(e.message);
  }

  template <typename Resp>
  static void put(v1::CallResult* resp, Result<Resp> r, Resp* (v1::CallResult::*slot)()) {
    if (!r.ok()) setError(resp, r.error());
    else *(resp->*slot)() = std::move(*r);
  }

  static std::pair<Operation, std::string> operationOf(const v1::Call& req) {
    using R = v1::Call;
    switch (req.call_case()) {
      case R::kEncrypt: return {Operation::kEncrypt, req.encrypt().key()};
      case R::kDecrypt: return {Operation::kDecrypt, req.decrypt().key()};
      case R::kGenerateDataKey: return {Operation::kGenerateDataKey, req.generate_data_key().key()};
      case R::kReEncrypt: return {Operation::kReEncrypt, req.re_encrypt().key()};
      case R::kSign: return {Operation::kSign, req.sign().key()};
      case R::kVerify: return {Operation::kVerify, req.verify().key()};
      case R::kMac: return {Operation::kMac, req.mac().key()};
      case R::kVerifyMac: return {Operation::kVerifyMac, req.verify_mac().key()};
      case R::kGetPublicKey: return {Operation::kGetPublicKey, req.get_public_key().key()};
      case R::CALL_NOT_SET: break;
    }
    return {Operation::kEncrypt, ""};
  }

  Authenticator& auth_;
  CryptoService& svc_;
  std::function<Status()> serving_;
  const size_t maxMessageBytes_;
};

}  // namespace

struct GrpcServer::Impl {
  std::unique_ptr<CryptoImpl> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  bool stopped = false;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcServer::~GrpcServer() { stop(std::chrono::milliseconds(0)); }
int GrpcServer::port() const { return impl_->port; }

void GrpcServer::stop(std::chrono::milliseconds deadline) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + deadline);
  impl_->server->Wait();
}

Result<std::unique_ptr<GrpcServer>> GrpcServer::start(GrpcServerOptions o, Authenticator& authenticator,
                                                      CryptoService& service) {
  if (o.certFile.empty() != o.keyFile.empty())
    return makeError(ErrorCode::kInvalidArgument, "crypto API TLS needs both a certificate and a key file");
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (o.certFile.empty()) {
    if (!loopback(o.address))
      return makeError(ErrorCode::kInvalidArgument, "crypto API on " + o.address +
                                                        " without TLS: set a certificate and key (plain text is for loopback only)");
    creds = grpc::InsecureServerCredentials();
  } else {
    RETURN_IF_ERROR(checkPem(o.certFile, "crypto API certificate", false));
    RETURN_IF_ERROR(checkPem(o.keyFile, "crypto API key", true));
    if (!o.clientCaFile.empty()) RETURN_IF_ERROR(checkPem(o.clientCaFile, "crypto API client CA", false));
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        o.keyFile, o.certFile, o.clientCaFile, static_cast<unsigned>(o.certRefresh.count()));
    grpc::experimental::TlsServerCredentialsOptions tls(provider);
    tls.watch_identity_key_cert_pairs();
    if (!o.clientCaFile.empty()) {
      tls.watch_root_certs();
      // A certificate is optional (token callers have none) but verified when presented.
      tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    } else {
      tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    }
    creds = grpc::experimental::TlsServerCredentials(tls);
  }
  // Debian's Abseil runs absl::Mutex deadlock detection (a lock graph kept on every
  // acquisition): it cost ~5% of the server's CPU in bench/crypto_bench. gRPC's own
  // correctness does not depend on it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<CryptoImpl>(authenticator, service, o.serving, o.maxMessageBytes);
  grpc::ServerBuilder b;
  b.AddListeningPort(o.address, creds, &impl->port);
  b.RegisterService(impl->service.get());
  b.SetMaxReceiveMessageSize(static_cast<int>(o.maxMessageBytes));
  b.SetMaxSendMessageSize(static_cast<int>(o.maxMessageBytes));
  impl->server = b.BuildAndStart();
  if (!impl->server || impl->port == 0)
    return makeError(ErrorCode::kUnavailable, "crypto API: cannot listen on " + o.address);
  logger().info("crypto API serving", {{"address", o.address},
                                       {"port", impl->port},
                                       {"tls", !o.certFile.empty()},
                                       {"clientCertificates", !o.clientCaFile.empty()}});
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

}  // namespace keygate::dataplane

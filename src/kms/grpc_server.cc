#include "kms/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/grpc_codes.h"
#include "common/log.h"
#include "kms/v2/api.grpc.pb.h"

namespace keygate::kms {
namespace {

const log::Logger& logger() {
  static const log::Logger l("kms.grpc");
  return l;
}

// The sync API: each call blocks on a crypto API round trip, which belongs on a thread pool,
// not on gRPC's callback threads.
class KmsImpl final : public v2::KeyManagementService::Service {
 public:
  KmsImpl(Plugin& p, std::function<void(const char*, ErrorCode, double)> observe)
      : plugin_(p), observe_(std::move(observe)) {}

  grpc::Status Status(grpc::ServerContext*, const v2::StatusRequest*, v2::StatusResponse* resp) override {
    auto t0 = std::chrono::steady_clock::now();
    *resp = plugin_.status();
    done("Status", ErrorCode::kOk, t0);
    return grpc::Status::OK;
  }

  grpc::Status Encrypt(grpc::ServerContext*, const v2::EncryptRequest* req, v2::EncryptResponse* resp) override {
    return handle("Encrypt", [&] { return plugin_.encrypt(*req); }, resp);
  }

  grpc::Status Decrypt(grpc::ServerContext*, const v2::DecryptRequest* req, v2::DecryptResponse* resp) override {
    return handle("Decrypt", [&] { return plugin_.decrypt(*req); }, resp);
  }

 private:
  template <typename Fn, typename Resp>
  grpc::Status handle(const char* method, Fn fn, Resp* resp) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = fn();
    if (!r.ok()) {
      done(method, r.error().code, t0);
      return grpc::Status(static_cast<grpc::StatusCode>(grpcStatusCode(r.error().code)), r.error().message);
    }
    *resp = std::move(*r);
    done(method, ErrorCode::kOk, t0);
    return grpc::Status::OK;
  }

  void done(const char* method, ErrorCode code, std::chrono::steady_clock::time_point t0) {
    if (observe_)
      observe_(method, code, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  Plugin& plugin_;
  std::function<void(const char*, ErrorCode, double)> observe_;
};

}  // namespace

Result<std::string> unixSocketPath(const std::string& listen) {
  std::string path;
  if (listen.rfind("unix://", 0) == 0) path = listen.substr(7);
  else if (listen.rfind("unix:", 0) == 0) path = listen.substr(5);
  else
    return makeError(ErrorCode::kInvalidArgument, "--listen must be a unix socket (unix:///path/to/kms.sock), as "
                                                  "kube-apiserver's EncryptionConfiguration endpoint; got \"" + listen + "\"");
  if (path.empty() || path[0] != '/')
    return makeError(ErrorCode::kInvalidArgument, "--listen needs an absolute socket path (unix:///path/to/kms.sock), got \"" +
                                                      listen + "\"");
  if (path.size() > 107)
    return makeError(ErrorCode::kInvalidArgument, "socket path " + path + " is longer than a unix socket allows (107 bytes)");
  return path;
}

struct KmsServer::Impl {
  std::unique_ptr<KmsImpl> service;
  std::unique_ptr<grpc::Server> server;
  std::string path;
  bool stopped = false;
};

KmsServer::KmsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KmsServer::~KmsServer() { stop(std::chrono::milliseconds(0)); }
const std::string& KmsServer::socketPath() const { return impl_->path; }

void KmsServer::stop(std::chrono::milliseconds deadline) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + deadline);
  impl_->server->Wait();
  ::unlink(impl_->path.c_str());
}

Result<std::unique_ptr<KmsServer>> KmsServer::start(KmsServerOptions o, Plugin& plugin) {
  ASSIGN_OR_RETURN(std::string path, unixSocketPath(o.listen));
  const std::string dir = path.substr(0, path.rfind('/'));
  struct stat st {};
  if (!dir.empty() && (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
    return makeError(ErrorCode::kInvalidArgument, "socket directory " + dir + " does not exist");
  if (::lstat(path.c_str(), &st) == 0) {
    // A socket left by an earlier run is replaced; anything else is somebody's file.
    if (!S_ISSOCK(st.st_mode))
      return makeError(ErrorCode::kInvalidArgument, path + " exists and is not a socket; refusing to replace it");
    if (::unlink(path.c_str()) != 0)
      return makeError(ErrorCode::kInvalidArgument, "cannot remove the old socket " + path + ": " + std::strerror(errno));
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->service = std::make_unique<KmsImpl>(plugin, o.observe);
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("unix://" + path, grpc::InsecureServerCredentials(), &port);
  b.RegisterService(impl->service.get());
  b.SetMaxReceiveMessageSize(static_cast<int>(o.maxMessageBytes));
  b.SetMaxSendMessageSize(static_cast<int>(o.maxMessageBytes));
  grpc::ResourceQuota quota("keygate-kms");
  quota.SetMaxThreads(o.maxThreads);
  b.SetResourceQuota(quota);
  // The socket is born 0600: no window in which another user could connect.
  mode_t old = ::umask(0177);
  impl->server = b.BuildAndStart();
  ::umask(old);
  if (!impl->server) return makeError(ErrorCode::kUnavailable, "KMS plugin: cannot listen on " + o.listen);
  if (::chmod(path.c_str(), 0600) != 0) {
    impl->server->Shutdown();
    return makeError(ErrorCode::kUnavailable, "cannot set mode 0600 on " + path + ": " + std::strerror(errno));
  }
  logger().info("KMS v2 plugin serving", {{"socket", path}});
  return std::unique_ptr<KmsServer>(new KmsServer(std::move(impl)));
}

}  // namespace keygate::kms

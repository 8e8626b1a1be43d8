#include "kms/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

// True when something accepts connections on the socket (another plugin still serving).
static bool listening(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return live;
}

struct KmsServer::Impl {
  std::unique_ptr<KmsImpl> service;
  std::unique_ptr<grpc::Server> server;
  std::string path;
  dev_t dev = 0;  // the socket file this server made: stop() removes only that one
  ino_t ino = 0;
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
  // Not a socket a newer plugin (an overlapping static-pod restart) put in its place.
  struct stat st {};
  if (::lstat(impl_->path.c_str(), &st) == 0 && st.st_dev == impl_->dev && st.st_ino == impl_->ino)
    ::unlink(impl_->path.c_str());
}

Result<std::unique_ptr<KmsServer>> KmsServer::start(KmsServerOptions o, Plugin& plugin) {
  ASSIGN_OR_RETURN(std::string path, unixSocketPath(o.listen));
  const std::string dir = path.substr(0, path.rfind('/'));
  struct stat st {};
  if (!dir.empty() && (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
    return makeError(ErrorCode::kInvalidArgument, "socket directory " + dir + " does not exist");
  if (::lstat(path.c_str(), &st) == 0) {
    // A socket left by an earlier run is replaced; a live one, or anything else, is not ours.
    if (!S_ISSOCK(st.st_mode))
      return makeError(ErrorCode::kInvalidArgument, path + " exists and is not a socket; refusing to replace it");
    if (listening(path))
      return makeError(ErrorCode::kUnavailable, "another process is serving on " + path +
                                                    " (a second kms-plugin?); refusing to take its socket");
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
  // Keep the sync server's threads across bursts: by default it lets all but two pollers exit
  // when idle and creates threads again on the next burst (kube-apiserver's start-up Decrypts).
  b.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  b.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, o.maxThreads);
  // The socket is born 0600: no window in which another user could connect.
  mode_t old = ::umask(0177);
  impl->server = b.BuildAndStart();
  ::umask(old);
  if (!impl->server) return makeError(ErrorCode::kUnavailable, "KMS plugin: cannot listen on " + o.listen);
  if (::chmod(path.c_str(), 0600) != 0 || ::lstat(path.c_str(), &st) != 0) {
    impl->server->Shutdown();
    return makeError(ErrorCode::kUnavailable, "cannot set mode 0600 on " + path + ": " + std::strerror(errno));
  }
  impl->dev = st.st_dev;
  impl->ino = st.st_ino;
  logger().info("KMS v2 plugin serving", {{"socket", path}});
  return std::unique_ptr<KmsServer>(new KmsServer(std::move(impl)));
}

}  // namespace keygate::kms

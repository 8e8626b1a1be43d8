// TLS transport for KMIP (OpenSSL): blocking sockets with send/receive timeouts.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

#include "backends/kmip/kmip_client.h"

namespace keygate::backends::kmip {
namespace {

std::string sslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

using CtxPtr = std::shared_ptr<SSL_CTX>;

// Writing to a socket the server has closed raises SIGPIPE, which would end the process.
// Block it on this thread for the exchange, and swallow one raised meanwhile (only if it
// was not already pending for someone else).
class NoSigpipe {
 public:
  NoSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    wasPending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~NoSigpipe() {
    if (!wasPending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  NoSigpipe(const NoSigpipe&) = delete;
  NoSigpipe& operator=(const NoSigpipe&) = delete;

 private:
  sigset_t pipe_{}, old_{};
  bool wasPending_ = false;
};

class TlsTransport final : public Transport {
 public:
  TlsTransport(int fd, SSL* ssl, size_t maxBytes, std::string peer) : fd_(fd), ssl_(ssl), maxBytes_(maxBytes), peer_(std::move(peer)) {}
  ~TlsTransport() override {
    SSL_free(ssl_);
    ::close(fd_);
  }

  Result<std::string> exchange(const std::string& request) override {
    NoSigpipe guard;
    size_t sent = 0;
    while (sent < request.size()) {
      const int n = SSL_write(ssl_, request.data() + sent, static_cast<int>(request.size() - sent));
      if (n <= 0) return ioError("sending to");
      sent += static_cast<size_t>(n);
    }
    std::string response(kHeaderBytes, '\0');
    RETURN_IF_ERROR(readExactly(response.data(), kHeaderBytes));
    ASSIGN_OR_RETURN(size_t total, messageLength(response, maxBytes_));
    response.resize(total);
    RETURN_IF_ERROR(readExactly(response.data() + kHeaderBytes, total - kHeaderBytes));
    return response;
  }

 private:
  Status readExactly(char* out, size_t n) {
    size_t got = 0;
    while (got < n) {
      const int r = SSL_read(ssl_, out + got, static_cast<int>(n - got));
      if (r <= 0) return ioError("reading from");
      got += static_cast<size_t>(r);
    }
    return okStatus();
  }
  Error ioError(const char* what) {
    const bool timeout = errno == EAGAIN || errno == EWOULDBLOCK;
    ERR_clear_error();
    return makeError(timeout ? ErrorCode::kDeadlineExceeded : ErrorCode::kUnavailable,
                     std::string("KMIP: ") + (timeout ? "timed out " : "connection lost ") + what + " " + peer_);
  }

  int fd_;
  SSL* ssl_;
  size_t maxBytes_;
  std::string peer_;
};

Result<int> connectTcp(const TlsOptions& o, const std::string& peer) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(o.port);
  if (int rc = getaddrinfo(o.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return makeError(ErrorCode::kUnavailable, "KMIP: cannot resolve " + o.host + ": " + gai_strerror(rc));
  std::string lastError = "no address";
  int fd = -1;
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(o.timeout.count()));
      int err = 0;
      socklen_t len = sizeof err;
      if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) rc = 0;
      else errno = rc == 0 ? ETIMEDOUT : (err != 0 ? err : errno), rc = -1;
    }
    if (rc != 0) {
      lastError = std::strerror(errno);
      ::close(fd);
      fd = -1;
      continue;
    }
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    timeval tv{static_cast<time_t>(o.timeout.count() / 1000), static_cast<suseconds_t>((o.timeout.count() % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  freeaddrinfo(res);
  if (fd < 0) return makeError(ErrorCode::kUnavailable, "KMIP: cannot connect to " + peer + ": " + lastError);
  return fd;
}

bool isIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

Result<TransportFactory> tlsConnector(const TlsOptions& o) {
  if (o.host.empty()) return makeError(ErrorCode::kInvalidArgument, "KMIP endpoint has no host");
  if (o.caFile.empty()) return makeError(ErrorCode::kInvalidArgument, "tls.caFile: required (the CA that signed the KMIP server's certificate)");
  if (o.certFile.empty() != o.keyFile.empty())
    return makeError(ErrorCode::kInvalidArgument, "tls.certFile and tls.keyFile: give both or neither");
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!ctx) return makeError(ErrorCode::kInternal, "KMIP: SSL_CTX_new: " + sslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_AUTO_RETRY);
  if (SSL_CTX_load_verify_locations(ctx.get(), o.caFile.c_str(), nullptr) != 1)
    return makeError(ErrorCode::kInvalidArgument, "tls.caFile: cannot load " + o.caFile + ": " + sslErrors());
  if (!o.certFile.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.certFile.c_str()) != 1)
      return makeError(ErrorCode::kInvalidArgument, "tls.certFile: cannot load " + o.certFile + ": " + sslErrors());
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), o.keyFile.c_str(), SSL_FILETYPE_PEM) != 1)
      return makeError(ErrorCode::kInvalidArgument, "tls.keyFile: cannot load " + o.keyFile + ": " + sslErrors());
    if (SSL_CTX_check_private_key(ctx.get()) != 1)
      return makeError(ErrorCode::kInvalidArgument, "tls.keyFile: " + o.keyFile + " does not match " + o.certFile);
  }
  return TransportFactory([ctx, o]() -> Result<TransportPtr> {
    const std::string peer = o.host + ":" + std::to_string(o.port);
    ASSIGN_OR_RETURN(int fd, connectTcp(o, peer));
    SSL* ssl = SSL_new(ctx.get());
    if (ssl == nullptr) {
      ::close(fd);
      return makeError(ErrorCode::kInternal, "KMIP: SSL_new: " + sslErrors());
    }
    auto transport = std::make_unique<TlsTransport>(fd, ssl, o.maxMessageBytes, peer);  // owns fd and ssl now
    SSL_set_fd(ssl, fd);
    if (isIpAddress(o.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, o.host.c_str());
      SSL_set1_host(ssl, o.host.c_str());
    }
    if (SSL_connect(ssl) != 1) {
      const long verify = SSL_get_verify_result(ssl);
      std::string why = verify != X509_V_OK ? std::string("server certificate: ") + X509_verify_cert_error_string(verify)
                                            : sslErrors();
      ERR_clear_error();
      return makeError(ErrorCode::kUnavailable, "KMIP: TLS handshake with " + peer + " failed: " + why);
    }
    return TransportPtr(std::move(transport));
  });
}

}  // namespace keygate::backends::kmip

#pragma once
// A small blocking HTTPS/1.1 client on OpenSSL for the webhook tests and bench: keep-alive,
// Content-Length and chunked responses, TLS version pinning, and access to the server's
// certificate (to see rotation). Header-only; test code, not production.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/result.h"

namespace keygate::webhook::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct TlsClientOptions {
  std::string caFile;
  int minVersion = 0;  // e.g. TLS1_2_VERSION; 0 = library default
  int maxVersion = 0;
  int timeoutSeconds = 10;
};

inline std::string sslErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "TLS error" : out;
}

class TlsConnection {
 public:
  ~TlsConnection() {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  // certFile/keyFile: a client certificate (PEM) presented when the server asks; "" = none.
  static Result<std::unique_ptr<TlsConnection>> connect(int port, const TlsClientOptions& o,
                                                        const std::string& certFile = "",
                                                        const std::string& keyFile = "") {
    // A server that refuses the client certificate closes the socket after the client's side
    // of a TLS 1.3 handshake is done: the next write must fail, not kill the test process.
    static const bool ignoreSigpipe = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)ignoreSigpipe;
    auto c = std::unique_ptr<TlsConnection>(new TlsConnection());
    c->fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{o.timeoutSeconds, 0};
    setsockopt(c->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::connect(c->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return makeError(ErrorCode::kUnavailable, "connect to 127.0.0.1:" + std::to_string(port) + " failed");
    c->ctx_ = SSL_CTX_new(TLS_client_method());
    if (o.minVersion) SSL_CTX_set_min_proto_version(c->ctx_, o.minVersion);
    if (o.maxVersion) SSL_CTX_set_max_proto_version(c->ctx_, o.maxVersion);
    if (o.maxVersion && o.maxVersion < TLS1_2_VERSION) SSL_CTX_set_security_level(c->ctx_, 0);
    if (!o.caFile.empty()) {
      if (SSL_CTX_load_verify_locations(c->ctx_, o.caFile.c_str(), nullptr) != 1)
        return makeError(ErrorCode::kInvalidArgument, "cannot load CA " + o.caFile + ": " + sslErrors());
      SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
    }
    if (!certFile.empty()) {
      if (SSL_CTX_use_certificate_chain_file(c->ctx_, certFile.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(c->ctx_, keyFile.c_str(), SSL_FILETYPE_PEM) != 1)
        return makeError(ErrorCode::kInvalidArgument, "cannot load client certificate " + certFile + ": " + sslErrors());
    }
    c->ssl_ = SSL_new(c->ctx_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl_), "127.0.0.1");
    SSL_set_fd(c->ssl_, c->fd_);
    if (SSL_connect(c->ssl_) != 1) return makeError(ErrorCode::kUnavailable, "TLS handshake failed: " + sslErrors());
    return c;
  }

  // The server certificate's subject CN.
  std::string peerCommonName() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (!cert) return "";
    char buf[256] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    X509_free(cert);
    return buf;
  }
  std::string protocol() const { return SSL_get_version(ssl_); }

  Result<HttpResult> request(const std::string& method, const std::string& path, const std::string& body,
                             const std::string& extraHeaders = "") {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                      "Content-Length: " + std::to_string(body.size()) + "\r\n" + extraHeaders + "\r\n";
    RETURN_IF_ERROR(writeAll(req));
    RETURN_IF_ERROR(writeAll(body));
    return readResponse();
  }

  // Raw bytes (for malformed HTTP); the caller reads with readResponse().
  Status writeAll(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      int n = SSL_write(ssl_, data.data() + off, static_cast<int>(std::min<size_t>(data.size() - off, 1 << 20)));
      if (n <= 0) return makeError(ErrorCode::kUnavailable, "write failed: " + sslErrors());
      off += static_cast<size_t>(n);
    }
    return okStatus();
  }

  Result<HttpResult> readResponse() {
    HttpResult r;
    size_t hdrEnd;
    while ((hdrEnd = buf_.find("\r\n\r\n")) == std::string::npos) RETURN_IF_ERROR(fill());
    std::istringstream hs(buf_.substr(0, hdrEnd));
    buf_.erase(0, hdrEnd + 4);
    std::string line;
    std::getline(hs, line);
    if (line.size() < 12) return makeError(ErrorCode::kInternal, "bad status line: " + line);
    r.status = std::stoi(line.substr(9, 3));
    while (std::getline(hs, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    if (r.headers.count("content-length")) {
      size_t n = std::stoul(r.headers["content-length"]);
      while (buf_.size() < n) RETURN_IF_ERROR(fill());
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
    } else if (r.headers["transfer-encoding"] == "chunked") {
      for (;;) {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) RETURN_IF_ERROR(fill());
        size_t n = std::stoul(buf_.substr(0, eol), nullptr, 16);
        while (buf_.size() < eol + 2 + n + 2) RETURN_IF_ERROR(fill());
        r.body += buf_.substr(eol + 2, n);
        buf_.erase(0, eol + 2 + n + 2);
        if (n == 0) break;
      }
    } else {
      while (fill().ok()) {
      }
      r.body = std::move(buf_);
      buf_.clear();
    }
    return r;
  }

 private:
  TlsConnection() = default;
  Status fill() {
    char tmp[16384];
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n <= 0) return makeError(ErrorCode::kUnavailable, "connection closed");
    buf_.append(tmp, static_cast<size_t>(n));
    return okStatus();
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

// Certificates made with the openssl CLI (EC P-256, IP SAN 127.0.0.1).
struct CertFiles {
  std::string caCert, caKey, cert, key;
};

inline Status runShell(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  if (rc != 0) return makeError(ErrorCode::kInternal, "command failed: " + cmd);
  return okStatus();
}

inline Status makeCa(const std::string& dir, const std::string& name, CertFiles* out) {
  out->caCert = dir + "/" + name + ".crt";
  out->caKey = dir + "/" + name + ".key";
  return runShell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" + name +
                  " -keyout " + out->caKey + " -out " + out->caCert);
}

// Issues <dir>/<name>.crt/.key signed by the CA in `ca`, subject CN=<cn>.
inline Status issueServerCert(const std::string& dir, const CertFiles& ca, const std::string& name,
                              const std::string& cn, CertFiles* out) {
  *out = ca;
  out->cert = dir + "/" + name + ".crt";
  out->key = dir + "/" + name + ".key";
  const std::string ext = dir + "/" + name + ".ext";
  std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n";
  RETURN_IF_ERROR(runShell("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + cn +
                           " -keyout " + out->key + " -out " + dir + "/" + name + ".csr"));
  return runShell("openssl x509 -req -in " + dir + "/" + name + ".csr -CA " + ca.caCert + " -CAkey " + ca.caKey +
                  " -CAcreateserial -days 2 -extfile " + ext + " -out " + out->cert);
}

// Issues a client certificate <dir>/<name>.crt/.key (CN=<cn>, extendedKeyUsage clientAuth).
inline Status issueClientCert(const std::string& dir, const CertFiles& ca, const std::string& name,
                              const std::string& cn, CertFiles* out) {
  *out = ca;
  out->cert = dir + "/" + name + ".crt";
  out->key = dir + "/" + name + ".key";
  const std::string ext = dir + "/" + name + ".ext";
  std::ofstream(ext) << "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n";
  RETURN_IF_ERROR(runShell("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + cn +
                           " -keyout " + out->key + " -out " + dir + "/" + name + ".csr"));
  return runShell("openssl x509 -req -in " + dir + "/" + name + ".csr -CA " + ca.caCert + " -CAkey " + ca.caKey +
                  " -CAcreateserial -days 2 -extfile " + ext + " -out " + out->cert);
}

}  // namespace keygate::webhook::testing

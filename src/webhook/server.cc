// The only webhook translation unit that includes cpprestsdk. Handlers never block in the
// pplx pool: the body is read with a continuation and replies are fire-and-forget tasks whose
// exceptions are observed.

#include "webhook/server.h"

#include "common/file.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>
#include <cstdio>
#include <fstream>
#include <condition_variable>
#include <mutex>
#include <sstream>

#include "common/log.h"

namespace keygate::webhook {
namespace {

namespace http = web::http;
namespace listener = web::http::experimental::listener;

const log::Logger& logger() {
  static const log::Logger l("webhook.server");
  return l;
}

Result<std::string> readFile(const std::string& path) { return readWholeFile(path, ErrorCode::kInvalidArgument); }

// Parses the pair with OpenSSL and checks that the key belongs to the leaf certificate.
Status checkPair(const std::string& certPem, const std::string& keyPem, const std::string& certFile,
                 const std::string& keyFile) {
  BIO* cb = BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size()));
  X509* cert = cb ? PEM_read_bio_X509(cb, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(cb);
  if (!cert) return makeError(ErrorCode::kInvalidArgument, certFile + ": no PEM certificate");
  BIO* kb = BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size()));
  EVP_PKEY* key = kb ? PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(kb);
  if (!key) {
    X509_free(cert);
    return makeError(ErrorCode::kInvalidArgument, keyFile + ": no PEM private key");
  }
  const bool match = X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  if (!match)
    return makeError(ErrorCode::kInvalidArgument, keyFile + " does not belong to the certificate in " + certFile);
  return okStatus();
}

// The serving certificate: the last good pair. Both files are read on every new connection
// (a few KB: cheap next to a handshake) and compared with the pair in service, so any
// replacement is seen, whether by rename (kubelet's symlink swap) or in place within one
// timestamp tick.
class CertStore {
 public:
  CertStore(std::string certFile, std::string keyFile) : certFile_(std::move(certFile)), keyFile_(std::move(keyFile)) {}

  // Loads the current files; fails when they do not form a valid pair.
  Status reload() {
    ASSIGN_OR_RETURN(std::string cert, readFile(certFile_));
    ASSIGN_OR_RETURN(std::string key, readFile(keyFile_));
    RETURN_IF_ERROR(checkPair(cert, key, certFile_, keyFile_));
    std::lock_guard<std::mutex> l(mu_);
    cert_ = std::move(cert);
    key_ = std::move(key);
    return okStatus();
  }

  // The pair to serve now; a broken or half-written replacement keeps the last good pair.
  std::pair<std::string, std::string> current() {
    auto cert = readFile(certFile_);
    auto key = readFile(keyFile_);
    if (cert.ok() && key.ok()) {
      bool known;
      {
        std::lock_guard<std::mutex> l(mu_);
        known = (*cert == cert_ && *key == key_) || (*cert == badCert_ && *key == badKey_);
      }
      if (!known) {
        auto st = checkPair(*cert, *key, certFile_, keyFile_);
        std::lock_guard<std::mutex> l(mu_);
        if (st.ok()) {
          cert_ = std::move(*cert);
          key_ = std::move(*key);
          logger().info("serving certificate reloaded", {{"certFile", certFile_}});
        } else {
          // Reported once per distinct broken pair, not once per connection.
          badCert_ = std::move(*cert);
          badKey_ = std::move(*key);
          logger().warn("certificate files changed but are not a valid pair (yet); serving the previous certificate",
                        {{"error", st.error().message}});
        }
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    return {cert_, key_};
  }

 private:
  const std::string certFile_;
  const std::string keyFile_;
  std::mutex mu_;
  std::string cert_, key_;
  std::string badCert_, badKey_;
};

// Number of PEM certificates in `pem` (0: none parsable).
int countCertificates(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!b) return 0;
  int n = 0;
  while (X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
    X509_free(c);
    ++n;
  }
  ERR_clear_error();  // the loop ends on "no start line"
  BIO_free(b);
  return n;
}

// The CA bundle that client certificates must chain to: the last good file content, re-read
// on every new connection (a replaced bundle is used at once; an unparsable one is reported
// once and the previous bundle stays).
class ClientCaStore {
 public:
  explicit ClientCaStore(std::string file) : file_(std::move(file)) {}

  Status reload() {
    ASSIGN_OR_RETURN(std::string pem, readFile(file_));
    if (countCertificates(pem) == 0) return makeError(ErrorCode::kInvalidArgument, file_ + ": no PEM certificate");
    std::lock_guard<std::mutex> l(mu_);
    pem_ = std::move(pem);
    return okStatus();
  }

  std::string current() {
    auto pem = readFile(file_);
    std::lock_guard<std::mutex> l(mu_);
    if (pem.ok() && *pem != pem_ && *pem != bad_) {
      if (countCertificates(*pem) > 0) {
        pem_ = std::move(*pem);
        logger().info("webhook client CA reloaded", {{"clientCAFile", file_}});
      } else {
        bad_ = std::move(*pem);
        logger().warn("webhook client CA file changed but holds no certificate (yet); keeping the previous CA",
                      {{"clientCAFile", file_}});
      }
    }
    return pem_;
  }

 private:
  const std::string file_;
  std::mutex mu_;
  std::string pem_, bad_;
};

std::string commonName(X509* cert) {
  X509_NAME* subject = cert ? X509_get_subject_name(cert) : nullptr;
  int idx = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (idx < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

Result<int> pickFreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return makeError(ErrorCode::kUnavailable, "socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host == "0.0.0.0" || host.empty() ? "0.0.0.0" : host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return makeError(ErrorCode::kInvalidArgument, "port 0 needs an IPv4 host address, got " + host);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return makeError(ErrorCode::kUnavailable, "cannot bind " + host + ":0");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return int(ntohs(addr.sin_port));
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  const AdmissionHandler& handler;
  CertStore certs;
  ClientCaStore clientCa;
  int port = 0;
  std::unique_ptr<listener::http_listener> listener;
  std::atomic<bool> stopped{false};

  Impl(ServerOptions o, const AdmissionHandler& h)
      : options(std::move(o)), handler(h), certs(options.certFile, options.keyFile), clientCa(options.clientCAFile) {}

  // A client certificate is required: set first, so that a failure further down leaves a
  // context that refuses every client rather than one that accepts anybody.
  void requireClientCertificate(boost::asio::ssl::context& ctx) {
    ctx.set_verify_mode(boost::asio::ssl::verify_peer | boost::asio::ssl::verify_fail_if_no_peer_cert);
    std::string ca = clientCa.current();
    ctx.add_certificate_authority(boost::asio::buffer(ca.data(), ca.size()));
    if (options.allowedClientNames.empty()) return;
    ctx.set_verify_callback([this](bool preverified, boost::asio::ssl::verify_context& vc) {
      if (!preverified) return false;
      X509_STORE_CTX* sc = vc.native_handle();
      if (X509_STORE_CTX_get_error_depth(sc) != 0) return true;
      const std::string cn = commonName(X509_STORE_CTX_get_current_cert(sc));
      for (const auto& allowed : options.allowedClientNames)
        if (cn == allowed) return true;
      logger().warn("webhook caller refused: client certificate name not allowed", {{"commonName", cn}});
      return false;
    });
  }

  void configureTls(boost::asio::ssl::context& ctx) {
    // Called by the listener for every accepted connection; must not throw into asio.
    try {
      if (!options.clientCAFile.empty()) requireClientCertificate(ctx);
      ctx.set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                      boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                      boost::asio::ssl::context::no_tlsv1_1 | boost::asio::ssl::context::single_dh_use);
      SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
      auto [cert, key] = certs.current();
      ctx.use_certificate_chain(boost::asio::buffer(cert.data(), cert.size()));
      ctx.use_private_key(boost::asio::buffer(key.data(), key.size()), boost::asio::ssl::context::pem);
    } catch (const std::exception& e) {
      logger().error("TLS setup for a connection failed", {{"error", e.what()}});
    }
  }

  void finish(http::http_request req, const std::string& path, int status, std::string body,
              const std::string& contentType, SteadyTime start, const std::string& kind = "",
              const std::string& operation = "", std::optional<bool> allowed = std::nullopt) {
    http::http_response resp(static_cast<http::status_code>(status));
    resp.set_body(std::move(body), contentType);
    // The hook runs before the reply: once a client has its answer, the record exists.
    if (options.onRequest) {
      RequestRecord rec{path, status, kind, operation, allowed,
                        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)};
      try {
        options.onRequest(rec);
      } catch (const std::exception& e) {
        logger().warn("onRequest hook threw", {{"error", e.what()}});
      }
    }
    req.reply(resp).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception& e) {
        logger().debug("reply failed (client gone?)", {{"error", e.what()}});
      }
    });
  }

  // Requests inside serve(); stop() waits for them so no handler outlives the server.
  std::mutex inFlightMu;
  std::condition_variable inFlightCv;
  int inFlight = 0;
  struct InFlight {
    Impl& impl;
    explicit InFlight(Impl& i) : impl(i) {
      std::lock_guard<std::mutex> l(impl.inFlightMu);
      ++impl.inFlight;
    }
    ~InFlight() {
      std::lock_guard<std::mutex> l(impl.inFlightMu);
      if (--impl.inFlight == 0) impl.inFlightCv.notify_all();
    }
  };

  void serve(http::http_request req) {
    InFlight guard(*this);
    const SteadyTime start = std::chrono::steady_clock::now();
    std::string path;
    try {
      path = req.relative_uri().path();
      Endpoint endpoint;
      if (path == "/mutate") endpoint = Endpoint::kMutate;
      else if (path == "/validate") endpoint = Endpoint::kValidate;
      else {
        finish(req, path, 404, statusBody(404, "NotFound", "no such endpoint " + path + ": use /mutate or /validate"),
               "application/json", start);
        return;
      }
      if (req.method() != http::methods::POST) {
        finish(req, path, 405, statusBody(405, "MethodNotAllowed", "only POST is served on " + path),
               "application/json", start);
        return;
      }
      const size_t limit = options.maxBodyBytes;
      auto declared = req.headers().content_length();
      if (declared > limit) {
        finish(req, path, 413,
               statusBody(413, "RequestEntityTooLarge",
                          "request body of " + std::to_string(declared) + " bytes exceeds the limit of " +
                              std::to_string(limit) + " bytes"),
               "application/json", start);
        return;
      }
      req.extract_vector().then([this, req, path, endpoint, start, limit](pplx::task<std::vector<unsigned char>> t) {
        try {
          std::vector<unsigned char> bytes = t.get();
          if (bytes.size() > limit) {
            finish(req, path, 413,
                   statusBody(413, "RequestEntityTooLarge",
                              "request body exceeds the limit of " + std::to_string(limit) + " bytes"),
                   "application/json", start);
            return;
          }
          HttpReply r = handler.handle(endpoint, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
          finish(req, path, r.status, std::move(r.body), r.contentType, start, r.kind, r.operation, r.allowed);
        } catch (const std::exception& e) {
          finish(req, path, 400, statusBody(400, "BadRequest", std::string("cannot read the request body: ") + e.what()),
                 "application/json", start);
        }
      });
    } catch (const std::exception& e) {
      logger().error("webhook request failed", {{"path", path}, {"error", e.what()}});
      try {
        finish(req, path, 500, statusBody(500, "InternalError", "keygate webhook internal error"), "application/json",
               start);
      } catch (...) {
      }
    }
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

int Server::port() const { return impl_->port; }

std::string Server::url() const { return "https://" + impl_->options.host + ":" + std::to_string(impl_->port); }

Status Server::serving() const {
  if (!impl_ || impl_->stopped) return makeError(ErrorCode::kUnavailable, "webhook server stopped");
  // A socket in LISTEN state on our port (/proc/net/tcp{,6}). Read from the kernel rather than
  // by connecting: a probe connection racing the listener's shutdown is what cpprestsdk's
  // asio server does not survive.
  char port[8];
  std::snprintf(port, sizeof port, ":%04X", static_cast<unsigned>(impl_->port));
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      if (state == "0A" && local.size() > 5 && local.compare(local.size() - 5, 5, port) == 0) return okStatus();
    }
  }
  return makeError(ErrorCode::kUnavailable,
                   "no socket listens on the webhook port " + std::to_string(impl_->port));
}

void Server::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  try {
    impl_->listener->close().wait();
  } catch (const std::exception& e) {
    logger().warn("closing the webhook listener failed", {{"error", e.what()}});
  }
  std::unique_lock<std::mutex> l(impl_->inFlightMu);
  if (!impl_->inFlightCv.wait_for(l, std::chrono::seconds(10), [this] { return impl_->inFlight == 0; }))
    logger().warn("webhook stopped with requests still in flight", {{"inFlight", impl_->inFlight}});
}

bool configureHttpThreads(size_t threads) {
  static std::mutex mu;
  static bool sized = false;
  std::lock_guard<std::mutex> l(mu);
  if (sized) return false;
  sized = true;
  try {
    crossplat::threadpool::initialize_with_threads(std::max<size_t>(1, threads));
  } catch (const std::exception&) {
    return false;  // something used the pool before us: it keeps cpprestsdk's default
  }
  return true;
}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, const AdmissionHandler& handler) {
  if (options.certFile.empty() || options.keyFile.empty())
    return makeError(ErrorCode::kInvalidArgument, "webhook: certFile and keyFile are required (TLS only)");
  auto impl = std::make_unique<Impl>(std::move(options), handler);
  if (auto st = impl->certs.reload(); !st.ok())
    return makeError(ErrorCode::kInvalidArgument, "webhook certificate: " + st.error().message);
  if (!impl->options.clientCAFile.empty())
    if (auto st = impl->clientCa.reload(); !st.ok())
      return makeError(ErrorCode::kInvalidArgument, "webhook client CA: " + st.error().message);
  if (impl->options.clientCAFile.empty() && !impl->options.allowedClientNames.empty())
    return makeError(ErrorCode::kInvalidArgument, "webhook: allowedClientNames needs clientCAFile");

  configureHttpThreads(kDefaultHttpThreads);  // no-op when main sized the pool
  const int attempts = impl->options.port == 0 ? 5 : 1;
  std::string lastError;
  for (int i = 0; i < attempts; ++i) {
    int port = impl->options.port;
    if (port == 0) {
      auto p = pickFreePort(impl->options.host);
      if (!p.ok()) return p.takeError();
      port = *p;
    }
    try {
      listener::http_listener_config cfg;
      cfg.set_timeout(utility::seconds(impl->options.ioTimeout.count()));
      Impl* raw = impl.get();
      cfg.set_ssl_context_callback([raw](boost::asio::ssl::context& ctx) { raw->configureTls(ctx); });
      auto l = std::make_unique<listener::http_listener>(
          web::uri("https://" + impl->options.host + ":" + std::to_string(port) + "/"), cfg);
      l->support([raw](http::http_request req) { raw->serve(std::move(req)); });
      l->open().wait();
      impl->listener = std::move(l);
      impl->port = port;
      break;
    } catch (const std::exception& e) {
      lastError = e.what();
    }
  }
  if (!impl->listener)
    return makeError(ErrorCode::kUnavailable, "webhook: cannot listen on " + impl->options.host + ":" +
                                                  std::to_string(impl->options.port) + ": " + lastError);
  logger().info("admission webhook serving",
                {{"address", impl->options.host + ":" + std::to_string(impl->port)},
                 {"certFile", impl->options.certFile},
                 {"clientAuth", impl->options.clientCAFile.empty() ? "none" : "clientCertificate"}});
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace keygate::webhook

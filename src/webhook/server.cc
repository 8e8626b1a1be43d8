// The only webhook translation unit that includes Boost.Beast/Asio. Each accepted connection
// is a Session: TLS handshake, then request after request (header, checks, body, handler,
// reply) until the client closes, a timeout, or a reply that must close. All of a session's
// steps run in its strand, one at a time, on the I/O thread its connection was given.

#include "webhook/server.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/file.h"
#include "common/log.h"

namespace keygate::webhook {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using ErrorCode_ = boost::system::error_code;

// The API server sends a few hundred bytes of header; 16 KiB is generous and bounds a
// connection's memory before any body limit applies.
constexpr uint32_t kHeaderLimit = 16 * 1024;

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

// The TLS context for new connections. The serving pair and the client CA bundle are re-read
// for every accepted connection (CertStore, ClientCaStore); the context is rebuilt only when
// what they hold changed, and each connection keeps the context it was accepted with.
class TlsContexts {
 public:
  TlsContexts(const ServerOptions& options, CertStore& certs, ClientCaStore& clientCa)
      : options_(options), certs_(certs), clientCa_(clientCa) {}

  // Null only if no context could ever be built (start() builds the first one).
  std::shared_ptr<ssl::context> current() {
    auto [cert, key] = certs_.current();
    std::string ca = options_.clientCAFile.empty() ? std::string() : clientCa_.current();
    std::lock_guard<std::mutex> l(mu_);
    if (ctx_ && cert == cert_ && key == key_ && ca == ca_) return ctx_;
    auto built = build(cert, key, ca);
    if (!built.ok()) {
      logger().error("TLS setup for new connections failed; keeping the previous one",
                     {{"error", built.error().message}});
      return ctx_;
    }
    ctx_ = std::move(*built);
    cert_ = std::move(cert);
    key_ = std::move(key);
    ca_ = std::move(ca);
    return ctx_;
  }

 private:
  Result<std::shared_ptr<ssl::context>> build(const std::string& cert, const std::string& key,
                                              const std::string& ca) const {
    try {
      auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
      SSL_CTX* native = ctx->native_handle();
      SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
      SSL_CTX_set_options(native, SSL_OP_ALL | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                      SSL_OP_CIPHER_SERVER_PREFERENCE);
      // Session resumption with client certificates needs a session id context.
      static const unsigned char kSessionContext[] = "keygate-webhook";
      SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
      if (!ca.empty()) {
        // A client certificate is required; set first, so that a failure further down leaves no
        // context that accepts anybody (build fails as a whole).
        ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        ctx->add_certificate_authority(asio::buffer(ca.data(), ca.size()));
        if (!options_.allowedClientNames.empty()) {
          ctx->set_verify_callback([names = options_.allowedClientNames](bool preverified, ssl::verify_context& vc) {
            if (!preverified) return false;
            X509_STORE_CTX* sc = vc.native_handle();
            if (X509_STORE_CTX_get_error_depth(sc) != 0) return true;
            const std::string cn = commonName(X509_STORE_CTX_get_current_cert(sc));
            for (const auto& allowed : names)
              if (cn == allowed) return true;
            logger().warn("webhook caller refused: client certificate name not allowed", {{"commonName", cn}});
            return false;
          });
        }
      }
      ctx->use_certificate_chain(asio::buffer(cert.data(), cert.size()));
      ctx->use_private_key(asio::buffer(key.data(), key.size()), ssl::context::pem);
      return ctx;
    } catch (const std::exception& e) {
      return makeError(ErrorCode::kInvalidArgument, std::string("TLS context: ") + e.what());
    }
  }

  const ServerOptions& options_;
  CertStore& certs_;
  ClientCaStore& clientCa_;
  std::mutex mu_;
  std::string cert_, key_, ca_;
  std::shared_ptr<ssl::context> ctx_;
};

// Which errors end a connection quietly: the peer left, or was idle too long.
bool quietEnd(const ErrorCode_& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == ssl::error::stream_truncated || ec == http::error::partial_message;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  const AdmissionHandler& handler;
  CertStore certs;
  ClientCaStore clientCa;
  TlsContexts tls;
  int port = 0;
  std::atomic<bool> stopped{false};
  // One io_context per I/O thread, each connection bound to one of them (round robin): a
  // request is read, handled and answered on one thread, with no hand-off between threads
  // (with one io_context shared by two threads, the thread that saw the socket ready woke the
  // other to run the handler: context switches were ~10% of the webhook threads' samples).
  // Destroyed in this order by stop(): threads joined, acceptor, then the io_contexts (which
  // destroy every session still waiting in them, closing its socket).
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keepRunning;
  size_t nextIo = 0;  // the accept handler's only (one at a time on ios[0])
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;

  Impl(ServerOptions o, const AdmissionHandler& h)
      : options(std::move(o)),
        handler(h),
        certs(options.certFile, options.keyFile),
        clientCa(options.clientCAFile),
        tls(options, certs, clientCa) {}

  void record(const std::string& path, int status, SteadyTime start, const std::string& kind = "",
              const std::string& operation = "", std::optional<bool> allowed = std::nullopt) {
    if (!options.onRequest) return;
    RequestRecord rec{path, status, kind, operation, allowed,
                      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)};
    try {
      options.onRequest(rec);
    } catch (const std::exception& e) {
      logger().warn("onRequest hook threw", {{"error", e.what()}});
    }
  }

  void accept();
};

namespace {

// One TLS connection: handshake, then requests one after another.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, tcp::socket&& socket, std::shared_ptr<ssl::context> ctx)
      : server_(server), ctx_(std::move(ctx)), stream_(std::move(socket), *ctx_) {}

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }

 private:
  using Stream = beast::ssl_stream<beast::tcp_stream>;

  void arm() { beast::get_lowest_layer(stream_).expires_after(server_.options.ioTimeout); }

  void handshake() {
    arm();
    stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](const ErrorCode_& ec) {
      if (ec) {
        logger().debug("TLS handshake failed", {{"error", ec.message()}});
        return self->shutdownSocket();
      }
      self->readHeader();
    });
  }

  void readHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    // Checked against Content-Length below, then set for the body. Not boost::none: Beast 1.74
    // compares the length with the optional, and any length is greater than none.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    arm();
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](const ErrorCode_& ec, size_t) { self->onHeader(ec); });
  }

  void onHeader(const ErrorCode_& ec) {
    start_ = std::chrono::steady_clock::now();
    if (ec) {
      if (quietEnd(ec) && buffer_.size() == 0) return shutdown();
      // Not HTTP/1.x (or a header over the limit): say so and close.
      return reply(400, statusBody(400, "BadRequest", "malformed HTTP request: " + ec.message()), true);
    }
    const auto& req = parser_->get();
    const std::string_view target(req.target().data(), req.target().size());
    path_ = std::string(target.substr(0, target.find('?')));
    refusal_.reset();
    if (path_ == "/mutate") endpoint_ = Endpoint::kMutate;
    else if (path_ == "/validate") endpoint_ = Endpoint::kValidate;
    else refusal_ = {404, statusBody(404, "NotFound", "no such endpoint " + path_ + ": use /mutate or /validate")};
    if (!refusal_ && req.method() != http::verb::post)
      refusal_ = {405, statusBody(405, "MethodNotAllowed", "only POST is served on " + path_)};
    const size_t limit = server_.options.maxBodyBytes;
    const auto declared = parser_->content_length();
    const bool expectContinue = beast::iequals(req[http::field::expect], "100-continue");
    if (declared && *declared > limit) {
      if (refusal_) return reply(refusal_->first, std::move(refusal_->second), true);
      return reply(413, tooLarge("request body of " + std::to_string(*declared) + " bytes exceeds", limit), true);
    }
    // A refused request's body is read (within the limit) and dropped, so the connection
    // carries the next request; unless the client waits for 100 Continue: then it is told
    // no at once and the connection closes.
    if (refusal_ && expectContinue) return reply(refusal_->first, std::move(refusal_->second), true);
    parser_->body_limit(limit);  // bodies without Content-Length (chunked)
    if (expectContinue) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, req.version());
      arm();
      return http::async_write(stream_, *cont, [self = shared_from_this(), cont](const ErrorCode_& ec, size_t) {
        if (ec) return self->shutdownSocket();
        self->readBody();
      });
    }
    readBody();
  }

  void readBody() {
    arm();
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](const ErrorCode_& ec, size_t) {
      self->onBody(ec);
    });
  }

  void onBody(const ErrorCode_& ec) {
    if (ec == http::error::body_limit)
      return reply(413, tooLarge("request body exceeds", server_.options.maxBodyBytes), true);
    if (ec) {
      logger().debug("reading a request body failed", {{"path", path_}, {"error", ec.message()}});
      return shutdownSocket();
    }
    const bool close = !parser_->get().keep_alive();
    if (refusal_) return reply(refusal_->first, std::move(refusal_->second), close);
    const std::string& body = parser_->get().body();
    try {
      HttpReply r = server_.handler.handle(endpoint_, body);
      reply(r.status, std::move(r.body), close, r.contentType, r.kind, r.operation, r.allowed);
    } catch (const std::exception& e) {
      logger().error("webhook request failed", {{"path", path_}, {"error", e.what()}});
      reply(500, statusBody(500, "InternalError", "keygate webhook internal error"), true);
    }
  }

  static std::string tooLarge(const std::string& what, size_t limit) {
    return statusBody(413, "RequestEntityTooLarge", what + " the limit of " + std::to_string(limit) + " bytes");
  }

  void reply(int status, std::string body, bool close, const std::string& contentType = "application/json",
             const std::string& kind = "", const std::string& operation = "",
             std::optional<bool> allowed = std::nullopt) {
    const unsigned version = parser_ && parser_->get().version() == 10 ? 10 : 11;
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), version);
    res->set(http::field::content_type, contentType);
    res->body() = std::move(body);
    res->keep_alive(!close);
    res->prepare_payload();
    // The hook runs before the reply: once a client has its answer, the record exists.
    server_.record(path_, status, start_, kind, operation, allowed);
    arm();
    http::async_write(stream_, *res, [self = shared_from_this(), res, close](const ErrorCode_& ec, size_t) {
      if (ec) return self->shutdownSocket();
      if (close) return self->shutdown();
      self->readHeader();
    });
  }

  // TLS close_notify, then the socket; bounded by the I/O timeout.
  void shutdown() {
    arm();
    stream_.async_shutdown([self = shared_from_this()](const ErrorCode_&) { self->shutdownSocket(); });
  }

  void shutdownSocket() {
    ErrorCode_ ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  Server::Impl& server_;
  std::shared_ptr<ssl::context> ctx_;  // before stream_: the stream refers to it
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string path_;
  std::optional<std::pair<int, std::string>> refusal_;  // 404/405 decided from the header
  Endpoint endpoint_ = Endpoint::kMutate;
  SteadyTime start_ = std::chrono::steady_clock::now();
};

}  // namespace

void Server::Impl::accept() {
  asio::io_context& target = *ios[nextIo++ % ios.size()];
  acceptor->async_accept(asio::make_strand(target), [this](const ErrorCode_& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;  // stopping
    if (!ec) {
      if (auto ctx = tls.current()) std::make_shared<Session>(*this, std::move(socket), std::move(ctx))->run();
    } else {
      // EMFILE and the like: keep accepting (the next accept may succeed once descriptors free).
      logger().warn("accepting a webhook connection failed", {{"error", ec.message()}});
    }
    accept();
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

int Server::port() const { return impl_->port; }

std::string Server::url() const { return "https://" + impl_->options.host + ":" + std::to_string(impl_->port); }

Status Server::serving() const {
  if (!impl_ || impl_->stopped) return makeError(ErrorCode::kUnavailable, "webhook server stopped");
  // A socket in LISTEN state on our port (/proc/net/tcp{,6}): what the kernel says, not what
  // our objects believe.
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
  // The I/O threads finish the step they run (a handler in progress completes) and return;
  // then the listening socket closes and every connection with the io_context.
  for (auto& io : impl_->ios) io->stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  ErrorCode_ ignored;
  impl_->acceptor->close(ignored);
  impl_->acceptor.reset();
  impl_->keepRunning.clear();
  impl_->ios.clear();  // destroys the sessions still queued: their sockets close
}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, const AdmissionHandler& handler) {
  if (options.certFile.empty() || options.keyFile.empty())
    return makeError(ErrorCode::kInvalidArgument, "webhook: certFile and keyFile are required (TLS only)");
  if (options.threads < 1) return makeError(ErrorCode::kInvalidArgument, "webhook: threads must be at least 1");
  auto impl = std::make_unique<Impl>(std::move(options), handler);
  if (auto st = impl->certs.reload(); !st.ok())
    return makeError(ErrorCode::kInvalidArgument, "webhook certificate: " + st.error().message);
  if (!impl->options.clientCAFile.empty())
    if (auto st = impl->clientCa.reload(); !st.ok())
      return makeError(ErrorCode::kInvalidArgument, "webhook client CA: " + st.error().message);
  if (impl->options.clientCAFile.empty() && !impl->options.allowedClientNames.empty())
    return makeError(ErrorCode::kInvalidArgument, "webhook: allowedClientNames needs clientCAFile");
  if (!impl->tls.current())
    return makeError(ErrorCode::kInvalidArgument, "webhook: cannot set up TLS with " + impl->options.certFile);

  const std::string where = impl->options.host + ":" + std::to_string(impl->options.port);
  ErrorCode_ ec;
  auto address = asio::ip::make_address(impl->options.host, ec);
  if (ec) return makeError(ErrorCode::kInvalidArgument, "webhook: invalid listen address " + impl->options.host);
  for (size_t i = 0; i < impl->options.threads; ++i) {
    impl->ios.push_back(std::make_unique<asio::io_context>(1));
    impl->keepRunning.push_back(asio::make_work_guard(*impl->ios.back()));  // idle until a connection comes
  }
  impl->acceptor = std::make_unique<tcp::acceptor>(*impl->ios[0]);
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(impl->options.port));
  if (impl->acceptor->open(endpoint.protocol(), ec); !ec)
    if (impl->acceptor->set_option(asio::socket_base::reuse_address(true), ec); !ec)
      if (impl->acceptor->bind(endpoint, ec); !ec) impl->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return makeError(ErrorCode::kUnavailable, "webhook: cannot listen on " + where + ": " + ec.message());
  impl->port = impl->acceptor->local_endpoint().port();
  impl->accept();
  for (size_t i = 0; i < impl->options.threads; ++i)
    impl->threads.emplace_back([io = impl->ios[i].get()] {
      pthread_setname_np(pthread_self(), "kg-webhook");
      for (;;) {
        try {
          io->run();
          return;
        } catch (const std::exception& e) {  // a handler threw: log and keep serving
          logger().error("webhook I/O thread caught an exception", {{"error", e.what()}});
        }
      }
    });
  logger().info("admission webhook serving",
                {{"address", impl->options.host + ":" + std::to_string(impl->port)},
                 {"certFile", impl->options.certFile},
                 {"threads", static_cast<int>(impl->options.threads)},
                 {"clientAuth", impl->options.clientCAFile.empty() ? "none" : "clientCertificate"}});
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace keygate::webhook

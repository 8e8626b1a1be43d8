// The only kube/ translation unit that includes cpprestsdk (slow to compile, ~450 MB RAM).
// Blocking .get() is used only on the caller's own threads, never inside pplx tasks
// (the pplx pool also runs I/O completions: blocking in it deadlocks).

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <cpprest/containerstream.h>
#include <cpprest/rawptrstream.h>
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>
#include <mutex>

#include "kube/transport.h"

namespace keygate::kube {
namespace {

namespace http = web::http;
namespace client = web::http::client;
namespace streams = concurrency::streams;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Maps transport exceptions to our error codes with messages a user can act on.
Error transportError(const std::string& server, const std::exception& e) {
  std::string what = e.what();
  if (auto* he = dynamic_cast<const http::http_exception*>(&e)) {
    int code = he->error_code().value();
    if (code == 125) return Error(ErrorCode::kCancelled, "request cancelled");
    if (code == 110) return Error(ErrorCode::kDeadlineExceeded, "timed out talking to " + server + ": " + what);
    if (code == 111) {
      Error err(ErrorCode::kUnavailable, "connection refused by " + server);
      err.reason = "ConnectFailed";
      return err;
    }
  }
  if (what.find("Failed to connect") != std::string::npos) {
    // The request never left this process: safe to retry even for writes.
    Error err(ErrorCode::kUnavailable, "cannot connect to " + server + " (connection refused or unreachable)");
    err.reason = "ConnectFailed";
    return err;
  }
  if (what.find("SSL") != std::string::npos || what.find("handshake") != std::string::npos)
    return Error(ErrorCode::kUnavailable, "TLS handshake with " + server + " failed (" + what +
                                              "): check certificate-authority and client certificate");
  if (what.find("Failed to write request headers") != std::string::npos)
    return Error(ErrorCode::kUnavailable, "connection to " + server + " failed while sending (" + what +
                                              "): was the client certificate rejected?");
  return Error(ErrorCode::kUnavailable, "request to " + server + " failed: " + what);
}

// Validates PEM input up front so that a bad CA or key is a clear configuration error
// instead of an opaque handshake failure later.
Status checkPem(const std::string& pem, bool isKey, const std::string& what) {
  if (pem.empty()) return okStatus();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return makeError(ErrorCode::kInternal, "out of memory");
  bool ok;
  if (isKey) {
    EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    ok = k != nullptr;
    EVP_PKEY_free(k);
  } else {
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    ok = x != nullptr;
    X509_free(x);
  }
  BIO_free(bio);
  if (!ok) return makeError(ErrorCode::kInvalidArgument, what + " is not valid PEM data");
  return okStatus();
}

// The bytes read into `buf`. Each read() grows the buffer's string by the whole size asked
// for and fills only what arrived: the string's size is not the body's.
std::string bodyOf(streams::container_buffer<std::string>& buf, size_t total) {
  std::string body = std::move(buf.collection());
  body.resize(std::min(total, body.size()));
  return body;
}

class CpprestStream final : public HttpStream {
 public:
  CpprestStream(http::http_response resp, std::shared_ptr<pplx::cancellation_token_source> cts, size_t maxLine,
                std::string server)
      : resp_(std::move(resp)), body_(resp_.body()), cts_(std::move(cts)), maxLine_(maxLine),
        server_(std::move(server)) {}
  ~CpprestStream() override {
    cts_->cancel();
    try {
      if (body_.is_valid()) body_.close().wait();
    } catch (...) {  // closing a cancelled stream may throw; nothing left to do
    }
  }
  int status() const override { return resp_.status_code(); }

  // cpprestsdk's istream::read_line costs a pplx task (allocations, shared_ptr counts, a
  // lock) per byte; on a busy watch that was a good part of the operator's CPU. Here: what the
  // body buffer already holds is taken in one getn (no wait: never more than is buffered), and
  // only an empty buffer costs a wait (for one byte).
  Result<std::optional<std::string>> readLine() override {
    if (cancelled_) return makeError(ErrorCode::kCancelled, "watch cancelled");
    try {
      streams::streambuf<uint8_t> sb = body_.streambuf();
      for (;;) {
        const size_t nl = pending_.find('\n', scanned_);
        if (nl != std::string::npos) {
          std::string line = pending_.substr(0, nl);
          pending_.erase(0, nl + 1);
          scanned_ = 0;
          if (line.size() > maxLine_) return lineTooLong();
          if (!line.empty() && line.back() == '\r') line.pop_back();
          return std::optional<std::string>(std::move(line));
        }
        scanned_ = pending_.size();
        if (pending_.size() > maxLine_) return lineTooLong();
        if (eof_) {  // the last line, without its newline; then the end
          if (pending_.empty()) return std::optional<std::string>();
          std::string line = std::move(pending_);
          pending_.clear();
          scanned_ = 0;
          if (!line.empty() && line.back() == '\r') line.pop_back();
          return std::optional<std::string>(std::move(line));
        }
        const size_t avail = sb.in_avail();
        if (avail > 0) {
          const size_t want = std::min<size_t>(avail, 64 * 1024), at = pending_.size();
          pending_.resize(at + want);
          // At most what is buffered: served at once, one task for the whole chunk.
          const size_t got = sb.getn(reinterpret_cast<uint8_t*>(&pending_[at]), want).get();
          pending_.resize(at + std::min(got, want));
          if (pending_.size() > at) continue;
        }
        const auto c = sb.bumpc().get();  // waits for the next byte (or the end)
        if (cancelled_) return makeError(ErrorCode::kCancelled, "watch cancelled");
        if (c == streams::streambuf<uint8_t>::traits::eof()) {
          eof_ = true;
          continue;
        }
        pending_.push_back(static_cast<char>(c));
      }
    } catch (const std::exception& e) {
      if (cancelled_) return makeError(ErrorCode::kCancelled, "watch cancelled");
      // The server (or a proxy) broke an established stream: a normal reason to re-watch.
      Error err = transportError(server_, e);
      err.reason = "StreamBroken";
      return err;
    }
  }

  Result<std::string> readAll() override {
    try {
      streams::container_buffer<std::string> buf;
      size_t total = 0;
      for (size_t n; (n = body_.read(buf, 64 * 1024).get()) > 0;) {
        total += n;
        if (total > maxLine_) return makeError(ErrorCode::kInvalidArgument, "response body too large");
      }
      return bodyOf(buf, total);
    } catch (const std::exception& e) {
      return transportError(server_, e);
    }
  }

  void cancel() override {
    cancelled_ = true;
    cts_->cancel();
  }

 private:
  Error lineTooLong() const {
    return makeError(ErrorCode::kInvalidArgument, "watch line exceeds " + std::to_string(maxLine_) + " bytes");
  }
  std::string pending_;  // read from the body, not yet returned as lines
  size_t scanned_ = 0;   // pending_[0, scanned_) holds no newline
  bool eof_ = false;
  http::http_response resp_;
  streams::istream body_;
  std::shared_ptr<pplx::cancellation_token_source> cts_;
  size_t maxLine_;
  std::string server_;
  std::atomic<bool> cancelled_{false};
};

class CpprestTransport final : public Transport {
 public:
  explicit CpprestTransport(TransportConfig cfg)
      : cfg_(std::move(cfg)),
        client_(web::uri(cfg_.server), makeConfig(cfg_.requestTimeout)),
        streamClient_(web::uri(cfg_.server), makeConfig(cfg_.streamIdleTimeout)) {}

  Result<HttpResponse> send(const HttpRequest& req) override {
    auto msg = buildRequest(req);
    if (!msg.ok()) return msg.takeError();
    try {
      http::http_response resp = client_.request(*msg).get();
      HttpResponse out;
      out.status = resp.status_code();
      for (const auto& h : resp.headers()) out.headers[lower(h.first)] = h.second;
      // content_length() is 0 when the header is absent (a chunked body): ask whether it is there.
      const bool sized = resp.headers().has(http::header_names::content_length);
      const size_t len = sized ? static_cast<size_t>(resp.headers().content_length()) : 0;
      if (sized && len > cfg_.maxResponseBytes)
        return makeError(ErrorCode::kInvalidArgument, "response of " + std::to_string(len) + " bytes exceeds the " +
                                                          std::to_string(cfg_.maxResponseBytes) + "-byte limit");
      auto body = resp.body();
      if (sized) {
        // The size is known: read straight into the string. (A container_buffer grows by each
        // read's whole request size and zero-fills it: 256 KiB per response, when almost every
        // response is a few KiB.)
        out.body.resize(len);
        streams::rawptr_buffer<uint8_t> into(reinterpret_cast<uint8_t*>(out.body.data()), len, std::ios::out);
        size_t total = 0;
        for (size_t n; total < len && (n = body.read(into, len - total).get()) > 0;) total += n;
        if (total < len)
          return makeError(ErrorCode::kUnavailable, "connection to " + cfg_.server + " closed after " +
                                                        std::to_string(total) + " of the response's " +
                                                        std::to_string(len) + " bytes");
        return out;
      }
      streams::container_buffer<std::string> buf;  // chunked: a list, or a proxy's re-encoding
      size_t total = 0;
      for (size_t n; (n = body.read(buf, 64 * 1024).get()) > 0;) {
        total += n;
        if (total > cfg_.maxResponseBytes)
          return makeError(ErrorCode::kInvalidArgument,
                           "response body exceeds the " + std::to_string(cfg_.maxResponseBytes) + "-byte limit");
      }
      out.body = bodyOf(buf, total);
      return out;
    } catch (const std::exception& e) {
      return transportError(cfg_.server, e);
    }
  }

  Result<HttpStreamPtr> stream(const HttpRequest& req) override {
    auto msg = buildRequest(req);
    if (!msg.ok()) return msg.takeError();
    auto cts = std::make_shared<pplx::cancellation_token_source>();
    try {
      http::http_response resp = streamClient_.request(*msg, cts->get_token()).get();
      return HttpStreamPtr(std::make_unique<CpprestStream>(std::move(resp), cts, cfg_.maxLineBytes, cfg_.server));
    } catch (const std::exception& e) {
      return transportError(cfg_.server, e);
    }
  }

 private:
  client::http_client_config makeConfig(std::chrono::milliseconds timeout) const {
    client::http_client_config c;
    c.set_timeout(timeout);
    c.set_validate_certificates(!cfg_.insecureSkipTlsVerify);
    // Disable Nagle: cpprest writes headers and body separately, and Nagle + delayed ACK
    // would stall every request with a body by ~40 ms.
    const bool tls = cfg_.server.rfind("https://", 0) == 0;
    c.set_nativehandle_options([tls](client::native_handle h) {
      boost::system::error_code ec;
      if (tls) {
        auto* s = static_cast<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>*>(h);
        s->next_layer().set_option(boost::asio::ip::tcp::no_delay(true), ec);
      } else {
        static_cast<boost::asio::ip::tcp::socket*>(h)->set_option(boost::asio::ip::tcp::no_delay(true), ec);
      }
    });
    const std::string ca = cfg_.caPem, cert = cfg_.clientCertPem, key = cfg_.clientKeyPem;
    c.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
      ctx.set_options(boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                      boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1);
      if (!ca.empty()) ctx.add_certificate_authority(boost::asio::buffer(ca));
      if (!cert.empty()) ctx.use_certificate_chain(boost::asio::buffer(cert));
      if (!key.empty()) ctx.use_private_key(boost::asio::buffer(key), boost::asio::ssl::context::pem);
    });
    return c;
  }

  Result<http::http_request> buildRequest(const HttpRequest& req) {
    http::http_request msg(req.method);
    try {
      msg.set_request_uri(web::uri(req.pathAndQuery));
    } catch (const std::exception& e) {
      return makeError(ErrorCode::kInvalidArgument, "invalid request path " + req.pathAndQuery + ": " + e.what());
    }
    std::string contentType = "application/json";
    for (const auto& [k, v] : req.headers) {
      if (lower(k) == "content-type") contentType = v;
      else msg.headers().add(k, v);
    }
    msg.headers().add("User-Agent", cfg_.userAgent);
    if (cfg_.tokenSource) {
      auto tok = cfg_.tokenSource();
      if (!tok.ok()) return tok.takeError();
      if (!tok->empty()) msg.headers().add("Authorization", "Bearer " + *tok);
    }
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH")
      msg.set_body(req.body, contentType);
    return msg;
  }

  TransportConfig cfg_;
  client::http_client client_;
  client::http_client streamClient_;
};

}  // namespace

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

Result<TransportPtr> makeCpprestTransport(const TransportConfig& config) {
  configureHttpThreads(kDefaultHttpThreads);
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0)
    return makeError(ErrorCode::kInvalidArgument, "server \"" + config.server + "\" must be an https:// URL");
  RETURN_IF_ERROR(checkPem(config.caPem, false, "certificate-authority"));
  RETURN_IF_ERROR(checkPem(config.clientCertPem, false, "client-certificate"));
  RETURN_IF_ERROR(checkPem(config.clientKeyPem, true, "client-key"));
  if (config.clientCertPem.empty() != config.clientKeyPem.empty())
    return makeError(ErrorCode::kInvalidArgument, "client-certificate and client-key must be given together");
  try {
    return TransportPtr(std::make_shared<CpprestTransport>(config));
  } catch (const std::exception& e) {
    return makeError(ErrorCode::kInvalidArgument, "cannot create HTTP client for " + config.server + ": " + e.what());
  }
}

}  // namespace keygate::kube

// HTTP(S) transport to the API server over libcurl: the only kube/ translation unit that
// includes curl. Ordinary requests run on the caller's thread with an easy handle taken from
// a pool (each keeps its connection alive between requests); a watch has its own handle
// driven by a multi handle, so readLine() can wait for data and cancel() can wake it.
//
// Why not cpprestsdk (which Keygate no longer uses at all; the webhook moved to Boost.Beast): its client built a new OpenSSL
// context, with the whole system trust store parsed, for every connection it opened; ran
// every request as a chain of pplx tasks on a shared pool; and buffered bodies through a
// stream buffer that zero-filled what it was asked for. On operator_bench that client was
// over a third of the operator's CPU per key (docs/scale.md).
//
// Behaviour kept from the cpprestsdk transport, and what changed:
// - TLS 1.2 or later; the server's certificate is verified against the kubeconfig's
//   certificate-authority data *only* (client-go's rule; the old transport also trusted the
//   system store whenever a CA was given), or the system store when none is given.
// - Client certificate and key from PEM data; bearer token from tokenSource per request.
// - requestTimeout: connect timeout, and the longest a request may see no data at all;
//   streamIdleTimeout the same for a watch. Both at curl's one-second granularity.
// - HTTP/1.1 with keep-alive, TCP_NODELAY; no redirects; HTTPS_PROXY / NO_PROXY from the
//   environment are honoured as client-go honours them.

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>

#include "common/pem.h"
#include "kube/transport.h"

namespace keygate::kube {
namespace {

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Validates PEM input up front so that a bad CA or key is a clear configuration error
// instead of an opaque handshake failure later.
Status checkPem(const std::string& pem, bool isKey, const std::string& what) {
  if (pem.empty() || pemHolds(pem, isKey)) return okStatus();
  return makeError(ErrorCode::kInvalidArgument, what + " is not valid PEM data");
}

// What one exchange collects from curl's callbacks.
struct Exchange {
  int status = 0;
  std::map<std::string, std::string> headers;
  bool headersDone = false;
  std::string body;
  size_t maxBody = 0;
  bool tooLarge = false;  // the body (declared or received) passed maxBody: aborted
  // Streams only: bytes after the last '\n' received so far (a line still open).
  bool lineLimit = false;
  size_t openLine = 0;
  bool lineTooLong = false;
};

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t total = size * n;
  std::string_view line = trim(std::string_view(data, total));
  if (line.rfind("HTTP/", 0) == 0) {  // a status line: a new response (after a 1xx, another)
    x->headers.clear();
    x->headersDone = false;
    const size_t sp = line.find(' ');
    x->status = sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    return total;
  }
  if (line.empty()) {
    x->headersDone = x->status >= 200;
    return total;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return total;
  std::string name = lower(trim(line.substr(0, colon)));
  std::string value(trim(line.substr(colon + 1)));
  if (name == "content-length" && x->status >= 200 && x->maxBody > 0) {
    const unsigned long long declared = std::strtoull(value.c_str(), nullptr, 10);
    if (declared > x->maxBody) {
      x->tooLarge = true;
      return 0;  // aborts the transfer before the body is read
    }
    x->body.reserve(static_cast<size_t>(std::min<unsigned long long>(declared, 16u << 20)));
  }
  auto [it, fresh] = x->headers.emplace(std::move(name), value);
  if (!fresh) it->second += ", " + value;  // repeated headers (Warning) are joined, as HTTP allows
  return total;
}

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t total = size * n;
  if (x->body.size() + total > x->maxBody && !x->lineLimit) {
    x->tooLarge = true;
    return 0;
  }
  if (x->lineLimit) {  // a watch: bound the open line, not the stream
    const void* nl = memrchr(data, '\n', total);
    x->openLine = nl ? total - (static_cast<const char*>(nl) - data) - 1 : x->openLine + total;
    if (x->openLine > x->maxBody) {
      x->lineTooLong = true;
      return 0;
    }
  }
  x->body.append(data, total);
  return total;
}

Error curlError(const std::string& server, CURLcode rc, const char* detail) {
  std::string what = detail && *detail ? detail : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_COULDNT_CONNECT: {
      // The request never left this process: safe to retry even for writes.
      Error err(ErrorCode::kUnavailable, "cannot connect to " + server + " (connection refused or unreachable: " + what + ")");
      err.reason = "ConnectFailed";
      return err;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: {
      Error err(ErrorCode::kUnavailable, "cannot resolve the host of " + server + ": " + what);
      err.reason = "ConnectFailed";
      return err;
    }
    case CURLE_OPERATION_TIMEDOUT:
      return Error(ErrorCode::kDeadlineExceeded, "timed out talking to " + server + ": " + what);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
      return Error(ErrorCode::kUnavailable,
                   "TLS handshake with " + server + " failed (" + what + "): check certificate-authority and client certificate");
    case CURLE_SEND_ERROR:
      return Error(ErrorCode::kUnavailable, "connection to " + server + " failed while sending (" + what +
                                                "): was the client certificate rejected?");
    case CURLE_URL_MALFORMAT:
      return Error(ErrorCode::kInvalidArgument, "invalid request URL for " + server + ": " + what);
    default:
      return Error(ErrorCode::kUnavailable, "request to " + server + " failed: " + what);
  }
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// localhost, 127.0.0.0/8, [::1]: Go's ProxyFromEnvironment never proxies them, nor do we.
bool isLoopback(const std::string& server) {
  std::string_view hostPort(server);
  hostPort.remove_prefix(hostPort.find("://") + 3);
  hostPort = hostPort.substr(0, hostPort.find('/'));
  if (hostPort.rfind("[::1]", 0) == 0) return true;
  std::string_view host = hostPort.substr(0, hostPort.find(':'));
  return host == "localhost" || host.rfind("127.", 0) == 0;
}

bool safePath(const std::string& p) {
  if (p.empty() || p[0] != '/') return false;
  return std::none_of(p.begin(), p.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

class CurlTransport;

// A watch (or any response read as it arrives): its own easy handle on a multi handle.
class CurlStream final : public HttpStream {
 public:
  CurlStream(EasyPtr easy, SlistPtr headers, std::unique_ptr<Exchange> x, std::string server, size_t maxLine)
      : easy_(std::move(easy)), headerList_(std::move(headers)), x_(std::move(x)), server_(std::move(server)),
        maxLine_(maxLine), multi_(curl_multi_init()) {}
  ~CurlStream() override {
    if (multi_ && easy_) curl_multi_remove_handle(multi_, easy_.get());
    easy_.reset();
    if (multi_) curl_multi_cleanup(multi_);
  }

  // Starts the transfer and waits for the response's headers (or a failure).
  Status start(std::chrono::milliseconds headerTimeout) {
    if (!multi_ || curl_multi_add_handle(multi_, easy_.get()) != CURLM_OK)
      return makeError(ErrorCode::kInternal, "cannot start a streaming request");
    const auto deadline = std::chrono::steady_clock::now() + headerTimeout;
    while (!x_->headersDone && !done_) {
      if (cancelled_) return makeError(ErrorCode::kCancelled, "request cancelled");
      if (std::chrono::steady_clock::now() > deadline)
        return makeError(ErrorCode::kDeadlineExceeded, "timed out waiting for the response headers of " + server_);
      pump();
    }
    if (!x_->headersDone) return failure(false);
    return okStatus();
  }

  int status() const override { return x_->status; }

  // Lines are taken from the front of the received bytes by moving head_, and the consumed
  // prefix is dropped only once it is most of the buffer: a burst of many events in one
  // transfer step costs one pass, not a memmove of the rest per line.
  Result<std::optional<std::string>> readLine() override {
    for (;;) {
      if (cancelled_) return makeError(ErrorCode::kCancelled, "watch cancelled");
      std::string& pending = x_->body;
      const size_t nl = pending.find('\n', head_ + scanned_);
      if (nl != std::string::npos) {
        std::string line = pending.substr(head_, nl - head_);
        head_ = nl + 1;
        scanned_ = 0;
        if (head_ == pending.size()) {
          pending.clear();
          head_ = 0;
        } else if (head_ >= (64u << 10) && head_ * 2 >= pending.size()) {
          pending.erase(0, head_);
          head_ = 0;
        }
        if (line.size() > maxLine_) return lineTooLong();
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return std::optional<std::string>(std::move(line));
      }
      scanned_ = pending.size() - head_;
      if (scanned_ > maxLine_ || x_->lineTooLong) return lineTooLong();
      if (done_) {
        if (result_ != CURLE_OK) return failure(true);
        if (scanned_ == 0) return std::optional<std::string>();
        std::string line = pending.substr(head_);  // the last line, without its newline; then the end
        pending.clear();
        head_ = 0;
        scanned_ = 0;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return std::optional<std::string>(std::move(line));
      }
      pump();
    }
  }

  Result<std::string> readAll() override {
    while (!done_) {
      if (cancelled_) return makeError(ErrorCode::kCancelled, "request cancelled");
      if (x_->body.size() - head_ > maxLine_) return makeError(ErrorCode::kInvalidArgument, "response body too large");
      pump();
    }
    if (x_->lineTooLong || x_->body.size() - head_ > maxLine_)
      return makeError(ErrorCode::kInvalidArgument, "response body too large");
    if (result_ != CURLE_OK) return failure(false);
    std::string all = x_->body.substr(head_);
    x_->body.clear();
    head_ = 0;
    return all;
  }

  void cancel() override {
    cancelled_ = true;
    if (multi_) curl_multi_wakeup(multi_);
  }

 private:
  // One round: let curl move data; only when that brought nothing new, wait for the socket
  // (or a wake-up, or curl's own timers) up to 1 s. Waiting after curl delivered data would
  // hold an event that is already here until the next one arrives.
  void pump() {
    const size_t had = x_->body.size();
    const bool headersHad = x_->headersDone;
    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left))
      if (m->msg == CURLMSG_DONE) {
        done_ = true;
        result_ = m->data.result;
      }
    if (done_ || running == 0) {
      done_ = true;
      return;
    }
    if (x_->body.size() != had || x_->headersDone != headersHad) return;
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }

  Error failure(bool established) const {
    if (cancelled_) return Error(ErrorCode::kCancelled, "watch cancelled");
    if (x_->lineTooLong) return lineTooLong();
    if (x_->tooLarge) return Error(ErrorCode::kInvalidArgument, "response body too large");
    Error err = curlError(server_, result_, errorBuffer());
    // The server (or a proxy) broke an established stream: a normal reason to re-watch.
    if (established) err.reason = "StreamBroken";
    return err;
  }
  const char* errorBuffer() const { return errbuf_; }
  Error lineTooLong() const {
    return makeError(ErrorCode::kInvalidArgument, "watch line exceeds " + std::to_string(maxLine_) + " bytes");
  }

  friend class CurlTransport;
  EasyPtr easy_;
  SlistPtr headerList_;
  std::unique_ptr<Exchange> x_;
  std::string server_;
  size_t maxLine_;
  CURLM* multi_;
  char errbuf_[CURL_ERROR_SIZE] = {0};
  size_t head_ = 0;     // x_->body[0, head_) has been handed out
  size_t scanned_ = 0;  // x_->body[head_, head_ + scanned_) holds no newline
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
  std::atomic<bool> cancelled_{false};
};

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(TransportConfig cfg) : cfg_(std::move(cfg)), loopback_(isLoopback(cfg_.server)) {}
  ~CurlTransport() override = default;

  Result<HttpResponse> send(const HttpRequest& req) override {
    EasyPtr easy = take();
    if (!easy) return makeError(ErrorCode::kInternal, "cannot create an HTTP client handle");
    Exchange x;
    x.maxBody = cfg_.maxResponseBytes;
    char errbuf[CURL_ERROR_SIZE] = {0};
    auto headers = prepare(easy.get(), req, x, errbuf, cfg_.requestTimeout);
    if (!headers.ok()) {
      give(std::move(easy));  // nothing was sent: its connection is still good
      return headers.takeError();
    }
    const CURLcode rc = curl_easy_perform(easy.get());
    if (x.tooLarge)
      return makeError(ErrorCode::kInvalidArgument,
                       "response body exceeds the " + std::to_string(cfg_.maxResponseBytes) + "-byte limit");
    if (rc != CURLE_OK) return curlError(cfg_.server, rc, errbuf);  // the handle (and its connection) is dropped
    give(std::move(easy));
    HttpResponse out;
    out.status = x.status;
    out.headers = std::move(x.headers);
    out.body = std::move(x.body);
    return out;
  }

  Result<HttpStreamPtr> stream(const HttpRequest& req) override {
    EasyPtr easy(curl_easy_init());
    if (!easy) return makeError(ErrorCode::kInternal, "cannot create an HTTP client handle");
    auto x = std::make_unique<Exchange>();
    x->maxBody = cfg_.maxLineBytes;
    x->lineLimit = true;
    auto s = std::make_unique<CurlStream>(nullptr, nullptr, nullptr, cfg_.server, cfg_.maxLineBytes);
    ASSIGN_OR_RETURN(SlistPtr headers, prepare(easy.get(), req, *x, s->errbuf_, cfg_.streamIdleTimeout));
    s->easy_ = std::move(easy);
    s->headerList_ = std::move(headers);
    s->x_ = std::move(x);
    RETURN_IF_ERROR(s->start(cfg_.requestTimeout));
    return HttpStreamPtr(std::move(s));
  }

 private:
  // Sets every option of one exchange on a reset handle. The connection cache survives the
  // reset, so the next request on this handle reuses its connection.
  Result<SlistPtr> prepare(CURL* h, const HttpRequest& req, Exchange& x, char* errbuf,
                           std::chrono::milliseconds idleTimeout) {
    if (!safePath(req.pathAndQuery))
      return makeError(ErrorCode::kInvalidArgument, "invalid request path " + req.pathAndQuery);
    curl_easy_reset(h);
    const std::string url = cfg_.server + req.pathAndQuery;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (loopback_) curl_easy_setopt(h, CURLOPT_PROXY, "");  // as Go: never through a proxy
    if (cfg_.insecureSkipTlsVerify) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!cfg_.caPem.empty()) {
      curl_blob ca{const_cast<char*>(cfg_.caPem.data()), cfg_.caPem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
      curl_easy_setopt(h, CURLOPT_CAINFO, static_cast<char*>(nullptr));  // this CA only, not the system store too
      curl_easy_setopt(h, CURLOPT_CAPATH, static_cast<char*>(nullptr));
    }
    if (!cfg_.clientCertPem.empty()) {
      curl_blob cert{const_cast<char*>(cfg_.clientCertPem.data()), cfg_.clientCertPem.size(), CURL_BLOB_COPY};
      curl_blob key{const_cast<char*>(cfg_.clientKeyPem.data()), cfg_.clientKeyPem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
      curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    const long idleSecs = std::max<long>(1, static_cast<long>((idleTimeout.count() + 999) / 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, cfg_.requestTimeout.count())));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, idleSecs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, cfg_.userAgent.c_str());
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &onHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &onBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);

    curl_slist* list = nullptr;
    auto add = [&list](const std::string& line) {
      if (curl_slist* n = curl_slist_append(list, line.c_str())) list = n;
    };
    std::string contentType = "application/json";
    for (const auto& [k, v] : req.headers) {
      if (k.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos) {
        curl_slist_free_all(list);
        return makeError(ErrorCode::kInvalidArgument, "invalid request header " + k);
      }
      if (lower(k) == "content-type") contentType = v;
      else add(k + ": " + v);
    }
    if (cfg_.tokenSource) {
      auto tok = cfg_.tokenSource();
      if (!tok.ok()) {
        curl_slist_free_all(list);
        return tok.takeError();
      }
      if (!tok->empty()) add("Authorization: Bearer " + *tok);
    }
    add("Expect:");  // no 100-continue round trip before a body
    const std::string& m = req.method;
    const bool hasBody = !req.body.empty() || m == "POST" || m == "PUT" || m == "PATCH";
    if (hasBody) {
      add("Content-Type: " + contentType);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, req.body.data());  // a stream outlives `req`
      if (m != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    } else if (m == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (m == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    return SlistPtr(list);
  }

  EasyPtr take() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!idle_.empty()) {
        EasyPtr h = std::move(idle_.back());
        idle_.pop_back();
        return h;
      }
    }
    return EasyPtr(curl_easy_init());
  }
  void give(EasyPtr h) {
    std::lock_guard<std::mutex> l(mu_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(h));
  }

  static constexpr size_t kMaxIdle = 16;  // handles (each with its kept-alive connection)
  TransportConfig cfg_;
  bool loopback_;
  std::mutex mu_;
  std::vector<EasyPtr> idle_;
};

}  // namespace

Result<TransportPtr> makeHttpTransport(const TransportConfig& config) {
  initCurlOnce();
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0)
    return makeError(ErrorCode::kInvalidArgument, "server \"" + config.server + "\" must be an https:// URL");
  RETURN_IF_ERROR(checkPem(config.caPem, false, "certificate-authority"));
  RETURN_IF_ERROR(checkPem(config.clientCertPem, false, "client-certificate"));
  RETURN_IF_ERROR(checkPem(config.clientKeyPem, true, "client-key"));
  if (config.clientCertPem.empty() != config.clientKeyPem.empty())
    return makeError(ErrorCode::kInvalidArgument, "client-certificate and client-key must be given together");
  TransportConfig c = config;
  while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();  // paths start with '/'
  return TransportPtr(std::make_shared<CurlTransport>(std::move(c)));
}

}  // namespace keygate::kube

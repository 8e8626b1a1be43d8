#include "metrics/server.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "metrics/metrics_impl.h"

namespace keygate::metrics {
namespace {

Error badAddress(std::string_view text, const std::string& why) {
  return makeError(ErrorCode::kInvalidArgument, "invalid bind address \"" + std::string(text) + "\": " + why +
                                                    " (want [host]:port, e.g. \":9090\" or \"127.0.0.1:9090\")");
}

// civetweb's listening_ports syntax: "9090" (all interfaces) or "127.0.0.1:9090".
std::string civetPorts(const BindAddress& a) {
  return a.host.empty() ? std::to_string(a.port) : a.host + ":" + std::to_string(a.port);
}

// civetweb only says "could not bind"; bind a probe socket to learn why (EADDRINUSE, EACCES).
std::string bindFailureReason(const BindAddress& a) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "cannot create a socket";
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // as civetweb does
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(a.port));
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (!a.host.empty()) ::inet_pton(AF_INET, a.host.c_str(), &sa.sin_addr);
  std::string reason = "cannot listen";
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    reason = std::strerror(errno);
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  }
  ::close(fd);
  return reason;
}

// Keeps civetweb from printing its own errors on stderr: we report them as Results.
int quietLog(const mg_connection*, const char*) { return 1; }

const CivetCallbacks* quietCallbacks() {
  static const CivetCallbacks cb = [] {
    CivetCallbacks c;  // its constructor zeroes every callback
    c.log_message = quietLog;
    return c;
  }();
  return &cb;
}

int firstPort(const std::vector<int>& ports) { return ports.empty() ? 0 : ports.front(); }

}  // namespace

Result<BindAddress> parseBindAddress(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return badAddress(text, "missing port");
  std::string host(text.substr(0, colon));
  std::string_view port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5) return badAddress(text, "port must be a number from 0 to 65535");
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return badAddress(text, "port must be a number from 0 to 65535");
  int p = std::stoi(std::string(port));
  if (p > 65535) return badAddress(text, "port must be a number from 0 to 65535");
  if (host == "localhost") host = "127.0.0.1";
  if (host == "0.0.0.0") host.clear();
  if (!host.empty()) {
    in_addr addr{};
    if (::inet_pton(AF_INET, host.c_str(), &addr) != 1)
      return badAddress(text, "host must be empty, localhost or an IPv4 address");
  }
  return BindAddress{host, p};
}

// ---- MetricsServer ----------------------------------------------------------------------

struct MetricsServer::Impl {
  // The Exposer keeps weak pointers only: these shared_ptrs keep registry and collectable
  // alive as long as the server runs (Metrics owns them too).
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<SnapshotCollectable> snapshot;
  std::unique_ptr<prometheus::Exposer> exposer;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  // Stop serving (joins civetweb's threads) before the collectables go away.
  if (impl_) impl_->exposer.reset();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& bindAddress, Metrics& metrics) {
  auto addr = parseBindAddress(bindAddress);
  if (!addr.ok()) return makeError(ErrorCode::kInvalidArgument, "metrics " + addr.error().message);
  auto impl = std::make_unique<Impl>();
  impl->registry = metrics.impl().registry;
  impl->snapshot = metrics.impl().snapshot;
  try {
    std::vector<std::string> options = {"listening_ports", civetPorts(*addr), "num_threads", "2",
                                        "request_timeout_ms", "10000"};
    impl->exposer = std::make_unique<prometheus::Exposer>(options, quietCallbacks());
  } catch (const CivetException&) {
    return makeError(ErrorCode::kUnavailable,
                     "metrics bind address " + bindAddress + ": " + bindFailureReason(*addr));
  } catch (const std::exception& e) {
    return makeError(ErrorCode::kUnavailable, "metrics bind address " + bindAddress + ": " + e.what());
  }
  impl->exposer->RegisterCollectable(impl->registry);
  impl->exposer->RegisterCollectable(impl->snapshot);
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

int MetricsServer::port() const { return firstPort(impl_->exposer->GetListeningPorts()); }

// ---- HealthServer -----------------------------------------------------------------------

namespace {

// Through civetweb's header API so that it keeps track of keep-alive and closing.
void reply(mg_connection* conn, int code, const std::string& body) {
  mg_response_header_start(conn, code);
  mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_send(conn);
  mg_write(conn, body.data(), body.size());
}

class FnHandler final : public CivetHandler {
 public:
  explicit FnHandler(std::function<std::pair<int, std::string>()> fn) : fn_(std::move(fn)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    // HTTP handler boundary: nothing may escape into civetweb's C code.
    try {
      auto [code, body] = fn_();
      reply(conn, code, body);
    } catch (const std::exception& e) {
      reply(conn, 500, std::string("internal error: ") + e.what() + "\n");
    }
    return true;
  }
  // Probes are GET only.
  bool handlePost(CivetServer*, mg_connection* conn) override { return notAllowed(conn); }
  bool handleHead(CivetServer*, mg_connection* conn) override { return notAllowed(conn); }
  bool handlePut(CivetServer*, mg_connection* conn) override { return notAllowed(conn); }
  bool handleDelete(CivetServer*, mg_connection* conn) override { return notAllowed(conn); }
  bool handleOptions(CivetServer*, mg_connection* conn) override { return notAllowed(conn); }
  bool handlePatch(CivetServer*, mg_connection* conn) override { return notAllowed(conn); }

 private:
  static bool notAllowed(mg_connection* conn) {
    reply(conn, 405, "method not allowed\n");
    return true;
  }
  std::function<std::pair<int, std::string>()> fn_;
};

}  // namespace

struct HealthServer::Impl {
  mutable std::mutex mu;
  std::map<std::string, ReadinessCheck> checks;
  std::unique_ptr<FnHandler> healthz;
  std::unique_ptr<FnHandler> readyz;
  std::unique_ptr<CivetServer> server;  // last: destroyed first, before the handlers
};

HealthServer::HealthServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HealthServer::~HealthServer() {
  if (impl_ && impl_->server) {
    impl_->server->close();
    impl_->server.reset();
  }
}

Result<std::unique_ptr<HealthServer>> HealthServer::start(const std::string& bindAddress) {
  auto addr = parseBindAddress(bindAddress);
  if (!addr.ok()) return makeError(ErrorCode::kInvalidArgument, "health probe " + addr.error().message);
  auto impl = std::make_unique<Impl>();
  Impl* raw = impl.get();
  auto self = std::unique_ptr<HealthServer>(new HealthServer(std::move(impl)));
  HealthServer* hs = self.get();
  raw->healthz = std::make_unique<FnHandler>([] { return std::pair<int, std::string>(200, "ok\n"); });
  raw->readyz = std::make_unique<FnHandler>([hs] { return hs->readiness(); });
  try {
    // Short timeouts and a small pool: probes are tiny GETs from the kubelet.
    std::vector<std::string> options = {"listening_ports", civetPorts(*addr), "num_threads", "2",
                                        "request_timeout_ms", "5000", "keep_alive_timeout_ms", "500"};
    raw->server = std::make_unique<CivetServer>(options, quietCallbacks());
  } catch (const CivetException&) {
    return makeError(ErrorCode::kUnavailable,
                     "health probe bind address " + bindAddress + ": " + bindFailureReason(*addr));
  } catch (const std::exception& e) {
    return makeError(ErrorCode::kUnavailable, "health probe bind address " + bindAddress + ": " + e.what());
  }
  raw->server->addHandler("/healthz", raw->healthz.get());
  raw->server->addHandler("/readyz", raw->readyz.get());
  return self;
}

void HealthServer::addReadinessCheck(const std::string& name, ReadinessCheck check) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->checks[name] = std::move(check);
}

void HealthServer::removeReadinessCheck(const std::string& name) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->checks.erase(name);
}

std::pair<int, std::string> HealthServer::readiness() const {
  std::map<std::string, ReadinessCheck> checks;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    checks = impl_->checks;  // run the checks without holding the lock
  }
  std::string body;
  bool ok = true;
  for (const auto& [name, check] : checks) {
    Status s = check ? check() : Status(makeError(ErrorCode::kInternal, "no check function"));
    if (s.ok()) {
      body += "[+]" + name + " ok\n";
    } else {
      ok = false;
      body += "[-]" + name + " failed: " + s.error().message + "\n";
    }
  }
  body += ok ? "readyz check passed\n" : "readyz check failed\n";
  return {ok ? 200 : 503, body};
}

int HealthServer::port() const { return firstPort(impl_->server->getListeningPorts()); }

}  // namespace keygate::metrics

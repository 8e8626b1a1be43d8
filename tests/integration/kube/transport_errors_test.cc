// Connection-level failures: no server, wrong CA, malformed PEM. Each must be a clear error
// within the timeout, never a hang or a crash.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "fixture.h"
#include "support/free_port.h"
#include "kube/client_factory.h"
#include "kube/rest_client.h"

namespace keygate::kube {
namespace {

using testing::freePort;

// Nothing listens on the port: kUnavailable "connection refused" after bounded retries.
TEST(TransportErrorsTest, UnreachableServer) {
  TransportConfig cfg;
  cfg.server = "https://127.0.0.1:" + std::to_string(freePort());
  cfg.requestTimeout = std::chrono::milliseconds(2000);
  auto t = makeHttpTransport(cfg);
  ASSERT_TRUE(t.ok());
  RestClientOptions o;
  o.maxRetries = 1;
  o.retryBase = std::chrono::milliseconds(10);
  RestClient c(*t, o);
  auto start = std::chrono::steady_clock::now();
  auto r = c.get(widgets(), "a", "b");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("connection refused"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().reason, "ConnectFailed");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto w = c.watch(widgets(), "a", {});
  EXPECT_FALSE(w.ok());
}

// Bad PEM input is rejected when the transport is built, naming the field.
TEST(TransportErrorsTest, MalformedPem) {
  TransportConfig cfg;
  cfg.server = "https://127.0.0.1:1";
  cfg.caPem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  auto t = makeHttpTransport(cfg);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("certificate-authority"), std::string::npos);
  cfg.caPem.clear();
  cfg.server = "ftp://x";
  EXPECT_FALSE(makeHttpTransport(cfg).ok());
}

// A request the transport cannot put on the wire as given (a path with a space or a control
// character, a header that would split the head) is refused before any connection: never
// sent altered, never a second request smuggled in.
TEST(TransportErrorsTest, MalformedRequestsNeverLeave) {
  TransportConfig cfg;
  cfg.server = "https://127.0.0.1:" + std::to_string(freePort());  // nothing listens: any send would fail otherwise
  auto t = makeHttpTransport(cfg);
  ASSERT_TRUE(t.ok());
  for (const std::string& path : {std::string("/api/v1/x y"), std::string("/api/v1/x\r\nHost: evil"), std::string("api/v1/x"),
                                  std::string(""), std::string("/api/\x7f")}) {
    auto r = (*t)->send(HttpRequest{"GET", path, {}, ""});
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << path << ": " << r.error().toString();
    auto w = (*t)->stream(HttpRequest{"GET", path, {}, ""});
    ASSERT_FALSE(w.ok()) << path;
    EXPECT_EQ(w.error().code, ErrorCode::kInvalidArgument) << path;
  }
  for (const auto& header : std::vector<std::pair<std::string, std::string>>{
           {"X-A", "v\r\nX-Injected: 1"}, {"X-B\r\nX-Injected", "1"}, {"X:C", "1"}}) {
    auto r = (*t)->send(HttpRequest{"GET", "/api/v1/x", {header}, ""});
    ASSERT_FALSE(r.ok()) << header.first;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << header.first << ": " << r.error().toString();
  }
}

class TlsTest : public ApiServerTest {};

// A CA that did not sign the server's certificate fails the handshake with a hint.
TEST_F(TlsTest, WrongCertificateAuthority) {
  testing::TempDir other;
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + other.path() + "/k.pem -out " + other.path() +
                    "/c.pem -days 1 -subj /CN=other-ca >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  auto cfg = server_->transportFor("admin");
  cfg.caPem = *readFile(other.path() + "/c.pem");
  auto t = makeHttpTransport(cfg);
  ASSERT_TRUE(t.ok());
  RestClientOptions o;
  o.maxRetries = 0;
  RestClient c(*t, o);
  auto r = c.get(widgets(), "tenant-a", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("TLS"), std::string::npos) << r.error().message;
}

size_t openSockets() {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    n += !ec && target.string().rfind("socket:", 0) == 0;
  }
  return n;
}

// One caller at a time: every request rides the same kept-alive TLS connection (a new
// connection costs a handshake; the old transport also parsed the system trust store for each).
TEST_F(TlsTest, SequentialRequestsReuseOneConnection) {
  auto t = makeHttpTransport(server_->transportFor("admin"));
  ASSERT_TRUE(t.ok());
  RestClient c(*t);
  ASSERT_TRUE(c.list(widgets(), "tenant-a").ok());
  const size_t before = openSockets();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.list(widgets(), "tenant-a").ok());
  EXPECT_EQ(openSockets(), before);
}

// HTTPS_PROXY from the environment is not used for a loopback API server (Go's rule), so a
// proxy set for the node's egress cannot break a local or port-forwarded cluster.
TEST_F(TlsTest, ALoopbackServerIsNeverProxied) {
  ::setenv("HTTPS_PROXY", ("http://127.0.0.1:" + std::to_string(freePort())).c_str(), 1);
  ::setenv("https_proxy", ("http://127.0.0.1:" + std::to_string(freePort())).c_str(), 1);
  auto t = makeHttpTransport(server_->transportFor("admin"));
  ASSERT_TRUE(t.ok());
  RestClient c(*t);
  auto r = c.list(widgets(), "tenant-a");
  ::unsetenv("HTTPS_PROXY");
  ::unsetenv("https_proxy");
  EXPECT_TRUE(r.ok()) << r.error().toString();
}

// A kubeconfig written for a user works end to end (server, CA data, token).
TEST_F(TlsTest, KubeconfigEndToEnd) {
  auto cfg = loadKubeconfig({server_->writeKubeconfig("admin"), ""});
  ASSERT_TRUE(cfg.ok()) << cfg.error().toString();
  EXPECT_EQ(cfg->ns, "tenant-a");
  auto t = makeHttpTransport(cfg->transport);
  ASSERT_TRUE(t.ok());
  RestClient c(*t);
  auto r = c.list(widgets(), cfg->ns);
  EXPECT_TRUE(r.ok()) << r.error().toString();
}

}  // namespace
}  // namespace keygate::kube

namespace keygate::kube {
namespace {

// The client-side rate limit holds requests back: 8 requests at 10 QPS with burst 1 take at
// least 0.6 s (a lower bound only; never an upper time limit).
TEST_F(TlsTest, ClientSideRateLimit) {
  ClientConfig cfg{server_->transportFor("admin"), "tenant-a"};
  ClientOptions o;
  o.qps = 10;
  o.burst = 1;
  auto c = makeClient(cfg, o);
  ASSERT_TRUE(c.ok()) << c.error().toString();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) ASSERT_TRUE((*c)->list(widgets(), "tenant-a").ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(600));
  ClientOptions off;
  off.qps = 0;
  EXPECT_TRUE(makeClient(cfg, off).ok());
}

}  // namespace
}  // namespace keygate::kube

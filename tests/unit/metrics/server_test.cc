#include "metrics/server.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/http_get.h"

namespace keygate::metrics {
namespace {

using testing::httpGet;

// Runs `promtool check metrics` on `text` (stdin), returns {exit code, output}.
std::pair<int, std::string> promtoolCheck(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / ("keygate-metrics-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path) << text;
  std::string cmd = std::string(KEYGATE_PROMTOOL) + " check metrics < " + path.string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  int status = ::pclose(p);
  std::filesystem::remove(path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

Snapshot sampleSnapshot() {
  Snapshot s;
  s.keys.push_back({"tenant-a", "model-weights", "Active", "Encrypt", "softhsm", {}, WallTime(std::chrono::hours(500'000))});
  s.keys.push_back({"tenant-a", "request-mac", "PreActive", "MAC", "softhsm", WallTime(std::chrono::hours(480'000)), {}});
  s.requests.push_back({"tenant-a", "Activated"});
  s.bindings.push_back({"tenant-a", "approvers", WallTime(std::chrono::hours(490'000))});
  return s;
}

// A real HTTP scrape of /metrics returns every family and passes `promtool check metrics`.
TEST(MetricsServerTest, HttpScrapePassesPromtool) {
  Metrics m("0.1.0");
  m.setSnapshotSource(sampleSnapshot);
  m.reconcile("encryptionkey", "success", 0.01);
  m.workqueueDepth("encryptionkey", 0);
  m.workqueueRetry("encryptionkey");
  m.backendOperation("softhsm", "activate", "success", 0.02);
  m.backendUp("softhsm", true);
  m.webhookRequest("EncryptionKey", "CREATE", false, 0.003);
  m.kubeRequest("watch", "encryptionkeys", 200);
  m.watchRestart("encryptionkeys");
  m.leader(false);
  m.auditEvent("KeyCreated");
  m.timeToActivation(90);
  auto server = MetricsServer::start("127.0.0.1:0", m);
  ASSERT_TRUE(server.ok()) << server.error().toString();
  ASSERT_GT((*server)->port(), 0);

  auto r = httpGet((*server)->port(), "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("keygate_keys{backend=\"softhsm\",namespace=\"tenant-a\",purpose=\"Encrypt\",state=\"Active\"} 1"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("keygate_build_info{version=\"0.1.0\"} 1"), std::string::npos);

  auto [code, out] = promtoolCheck(r.body);
  EXPECT_EQ(code, 0) << "promtool check metrics:\n" << out << "\non:\n" << r.body;
}

// The exposer keeps only weak pointers: the server keeps the registry alive, so scrapes
// keep working (and keep seeing new values) for the server's whole life.
TEST(MetricsServerTest, RepeatedScrapesSeeNewValues) {
  Metrics m;
  auto server = MetricsServer::start(":0", m);
  ASSERT_TRUE(server.ok()) << server.error().toString();
  m.auditEvent("KeyCreated");
  EXPECT_NE(httpGet((*server)->port(), "/metrics").body.find("keygate_audit_events_total{event=\"KeyCreated\"} 1"),
            std::string::npos);
  m.auditEvent("KeyCreated");
  EXPECT_NE(httpGet((*server)->port(), "/metrics").body.find("keygate_audit_events_total{event=\"KeyCreated\"} 2"),
            std::string::npos);
}

// A port already in use is a clean startup error, not an exception.
TEST(MetricsServerTest, PortInUseIsACleanError) {
  Metrics m;
  auto first = MetricsServer::start("127.0.0.1:0", m);
  ASSERT_TRUE(first.ok()) << first.error().toString();
  const std::string addr = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = MetricsServer::start(addr, m);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message, "metrics bind address " + addr + ": address already in use");

  auto health = HealthServer::start(addr);
  ASSERT_FALSE(health.ok());
  EXPECT_EQ(health.error().message, "health probe bind address " + addr + ": address already in use");
}

// Bad bind addresses are rejected before anything listens.
TEST(MetricsServerTest, BadBindAddress) {
  Metrics m;
  auto r = MetricsServer::start("9090", m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "metrics invalid bind address \"9090\": missing port (want [host]:port, e.g. \":9090\" or "
            "\"127.0.0.1:9090\")");
}

// Accepted and refused bind address forms.
TEST(BindAddressTest, Forms) {
  struct Case {
    const char* text;
    bool ok;
    const char* host;
    int port;
  };
  for (const auto& c : std::vector<Case>{{":9090", true, "", 9090},
                                         {"127.0.0.1:9090", true, "127.0.0.1", 9090},
                                         {"0.0.0.0:8081", true, "", 8081},
                                         {"localhost:0", true, "127.0.0.1", 0},
                                         {":0", true, "", 0},
                                         {":65536", false, "", 0},
                                         {":http", false, "", 0},
                                         {"", false, "", 0},
                                         {"9090", false, "", 0},
                                         {"example.com:80", false, "", 0},
                                         {":-1", false, "", 0},
                                         {"1.2.3:80", false, "", 0}}) {
    auto r = parseBindAddress(c.text);
    EXPECT_EQ(r.ok(), c.ok) << c.text;
    if (r.ok() && c.ok) {
      EXPECT_EQ(r->host, c.host) << c.text;
      EXPECT_EQ(r->port, c.port) << c.text;
    }
  }
}

// /healthz is always 200 "ok"; /readyz is 503 listing the failing checks until they pass.
TEST(HealthServerTest, ReadyzFlipsWhenChecksPass) {
  auto hs = HealthServer::start("127.0.0.1:0");
  ASSERT_TRUE(hs.ok()) << hs.error().toString();
  HealthServer& h = **hs;
  int port = h.port();
  ASSERT_GT(port, 0);

  auto healthz = httpGet(port, "/healthz");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.body, "ok\n");
  // No checks registered yet: ready.
  EXPECT_EQ(httpGet(port, "/readyz").status, 200);

  std::atomic<bool> synced{false};
  h.addReadinessCheck("informers-synced", [&]() -> Status {
    if (synced) return okStatus();
    return makeError(ErrorCode::kUnavailable, "waiting for encryptionkeys");
  });
  h.addReadinessCheck("webhook-cert", [] { return okStatus(); });
  auto notReady = httpGet(port, "/readyz");
  EXPECT_EQ(notReady.status, 503);
  EXPECT_EQ(notReady.body,
            "[-]informers-synced failed: waiting for encryptionkeys\n[+]webhook-cert ok\nreadyz check failed\n");
  EXPECT_EQ(httpGet(port, "/healthz").status, 200);  // liveness is independent of readiness

  synced = true;
  auto ready = httpGet(port, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "[+]informers-synced ok\n[+]webhook-cert ok\nreadyz check passed\n");

  h.addReadinessCheck("backend-softhsm", [] { return Status(makeError(ErrorCode::kUnavailable, "C_Initialize failed")); });
  EXPECT_EQ(httpGet(port, "/readyz").status, 503);
  h.removeReadinessCheck("backend-softhsm");
  EXPECT_EQ(httpGet(port, "/readyz").status, 200);
}

// Only the two probe paths exist, and only GET is served on them.
TEST(HealthServerTest, UnknownPathsAndMethods) {
  auto hs = HealthServer::start(":0");
  ASSERT_TRUE(hs.ok()) << hs.error().toString();
  int port = (*hs)->port();
  EXPECT_EQ(httpGet(port, "/metrics").status, 404);
  EXPECT_EQ(httpGet(port, "/").status, 404);
  EXPECT_EQ(httpGet(port, "/healthz", "POST").status, 405);
}

// Stopping the server releases the port: a new server can bind it at once.
TEST(HealthServerTest, DestructorReleasesPort) {
  int port = 0;
  {
    auto hs = HealthServer::start("127.0.0.1:0");
    ASSERT_TRUE(hs.ok());
    port = (*hs)->port();
  }
  auto again = HealthServer::start("127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(again.ok()) << again.error().toString();
}

}  // namespace
}  // namespace keygate::metrics

#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

namespace keygate::metrics {
namespace {

using namespace std::chrono_literals;

// Every metric named in architecture.md (names are part of the API).
const std::vector<std::string> kAllMetrics = {
    "keygate_keys",
    "keygate_key_preactive_expiry_timestamp_seconds",
    "keygate_key_time_to_activation_seconds",
    "keygate_activation_requests",
    "keygate_key_rotation_due_timestamp_seconds",
    "keygate_rolebinding_review_due_timestamp_seconds",
    "keygate_reconcile_total",
    "keygate_reconcile_duration_seconds",
    "keygate_workqueue_depth",
    "keygate_workqueue_retries_total",
    "keygate_backend_operations_total",
    "keygate_backend_operation_duration_seconds",
    "keygate_backend_up",
    "keygate_webhook_requests_total",
    "keygate_webhook_duration_seconds",
    "keygate_kube_requests_total",
    "keygate_watch_restarts_total",
    "keygate_leader",
    "keygate_audit_events_total",
    "keygate_build_info",
};

WallTime at(int64_t unixSeconds) { return WallTime(std::chrono::seconds(unixSeconds)); }

bool hasLine(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

// Drives every update method once, as the operator would during one lifecycle.
void scriptedSequence(Metrics& m) {
  m.reconcile("encryptionkey", "success", 0.02);
  m.reconcile("encryptionkey", "error", 0.5);
  m.workqueueDepth("encryptionkey", 3);
  m.workqueueRetry("encryptionkey");
  m.backendOperation("softhsm", "generate", "success", 0.1);
  m.backendUp("softhsm", true);
  m.webhookRequest("KeyActivationRequest", "UPDATE", true, 0.004);
  m.kubeRequest("list", "encryptionkeys", 200);
  m.watchRestart("encryptionkeys");
  m.leader(true);
  m.auditEvent("KeyActivated");
  m.timeToActivation(7200);
}

Snapshot lifecycleSnapshot(bool activated) {
  Snapshot s;
  s.keys.push_back({"tenant-a", "model-weights", activated ? "Active" : "PreActive", "Encrypt", "softhsm",
                    activated ? std::nullopt : std::optional<WallTime>(at(1'800'000'000)), at(1'900'000'000)});
  s.keys.push_back({"tenant-a", "request-mac", "PreActive", "MAC", "softhsm", at(1'800'086'400), std::nullopt});
  s.requests.push_back({"tenant-a", activated ? "Activated" : "Pending"});
  s.bindings.push_back({"tenant-a", "approvers", at(1'814'400'000)});
  return s;
}

// After a scripted sequence, every metric of the API has a TYPE line and at least one sample.
TEST(MetricsTest, EveryMetricPresentAfterScriptedSequence) {
  Metrics m("0.1.0");
  scriptedSequence(m);
  m.setSnapshotSource([] { return lifecycleSnapshot(false); });
  std::string text = m.scrapeText();
  for (const auto& name : kAllMetrics) {
    EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << name << " missing:\n" << text;
    EXPECT_NE(text.find("\n" + name), std::string::npos) << name << " has no sample:\n" << text;
  }
  EXPECT_TRUE(hasLine(text, "keygate_build_info{version=\"0.1.0\"} 1")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_leader 1")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_reconcile_total{controller=\"encryptionkey\",result=\"error\"} 1")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_workqueue_depth{controller=\"encryptionkey\"} 3")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_kube_requests_total{code=\"200\",resource=\"encryptionkeys\",verb=\"list\"} 1"))
      << text;
  EXPECT_TRUE(hasLine(
      text, "keygate_webhook_requests_total{allowed=\"true\",kind=\"KeyActivationRequest\",operation=\"UPDATE\"} 1"))
      << text;
  EXPECT_TRUE(hasLine(text, "keygate_key_time_to_activation_seconds_count 1")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_key_time_to_activation_seconds_bucket{le=\"3600\"} 0")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_key_time_to_activation_seconds_bucket{le=\"10800\"} 1")) << text;
}

// Two keys created, one activated: the key gauges follow the cache, per state.
TEST(MetricsTest, ValuesAfterScriptedLifecycle) {
  Metrics m;
  bool activated = false;
  m.setSnapshotSource([&] { return lifecycleSnapshot(activated); });
  std::string before = m.scrapeText();
  EXPECT_TRUE(hasLine(
      before, "keygate_keys{backend=\"softhsm\",namespace=\"tenant-a\",purpose=\"Encrypt\",state=\"PreActive\"} 1"))
      << before;
  EXPECT_TRUE(hasLine(before, "keygate_activation_requests{namespace=\"tenant-a\",phase=\"Pending\"} 1")) << before;
  EXPECT_TRUE(hasLine(before,
                      "keygate_key_preactive_expiry_timestamp_seconds{key=\"model-weights\",namespace=\"tenant-a\"} "
                      "1800000000"))
      << before;

  activated = true;
  m.timeToActivation(3 * 3600);
  m.auditEvent("KeyActivated");
  std::string after = m.scrapeText();
  EXPECT_TRUE(hasLine(
      after, "keygate_keys{backend=\"softhsm\",namespace=\"tenant-a\",purpose=\"Encrypt\",state=\"Active\"} 1"))
      << after;
  EXPECT_TRUE(hasLine(
      after, "keygate_keys{backend=\"softhsm\",namespace=\"tenant-a\",purpose=\"MAC\",state=\"PreActive\"} 1"))
      << after;
  // The activated key leaves the PreActive expiry gauge; the other one stays.
  EXPECT_EQ(after.find("keygate_key_preactive_expiry_timestamp_seconds{key=\"model-weights\""), std::string::npos);
  EXPECT_TRUE(hasLine(after,
                      "keygate_key_preactive_expiry_timestamp_seconds{key=\"request-mac\",namespace=\"tenant-a\"} "
                      "1800086400"))
      << after;
  EXPECT_TRUE(hasLine(after, "keygate_activation_requests{namespace=\"tenant-a\",phase=\"Activated\"} 1")) << after;
  EXPECT_TRUE(hasLine(after,
                      "keygate_key_rotation_due_timestamp_seconds{key=\"model-weights\",namespace=\"tenant-a\"} "
                      "1900000000"))
      << after;
  EXPECT_TRUE(hasLine(after,
                      "keygate_rolebinding_review_due_timestamp_seconds{binding=\"approvers\",namespace=\"tenant-a\"} "
                      "1814400000"))
      << after;
  EXPECT_TRUE(hasLine(after, "keygate_key_time_to_activation_seconds_count 1")) << after;
  EXPECT_TRUE(hasLine(after, "keygate_audit_events_total{event=\"KeyActivated\"} 1")) << after;
}

// Keys with the same labels are counted into one series (labels bounded: no per-key series).
TEST(MetricsTest, KeysAggregateByLabels) {
  Metrics m;
  m.setSnapshotSource([] {
    Snapshot s;
    for (int i = 0; i < 5; ++i) s.keys.push_back({"t", "k" + std::to_string(i), "Active", "Sign", "hsm", {}, {}});
    s.keys.push_back({"t", "new", "", "Sign", "hsm", {}, {}});
    return s;
  });
  std::string text = m.scrapeText();
  EXPECT_TRUE(hasLine(text, "keygate_keys{backend=\"hsm\",namespace=\"t\",purpose=\"Sign\",state=\"Active\"} 5")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_keys{backend=\"hsm\",namespace=\"t\",purpose=\"Sign\",state=\"Pending\"} 1")) << text;
}

// The collectable calls the snapshot callback at every scrape, not at registration.
TEST(MetricsTest, SnapshotReadAtScrapeTime) {
  Metrics m;
  std::atomic<int> calls{0};
  m.setSnapshotSource([&] {
    ++calls;
    Snapshot s;
    for (int i = 0; i < calls.load(); ++i) s.requests.push_back({"ns", "Pending"});
    return s;
  });
  EXPECT_EQ(calls.load(), 0);
  EXPECT_TRUE(hasLine(m.scrapeText(), "keygate_activation_requests{namespace=\"ns\",phase=\"Pending\"} 1"));
  EXPECT_TRUE(hasLine(m.scrapeText(), "keygate_activation_requests{namespace=\"ns\",phase=\"Pending\"} 2"));
  EXPECT_EQ(calls.load(), 2);
}

// keygate_pkcs11_sessions_open: exported when the snapshot carries it (the operator does), absent otherwise.
TEST(MetricsTest, Pkcs11SessionsGaugeFollowsTheSnapshot) {
  Metrics m;
  EXPECT_EQ(m.scrapeText().find("keygate_pkcs11_sessions_open"), std::string::npos);
  m.setSnapshotSource([] {
    Snapshot s;
    s.pkcs11SessionsOpen = 7;
    return s;
  });
  const std::string text = m.scrapeText();
  EXPECT_TRUE(hasLine(text, "keygate_pkcs11_sessions_open 7")) << text;
  EXPECT_NE(text.find("# TYPE keygate_pkcs11_sessions_open gauge"), std::string::npos);
}

// Without a snapshot source the object families exist but are empty (no crash, no series).
TEST(MetricsTest, NoSnapshotSource) {
  Metrics m;
  std::string text = m.scrapeText();
  EXPECT_NE(text.find("# TYPE keygate_keys gauge"), std::string::npos);
  EXPECT_EQ(text.find("keygate_keys{"), std::string::npos);
}

// Label values outside their vocabulary become "other": a caller bug cannot add series.
TEST(MetricsTest, LabelValuesAreBounded) {
  Metrics m;
  m.reconcile("encryptionkey", "user-input-" + std::string(100, 'x'), 0.1);
  m.kubeRequest("PROPFIND", "secrets", 999);
  m.webhookRequest("Pod", "PATCH", false, 0.1);
  m.backendOperation("softhsm", "rm -rf", "maybe", 0.1);
  std::string text = m.scrapeText();
  EXPECT_TRUE(hasLine(text, "keygate_reconcile_total{controller=\"encryptionkey\",result=\"other\"} 1")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_kube_requests_total{code=\"0\",resource=\"secrets\",verb=\"other\"} 1")) << text;
  EXPECT_TRUE(hasLine(text, "keygate_webhook_requests_total{allowed=\"false\",kind=\"other\",operation=\"other\"} 1"))
      << text;
  EXPECT_TRUE(hasLine(
      text, "keygate_backend_operations_total{backend=\"softhsm\",operation=\"other\",result=\"other\"} 1"))
      << text;
}

// buildInfo replaces the version series instead of adding a second one.
TEST(MetricsTest, BuildInfoHasOneSeries) {
  Metrics m("0.1.0");
  m.buildInfo("0.2.0");
  std::string text = m.scrapeText();
  EXPECT_EQ(text.find("version=\"0.1.0\""), std::string::npos) << text;
  EXPECT_TRUE(hasLine(text, "keygate_build_info{version=\"0.2.0\"} 1")) << text;
}

// Buckets cover one minute to thirty days, strictly increasing.
TEST(MetricsTest, TimeToActivationBuckets) {
  auto b = timeToActivationBuckets();
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(b.front(), 60);
  EXPECT_EQ(b.back(), 30 * 86400);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
}

}  // namespace
}  // namespace keygate::metrics

#include "controllers/controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <mutex>
#include <thread>

#include "controllers/audit.h"

namespace keygate::controllers {
namespace {

using namespace std::chrono_literals;

class ScriptedReconciler : public Reconciler {
 public:
  const std::string& name() const override { return name_; }
  Result<ReconcileResult> reconcile(const std::string& key) override {
    int inFlight = ++inFlight_[key];
    maxInFlight_ = std::max(maxInFlight_.load(), inFlight);
    std::this_thread::sleep_for(1ms);
    --inFlight_[key];
    std::lock_guard<std::mutex> l(mu_);
    int n = ++calls_[key];
    if (key == "ns/flaky" && n <= 3) return makeError(ErrorCode::kUnavailable, "backend down");
    if (key == "ns/timed" && n == 1) return ReconcileResult{std::chrono::milliseconds(100)};
    if (key == "ns/throws") throw std::runtime_error("library threw");
    return ReconcileResult{};
  }
  int calls(const std::string& k) {
    std::lock_guard<std::mutex> l(mu_);
    return calls_[k];
  }
  std::atomic<int> maxInFlight_{0};

 private:
  std::string name_ = "test";
  std::mutex mu_;
  std::map<std::string, int> calls_;
  std::map<std::string, std::atomic<int>> inFlight_ = makeInFlight();
  static std::map<std::string, std::atomic<int>> makeInFlight() {
    std::map<std::string, std::atomic<int>> m;
    for (const char* k : {"ns/a", "ns/flaky", "ns/timed", "ns/throws"}) m[k] = 0;
    return m;
  }
};

bool eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 300; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

// Failures retry with backoff until success; requeueAfter brings a key back later; a
// throwing reconciler is contained and retried; one key never runs on two workers at once.
TEST(ControllerTest, RetriesRequeuesAndSerialisesKeys) {
  auto rec = std::make_shared<ScriptedReconciler>();
  std::mutex mu;
  std::map<std::string, int> outcomes;
  ControllerOptions o;
  o.workers = 4;
  o.queue.baseDelay = 1ms;
  o.queue.maxDelay = 20ms;
  o.hooks.onReconcile = [&](const std::string&, const std::string& result, double) {
    std::lock_guard<std::mutex> l(mu);
    outcomes[result]++;
  };
  Controller c(rec, o);
  c.start();
  for (int i = 0; i < 50; ++i) c.enqueue("ns/a");
  c.enqueue("ns/flaky");
  c.enqueue("ns/timed");
  c.enqueue("ns/throws");
  EXPECT_TRUE(eventually([&] { return rec->calls("ns/flaky") == 4; }));
  EXPECT_TRUE(eventually([&] { return rec->calls("ns/timed") == 2; }));
  EXPECT_TRUE(eventually([&] { return rec->calls("ns/throws") >= 3; }));
  EXPECT_GE(rec->calls("ns/a"), 1);
  EXPECT_LE(rec->calls("ns/a"), 50);
  EXPECT_EQ(rec->maxInFlight_.load(), 1);
  EXPECT_TRUE(c.stop(2s));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_GE(outcomes["error"], 3);
  EXPECT_GE(outcomes["requeue"], 1);
}

// The audit line has api.md's fields in order and escapes text safely.
TEST(AuditTest, LineFormat) {
  AuditRecord r;
  r.time = WallTime(std::chrono::seconds(1795432538));
  r.event = "KeyActivated";
  r.ns = "tenant-a";
  r.key = "model-weights";
  r.keyUid = "u1";
  r.version = 1;
  r.backend = "softhsm";
  r.backendKeyId = "keygate/tenant-a/u1/v1";
  r.initiator = "alice";
  r.approvers = {"bob", "carol"};
  r.changeReference = "CHG-\"1\"";
  r.affectedSystems = {"inference-gateway"};
  r.request = "activate";
  EXPECT_EQ(auditLine(r),
            R"({"time":"2026-11-23T11:15:38Z","event":"KeyActivated","namespace":"tenant-a","key":"model-weights","keyUid":"u1","version":1,"backend":"softhsm","backendKeyId":"keygate/tenant-a/u1/v1","initiator":"alice","approvers":["bob","carol"],"changeReference":"CHG-\"1\"","affectedSystems":["inference-gateway"],"request":"activate","result":"Success"})");
  std::ostringstream out;
  StreamAuditSink sink(&out, 2);
  std::vector<std::string> seen;
  sink.observe = [&](const std::string& e) { seen.push_back(e); };
  sink.write(r);
  sink.write(r);
  sink.write(r);
  EXPECT_EQ(sink.lines().size(), 2u);
  EXPECT_EQ(seen.size(), 3u);
  const std::string written = out.str();
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 3);
}

}  // namespace
}  // namespace keygate::controllers

namespace keygate::controllers {
namespace {

// Workers take nothing until the caches have synced; keys enqueued meanwhile then run once.
TEST(ControllerTest, WaitsForCachesToSync) {
  auto r = std::make_shared<ScriptedReconciler>();
  std::atomic<bool> synced{false};
  ControllerOptions o;
  o.workers = 2;
  o.cachesSynced = [&synced] { return synced.load(); };
  Controller c(r, o);
  c.start();
  c.enqueue("ns/a");
  c.enqueue("ns/a");
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(r->calls("ns/a"), 0) << "reconciled before the caches synced";
  synced = true;
  EXPECT_TRUE(eventually([&] { return r->calls("ns/a") == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(r->calls("ns/a"), 1);
  c.stop(100ms);
}

// A controller stopped before its caches ever synced stops promptly.
TEST(ControllerTest, StopsWhileWaitingForCaches) {
  auto r = std::make_shared<ScriptedReconciler>();
  ControllerOptions o;
  o.cachesSynced = [] { return false; };
  Controller c(r, o);
  c.start();
  c.enqueue("ns/a");
  auto t0 = std::chrono::steady_clock::now();
  c.stop(100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(r->calls("ns/a"), 0);
}

}  // namespace
}  // namespace keygate::controllers

#include "kube/event_recorder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <thread>

#include "common/time.h"
#include "kube/resource.h"
#include "support/fake_client.h"
#include "support/fake_clock.h"

namespace keygate::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeClient;
using testing::FakeClock;

Json widget(const std::string& name, const std::string& uid, const std::string& ns = "tenant-a") {
  return {{"apiVersion", "keygate.dev/v1alpha1"},
          {"kind", "EncryptionKey"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"uid", uid}, {"resourceVersion", "814"}}}};
}

// A gate the interceptor waits on, to hold the sender inside an API call.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  bool entered = false;
  void wait() {
    std::unique_lock<std::mutex> l(mu);
    entered = true;
    cv.notify_all();
    cv.wait(l, [this] { return open; });
  }
  void waitEntered() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, 5s, [this] { return entered; });
  }
  void release() {
    std::lock_guard<std::mutex> l(mu);
    open = true;
    cv.notify_all();
  }
};

class EventRecorderTest : public ::testing::Test {
 protected:
  EventRecorderOptions options() {
    EventRecorderOptions o;
    o.component = "keygate-operator";
    o.reportingInstance = "keygate-0";
    o.clock = &clock_;
    o.retryDelay = 1ms;
    return o;
  }
  std::vector<Json> events(const std::string& ns = "tenant-a") { return client_->objects(resources::events(), ns); }

  FakeClock clock_;
  std::shared_ptr<FakeClient> client_ = std::make_shared<FakeClient>(&clock_);
};

// The first event creates a core/v1 Event shaped like client-go's: "<name>.<16 hex>", count 1,
// first == last timestamp, source and reporting fields.
TEST_F(EventRecorderTest, CreatesEventLikeClientGo) {
  ApiEventRecorder rec(client_, options());
  Json obj = widget("k1", "uid-1");
  rec.record(objectReference(obj), EventType::kNormal, "Generated", "key generated in pkcs11");
  ASSERT_TRUE(rec.flush(5s));
  auto evs = events();
  ASSERT_EQ(evs.size(), 1u);
  const Json& e = evs[0];
  EXPECT_TRUE(std::regex_match(e["metadata"]["name"].get<std::string>(), std::regex(R"(k1\.[0-9a-f]{16})")))
      << e["metadata"]["name"];
  EXPECT_EQ(e["metadata"]["namespace"], "tenant-a");
  EXPECT_EQ(e["involvedObject"], objectReference(obj));
  EXPECT_EQ(e["involvedObject"]["uid"], "uid-1");
  EXPECT_EQ(e["type"], "Normal");
  EXPECT_EQ(e["reason"], "Generated");
  EXPECT_EQ(e["message"], "key generated in pkcs11");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["firstTimestamp"], formatRfc3339(clock_.now()));
  EXPECT_EQ(e["lastTimestamp"], e["firstTimestamp"]);
  EXPECT_EQ(e["source"]["component"], "keygate-operator");
  EXPECT_EQ(e["reportingComponent"], "keygate-operator");
  EXPECT_EQ(e["reportingInstance"], "keygate-0");
  EXPECT_EQ(rec.sent(), 1u);
}

// Repeats of the same (object, type, reason, message) patch count and lastTimestamp of one
// Event instead of creating new ones.
TEST_F(EventRecorderTest, FoldsRepeatsIntoCount) {
  ApiEventRecorder rec(client_, options());
  Json ref = objectReference(widget("k1", "uid-1"));
  std::string first = formatRfc3339(clock_.now());
  for (int i = 0; i < 3; ++i) {
    rec.record(ref, EventType::kWarning, "BackendUnavailable", "HSM not reachable");
    ASSERT_TRUE(rec.flush(5s));
    clock_.advance(10s);
  }
  auto evs = events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["count"], 3);
  EXPECT_EQ(evs[0]["firstTimestamp"], first);
  EXPECT_EQ(evs[0]["lastTimestamp"], formatRfc3339(clock_.now() - 10s));
  EXPECT_EQ(client_->countCalls("create"), 1u);
  EXPECT_EQ(client_->countCalls("patch"), 2u);
}

// Repeats queued back to back (not yet sent) are folded the same way.
TEST_F(EventRecorderTest, FoldsQueuedRepeats) {
  ApiEventRecorder rec(client_, options());
  Json ref = objectReference(widget("k1", "uid-1"));
  for (int i = 0; i < 5; ++i) rec.record(ref, EventType::kNormal, "Synced", "ok");
  ASSERT_TRUE(rec.flush(5s));
  auto evs = events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["count"], 5);
}

// A different message, reason, type or object (uid) is a different Event.
TEST_F(EventRecorderTest, DistinctEventsAreNotFolded) {
  ApiEventRecorder rec(client_, options());
  Json ref = objectReference(widget("k1", "uid-1"));
  rec.record(ref, EventType::kNormal, "Synced", "ok");
  rec.record(ref, EventType::kNormal, "Synced", "ok again");
  rec.record(ref, EventType::kNormal, "Activated", "ok");
  rec.record(ref, EventType::kWarning, "Synced", "ok");
  rec.record(objectReference(widget("k1", "uid-2")), EventType::kNormal, "Synced", "ok");  // recreated object
  ASSERT_TRUE(rec.flush(5s));
  EXPECT_EQ(events().size(), 5u);
  EXPECT_EQ(client_->countCalls("patch"), 0u);
}

// When the Event expired on the server (patch 404) the next repeat creates a new one,
// carrying the count on.
TEST_F(EventRecorderTest, RecreatesExpiredEvent) {
  ApiEventRecorder rec(client_, options());
  Json ref = objectReference(widget("k1", "uid-1"));
  rec.record(ref, EventType::kNormal, "Synced", "ok");
  ASSERT_TRUE(rec.flush(5s));
  auto evs = events();
  ASSERT_EQ(evs.size(), 1u);
  ASSERT_TRUE(client_->remove(resources::events(), "tenant-a", evs[0]["metadata"]["name"]).ok());
  rec.record(ref, EventType::kNormal, "Synced", "ok");
  ASSERT_TRUE(rec.flush(5s));
  evs = events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["count"], 2);
  EXPECT_EQ(rec.failed(), 0u);
}

// The de-duplication cache is a bounded LRU: an evicted key starts a new Event.
TEST_F(EventRecorderTest, CacheIsBoundedLru) {
  auto o = options();
  o.cacheSize = 2;
  ApiEventRecorder rec(client_, o);
  Json ref = objectReference(widget("k1", "uid-1"));
  for (const char* m : {"a", "b", "c", "a"}) rec.record(ref, EventType::kNormal, "R", m);
  ASSERT_TRUE(rec.flush(5s));
  EXPECT_EQ(events().size(), 4u) << "\"a\" was evicted by \"c\"";
  rec.record(ref, EventType::kNormal, "R", "c");  // still cached
  ASSERT_TRUE(rec.flush(5s));
  EXPECT_EQ(events().size(), 4u);
}

// Events about cluster-scoped objects go to the "default" namespace, as client-go does.
TEST_F(EventRecorderTest, ClusterScopedObjectsUseDefaultNamespace) {
  ApiEventRecorder rec(client_, options());
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "tenant-a"}, {"uid", "u"}}}};
  rec.record(objectReference(ns), EventType::kNormal, "TokenInitialised", "token keygate:tenant-a ready");
  ASSERT_TRUE(rec.flush(5s));
  EXPECT_EQ(events("default").size(), 1u);
  EXPECT_EQ(rec.failed(), 0u);
}

// Messages are capped at 1024 bytes without splitting a UTF-8 character.
TEST_F(EventRecorderTest, TruncatesLongMessages) {
  ApiEventRecorder rec(client_, options());
  std::string msg = "x";
  for (int i = 0; i < 600; ++i) msg += "\xc3\xa9";  // 'x' + 1200 bytes of 'é': byte 1024 is mid-character
  rec.record(objectReference(widget("k1", "uid-1")), EventType::kNormal, "R", msg);
  ASSERT_TRUE(rec.flush(5s));
  auto evs = events();
  ASSERT_EQ(evs.size(), 1u);
  std::string stored = evs[0]["message"];
  EXPECT_EQ(stored.size(), 1023u);
  EXPECT_EQ(stored, msg.substr(0, 1023));
}

// record() never blocks: with the sender stuck in an API call, events beyond the queue bound
// are dropped and counted; the rest are sent once the call returns.
TEST_F(EventRecorderTest, DropsWhenQueueIsFull) {
  auto o = options();
  o.queueSize = 2;
  Gate gate;
  client_->setInterceptor([&](const testing::FakeCall&) -> std::optional<Error> {
    gate.wait();
    return std::nullopt;
  });
  ApiEventRecorder rec(client_, o);
  Json ref = objectReference(widget("k1", "uid-1"));
  rec.record(ref, EventType::kNormal, "R", "m0");
  gate.waitEntered();  // the sender holds m0
  auto start = std::chrono::steady_clock::now();
  for (int i = 1; i < 10; ++i) rec.record(ref, EventType::kNormal, "R", "m" + std::to_string(i));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(rec.dropped(), 7u);
  gate.release();
  ASSERT_TRUE(rec.flush(5s));
  EXPECT_EQ(rec.sent(), 3u);
  EXPECT_EQ(events().size(), 3u);
  client_->setInterceptor(nullptr);
}

// Transient errors are retried; permanent ones are counted and logged, never thrown.
TEST_F(EventRecorderTest, RetriesTransientErrorsAndCountsFailures) {
  std::atomic<int> calls{0};
  client_->setInterceptor([&](const testing::FakeCall& c) -> std::optional<Error> {
    if (c.verb != "create") return std::nullopt;
    int n = ++calls;
    if (n <= 2) return makeError(ErrorCode::kUnavailable, "connection refused");
    if (n == 4) return makeError(ErrorCode::kPermissionDenied, "events is forbidden");
    return std::nullopt;
  });
  ApiEventRecorder rec(client_, options());
  rec.record(objectReference(widget("k1", "uid-1")), EventType::kNormal, "R", "first");
  ASSERT_TRUE(rec.flush(5s));
  EXPECT_EQ(rec.sent(), 1u);
  EXPECT_EQ(calls, 3);
  rec.record(objectReference(widget("k2", "uid-2")), EventType::kNormal, "R", "second");
  ASSERT_TRUE(rec.flush(5s));
  EXPECT_EQ(rec.failed(), 1u);
  EXPECT_EQ(calls, 4) << "a permanent error is not retried";
  client_->setInterceptor(nullptr);
}

// shutDown() gives up on the backlog after the flush timeout and joins promptly.
TEST_F(EventRecorderTest, ShutDownDoesNotHangOnASlowServer) {
  client_->setInterceptor([](const testing::FakeCall&) -> std::optional<Error> {
    std::this_thread::sleep_for(20ms);
    return std::nullopt;
  });
  ApiEventRecorder rec(client_, options());
  Json ref = objectReference(widget("k1", "uid-1"));
  for (int i = 0; i < 200; ++i) rec.record(ref, EventType::kNormal, "R", "m" + std::to_string(i));
  auto start = std::chrono::steady_clock::now();
  rec.shutDown(100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_GT(rec.dropped(), 0u);
  EXPECT_EQ(rec.sent() + rec.dropped() + rec.failed(), 200u);
  rec.record(ref, EventType::kNormal, "R", "after");
  EXPECT_EQ(rec.sent() + rec.dropped() + rec.failed(), 201u);
  client_->setInterceptor(nullptr);
}

// objectReference copies exactly the identifying fields an Event needs.
TEST(ObjectReferenceTest, CopiesIdentifyingFields) {
  Json obj = widget("k1", "uid-1");
  obj["spec"] = {{"x", 1}};
  EXPECT_EQ(objectReference(obj), (Json{{"apiVersion", "keygate.dev/v1alpha1"},
                                        {"kind", "EncryptionKey"},
                                        {"namespace", "tenant-a"},
                                        {"name", "k1"},
                                        {"uid", "uid-1"},
                                        {"resourceVersion", "814"}}));
}

}  // namespace
}  // namespace keygate::kube

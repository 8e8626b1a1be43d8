#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "fixture.h"
#include "kube/informer.h"

namespace keygate::kube {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;  // "ADDED name size"
  void add(const std::string& type, const ObjectPtr& o) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(type + " " + getString(*o, "metadata.name") + " " + std::to_string(getInt(*o, "spec.size")));
  }
  size_t size() {
    std::lock_guard<std::mutex> l(mu);
    return events.size();
  }
  EventHandlers handlers() {
    return {[this](const ObjectPtr& o) { add("ADDED", o); },
            [this](const ObjectPtr&, const ObjectPtr& n) { add("MODIFIED", n); },
            [this](const ObjectPtr& o) { add("DELETED", o); }};
  }
};

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

class InformerTest : public ApiServerTest {
 protected:
  static void SetUpTestSuite() {
    testing::TestApiServerOptions o;
    o.bookmarkIntervalSeconds = 0.5;
    startServer(o);
  }
};

// Every change arrives exactly once and in order although the server drops the watch
// repeatedly and every watch times out after 1-2 s (server-side timeoutSeconds).
TEST_F(InformerTest, ExactlyOnceInOrderAcrossDisconnects) {
  ReflectorOptions ro;
  ro.ns = "tenant-a";
  ro.labelSelector = "suite=exactly-once";
  ro.minWatchTimeoutSeconds = 1;
  ro.backoff = {10ms, 200ms, 2.0, 0.2};
  Informer inf(admin_, widgets(), ro);
  Recorder rec;
  inf.addHandlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));

  std::atomic<bool> done{false};
  std::thread chaos([&] {
    while (!done) {
      std::this_thread::sleep_for(150ms);
      (void)server_->control("POST", "/__test/faults", {{"dropWatches", true}});
    }
  });
  std::vector<std::string> expected;
  Json labels = {{"suite", "exactly-once"}};
  for (int i = 0; i < 40; ++i) {
    std::string name = "eo-" + std::to_string(i);
    auto c = admin_->create(widgets(), "tenant-a", widget(name, 1, labels));
    ASSERT_TRUE(c.ok()) << c.error().toString();
    expected.push_back("ADDED " + name + " 1");
    auto p = admin_->patch(widgets(), "tenant-a", name, PatchType::kMerge, R"({"spec":{"size":2}})");
    ASSERT_TRUE(p.ok()) << p.error().toString();
    expected.push_back("MODIFIED " + name + " 2");
    if (i % 3 == 0) {
      ASSERT_TRUE(admin_->remove(widgets(), "tenant-a", name).ok());
      expected.push_back("DELETED " + name + " 2");
    }
    std::this_thread::sleep_for(20ms);
  }
  done = true;
  chaos.join();
  EXPECT_TRUE(waitFor([&] { return rec.size() >= expected.size(); }, 20s));
  std::this_thread::sleep_for(500ms);  // nothing extra may arrive
  {
    std::lock_guard<std::mutex> l(rec.mu);
    EXPECT_EQ(rec.events, expected);
  }
  EXPECT_GE(inf.reflector().watchRestarts(), 3);
  EXPECT_EQ(inf.reflector().relists(), 1);  // disconnects resume from the last RV, no relist
  inf.stop();
}

// A watch resumed from a compacted resourceVersion gets 410; the reflector relists and
// the cache equals the server's state, with handlers told what changed in the gap.
TEST_F(InformerTest, RelistOn410) {
  ReflectorOptions ro;
  ro.ns = "tenant-a";
  ro.labelSelector = "suite=relist";
  ro.backoff = {10ms, 200ms, 2.0, 0.2};
  Informer inf(admin_, widgets(), ro);
  Recorder rec;
  inf.addHandlers(rec.handlers());
  Json labels = {{"suite", "relist"}};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(admin_->create(widgets(), "tenant-a", widget("rl-" + std::to_string(i), 1, labels)).ok());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  ASSERT_EQ(inf.cache().size(), 10u);
  inf.stop();

  // Changes while the informer is not watching, then compaction.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(admin_->remove(widgets(), "tenant-a", "rl-" + std::to_string(i)).ok());
  for (int i = 3; i < 5; ++i)
    ASSERT_TRUE(admin_->patch(widgets(), "tenant-a", "rl-" + std::to_string(i), PatchType::kMerge, R"({"spec":{"size":9}})").ok());
  for (int i = 10; i < 12; ++i) ASSERT_TRUE(admin_->create(widgets(), "tenant-a", widget("rl-" + std::to_string(i), 1, labels)).ok());
  ASSERT_TRUE(server_->control("POST", "/__test/compact").ok());

  rec.events.clear();
  inf.start();
  ASSERT_TRUE(waitFor([&] { return inf.reflector().relists() >= 2; }, 10s));
  ListOptions lo;
  lo.labelSelector = "suite=relist";
  auto truth = listAll(*admin_, widgets(), "tenant-a", lo);
  ASSERT_TRUE(truth.ok());
  ASSERT_TRUE(waitFor([&] { return inf.cache().size() == truth->items.size(); }, 5s));
  for (const auto& item : truth->items) {
    auto cached = inf.cache().get(objectKey(item));
    ASSERT_TRUE(cached) << objectKey(item);
    EXPECT_EQ(resourceVersionOf(*cached), resourceVersionOf(item));
  }
  std::lock_guard<std::mutex> l(rec.mu);
  int adds = 0, updates = 0, deletes = 0;
  for (const auto& e : rec.events) {
    adds += e.rfind("ADDED", 0) == 0;
    updates += e.rfind("MODIFIED", 0) == 0;
    deletes += e.rfind("DELETED", 0) == 0;
  }
  EXPECT_EQ(adds, 2);
  EXPECT_EQ(updates, 2);
  EXPECT_EQ(deletes, 3);
  inf.stop();
}

// With allowWatchBookmarks the server sends BOOKMARK events carrying the resourceVersion of
// its latest Widget event; the reflector adopts it even when that event did not match its
// selector, so a later resume starts from a newer point.
TEST_F(InformerTest, BookmarksAdvanceResourceVersion) {
  auto list = admin_->list(widgets(), "tenant-a");
  ASSERT_TRUE(list.ok());
  WatchOptions wo;
  wo.resourceVersion = getString(*list, "metadata.resourceVersion");
  wo.allowWatchBookmarks = true;
  wo.labelSelector = "suite=bookmark";
  auto stream = admin_->watch(widgets(), "tenant-a", wo);
  ASSERT_TRUE(stream.ok()) << stream.error().toString();
  auto created = admin_->create(widgets(), "tenant-a", widget("bm-1", 1, {{"suite", "bookmark"}}));
  ASSERT_TRUE(created.ok());
  auto ev = (*stream)->next();
  ASSERT_TRUE(ev.ok()) << ev.error().toString();
  EXPECT_EQ(ev->type, WatchEvent::Type::kAdded);
  auto bm = (*stream)->next();
  ASSERT_TRUE(bm.ok()) << bm.error().toString();
  EXPECT_EQ(bm->type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(resourceVersionOf(bm->object), resourceVersionOf(*created));
  (*stream)->cancel();

  ReflectorOptions ro;
  ro.ns = "tenant-a";
  ro.labelSelector = "suite=bookmark";
  Informer inf(admin_, widgets(), ro);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  std::string start = inf.reflector().lastResourceVersion();
  auto other = admin_->create(widgets(), "tenant-a", widget("bm-other", 1, {{"suite", "elsewhere"}}));
  ASSERT_TRUE(other.ok());
  std::string otherRv = resourceVersionOf(*other);
  EXPECT_TRUE(waitFor([&] { return inf.reflector().lastResourceVersion() == otherRv; }, 10s))
      << "start " << start << " now " << inf.reflector().lastResourceVersion() << " want " << otherRv;
  EXPECT_EQ(inf.cache().size(), 1u);
  inf.stop();
}

}  // namespace
}  // namespace keygate::kube

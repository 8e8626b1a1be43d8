// The reflector against a scripted client: garbage watch lines, ERROR 410 events, HTTP 410,
// and clean stream ends — checking which resourceVersions it lists and watches from.
#include "kube/reflector.h"

#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <thread>

namespace keygate::kube {
namespace {

using namespace std::chrono_literals;

class ScriptedStream : public WatchStream {
 public:
  explicit ScriptedStream(std::vector<std::string> lines) : lines_(lines.begin(), lines.end()) {}
  Result<WatchEvent> next() override {
    if (lines_.empty()) return makeError(ErrorCode::kUnavailable, "watch closed");
    std::string l = lines_.front();
    lines_.pop_front();
    return decodeWatchLine(l);
  }
  void cancel() override {}

 private:
  std::deque<std::string> lines_;
};

class ScriptedClient : public Client {
 public:
  std::mutex mu;
  std::deque<Json> lists;                          // responses to list()
  std::deque<Result<std::vector<std::string>>> watches = {};  // lines per watch() call
  std::vector<std::string> watchedFrom;
  int listCalls = 0;

  Result<Json> list(const Resource&, const std::string&, const ListOptions&) override {
    std::lock_guard<std::mutex> l(mu);
    listCalls++;
    if (lists.empty()) return makeError(ErrorCode::kUnavailable, "no more lists");
    Json j = lists.front();
    if (lists.size() > 1) lists.pop_front();
    return j;
  }
  Result<WatchStreamPtr> watch(const Resource&, const std::string&, const WatchOptions& o) override {
    std::lock_guard<std::mutex> l(mu);
    watchedFrom.push_back(o.resourceVersion);
    if (watches.empty()) {
      std::this_thread::sleep_for(5ms);
      return WatchStreamPtr(std::make_unique<ScriptedStream>(std::vector<std::string>{}));
    }
    auto w = std::move(watches.front());
    watches.pop_front();
    if (!w.ok()) return w.takeError();
    return WatchStreamPtr(std::make_unique<ScriptedStream>(*w));
  }
  Result<Json> get(const Resource&, const std::string&, const std::string&, const std::string&) override { return unimpl(); }
  Result<Json> create(const Resource&, const std::string&, const Json&) override { return unimpl(); }
  Result<Json> update(const Resource&, const std::string&, const Json&, const std::string&) override { return unimpl(); }
  Result<Json> patch(const Resource&, const std::string&, const std::string&, PatchType, const std::string&,
                     const PatchOptions&) override {
    return unimpl();
  }
  Result<DeleteResult> remove(const Resource&, const std::string&, const std::string&, const DeleteOptions&) override {
    return makeError(ErrorCode::kUnimplemented, "");
  }

 private:
  static Error unimpl() { return makeError(ErrorCode::kUnimplemented, "not scripted"); }
};

struct Sink : ReflectorSink {
  std::mutex mu;
  std::vector<std::string> log;
  size_t listed = 0;
  void beginReplace() override {
    std::lock_guard<std::mutex> l(mu);
    listed = 0;
  }
  void replacePage(std::vector<Json> items) override {
    std::lock_guard<std::mutex> l(mu);
    listed += items.size();
  }
  void endReplace(const std::string& rv) override {
    std::lock_guard<std::mutex> l(mu);
    log.push_back("replace " + std::to_string(listed) + "@" + rv);
  }
  void apply(WatchEvent e) override {
    std::lock_guard<std::mutex> l(mu);
    log.push_back(std::string(watchEventTypeName(e.type)) + "@" + getString(e.object, "metadata.resourceVersion"));
  }
};

Json listAt(const std::string& rv, int n) {
  Json items = Json::array();
  for (int i = 0; i < n; ++i)
    items.push_back({{"metadata", {{"name", "o" + std::to_string(i)}, {"namespace", "ns"}, {"resourceVersion", rv}}}});
  return {{"metadata", {{"resourceVersion", rv}}}, {"items", items}};
}

std::string added(const std::string& rv) {
  return R"({"type":"ADDED","object":{"metadata":{"name":"x","namespace":"ns","resourceVersion":")" + rv + R"("}}})";
}

// Garbage lines restart the watch from the last good resourceVersion (no relist); ERROR 410
// and HTTP 410 force a relist; bookmarks move the resume point.
TEST(ReflectorTest, HandlesGarbage410AndBookmarks) {
  auto c = std::make_shared<ScriptedClient>();
  c->lists = {listAt("5", 2), listAt("20", 1)};
  c->watches.push_back(std::vector<std::string>{added("6"), "this is not json", added("99")});
  c->watches.push_back(std::vector<std::string>{R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"8"}}})",
                                                R"({"type":"ADDED","object":{"metadata":)"});
  c->watches.push_back(std::vector<std::string>{
      R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 8 (10)","reason":"Expired","code":410}})j"});
  c->watches.push_back(makeError(ErrorCode::kGone, "HTTP 410"));
  Sink sink;
  ReflectorOptions o;
  o.backoff = {1ms, 5ms, 2.0, 0.0};
  Reflector r(c, Resource{"g", "v1", "things", "Thing", true}, o, &sink);
  r.start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> l(c->mu);
      if (c->watchedFrom.size() >= 6) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  r.stop();
  std::lock_guard<std::mutex> l(c->mu);
  ASSERT_GE(c->watchedFrom.size(), 6u);
  std::vector<std::string> want = {"5", "6", "8", "20", "20"};
  EXPECT_EQ(std::vector<std::string>(c->watchedFrom.begin(), c->watchedFrom.begin() + 5), want);
  // list@5, watch 5 (ADDED 6, garbage), watch 6 (bookmark 8, truncated), watch 8 (ERROR 410) ->
  // list@20, watch 20 (HTTP 410) -> list@20 again, watch 20 ...
  EXPECT_EQ(c->listCalls >= 3, true);
  EXPECT_EQ(sink.log[0], "replace 2@5");
  EXPECT_EQ(sink.log[1], "ADDED@6");
  EXPECT_EQ(sink.log[2], "replace 1@20");
  EXPECT_TRUE(r.hasSynced());
}

}  // namespace
}  // namespace keygate::kube

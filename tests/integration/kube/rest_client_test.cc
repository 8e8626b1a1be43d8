#include <gtest/gtest.h>

#include <thread>

#include "fixture.h"
#include "kube/rest_client.h"

namespace keygate::kube {
namespace {

class RestClientTest : public ApiServerTest {};

// Create, duplicate create, get, missing get: codes and reasons as the real server sends them.
TEST_F(RestClientTest, CreateGetAndErrors) {
  auto created = admin_->create(widgets(), "tenant-a", widget("crud-1"));
  ASSERT_TRUE(created.ok()) << created.error().toString();
  EXPECT_EQ(getInt(*created, "metadata.generation"), 1);
  EXPECT_FALSE(getString(*created, "metadata.uid").empty());
  auto dup = admin_->create(widgets(), "tenant-a", widget("crud-1"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(dup.error().message, "widgets.example.test \"crud-1\" already exists");
  auto got = admin_->get(widgets(), "tenant-a", "crud-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(getString(*got, "metadata.resourceVersion"), getString(*created, "metadata.resourceVersion"));
  auto missing = admin_->get(widgets(), "tenant-a", "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().httpStatus, 404);
  auto noNs = admin_->create(widgets(), "no-such-namespace", widget("x"));
  ASSERT_FALSE(noNs.ok());
  EXPECT_EQ(noNs.error().code, ErrorCode::kNotFound);
}

// A stale resourceVersion on PUT is surfaced as Conflict; PUT without resourceVersion is 422.
TEST_F(RestClientTest, StaleUpdateIsConflict) {
  auto created = admin_->create(widgets(), "tenant-a", widget("upd-1"));
  ASSERT_TRUE(created.ok());
  Json v1 = *created;
  Json v2 = v1;
  v2["spec"]["size"] = 4;
  auto updated = admin_->update(widgets(), "tenant-a", v2);
  ASSERT_TRUE(updated.ok()) << updated.error().toString();
  EXPECT_EQ(getInt(*updated, "metadata.generation"), 2);
  v1["spec"]["size"] = 5;  // still carries the old resourceVersion
  auto stale = admin_->update(widgets(), "tenant-a", v1);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kConflict);
  EXPECT_EQ(stale.error().reason, "Conflict");
  Json noRv = *updated;
  noRv["metadata"].erase("resourceVersion");
  auto unconditional = admin_->update(widgets(), "tenant-a", noRv);
  ASSERT_FALSE(unconditional.ok());
  EXPECT_EQ(unconditional.error().httpStatus, 422);
}

// The status subresource applies only .status and leaves generation alone.
TEST_F(RestClientTest, StatusSubresource) {
  auto created = admin_->create(widgets(), "tenant-a", widget("st-1"));
  ASSERT_TRUE(created.ok());
  Json s = *created;
  s["status"] = {{"phase", "Ready"}};
  s["spec"]["size"] = 9;  // ignored by /status
  auto put = admin_->update(widgets(), "tenant-a", s, "status");
  ASSERT_TRUE(put.ok()) << put.error().toString();
  EXPECT_EQ(getString(*put, "status.phase"), "Ready");
  EXPECT_EQ(getInt(*put, "spec.size"), 3);
  EXPECT_EQ(getInt(*put, "metadata.generation"), 1);
  auto patched = admin_->patch(widgets(), "tenant-a", "st-1", PatchType::kMerge, R"({"status":{"phase":"Done"}})",
                               {"", false, "status"});
  ASSERT_TRUE(patched.ok()) << patched.error().toString();
  EXPECT_EQ(getString(*patched, "status.phase"), "Done");
  auto get = admin_->get(widgets(), "tenant-a", "st-1", "status");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(getString(*get, "status.phase"), "Done");
}

// Merge patch, JSON patch (failing test op -> 422) and server-side apply with a field manager.
TEST_F(RestClientTest, PatchVariants) {
  ASSERT_TRUE(admin_->create(widgets(), "tenant-a", widget("p-1")).ok());
  auto merge = admin_->patch(widgets(), "tenant-a", "p-1", PatchType::kMerge, R"({"spec":{"size":7}})");
  ASSERT_TRUE(merge.ok()) << merge.error().toString();
  EXPECT_EQ(getInt(*merge, "spec.size"), 7);
  auto jp = admin_->patch(widgets(), "tenant-a", "p-1", PatchType::kJson, R"([{"op":"test","path":"/spec/size","value":1}])");
  ASSERT_FALSE(jp.ok());
  EXPECT_EQ(jp.error().httpStatus, 422);
  std::string apply = R"({"apiVersion":"example.test/v1","kind":"Widget","metadata":{"name":"p-2"},"spec":{"size":2,"mode":"fast"}})";
  auto created = admin_->patch(widgets(), "tenant-a", "p-2", PatchType::kApply, apply, {"mgr-a", false, ""});
  ASSERT_TRUE(created.ok()) << created.error().toString();
  EXPECT_EQ(getInt(*created, "spec.size"), 2);
  std::string other = R"({"apiVersion":"example.test/v1","kind":"Widget","metadata":{"name":"p-2"},"spec":{"size":5,"mode":"fast"}})";
  auto conflict = admin_->patch(widgets(), "tenant-a", "p-2", PatchType::kApply, other, {"mgr-b", false, ""});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, ErrorCode::kConflict);
  auto forced = admin_->patch(widgets(), "tenant-a", "p-2", PatchType::kApply, other, {"mgr-b", true, ""});
  ASSERT_TRUE(forced.ok()) << forced.error().toString();
  EXPECT_EQ(getInt(*forced, "spec.size"), 5);
}

// Finalizers keep a deleted object (DELETE returns it); removing the last finalizer deletes it.
TEST_F(RestClientTest, DeleteWithFinalizersAndPreconditions) {
  Json w = widget("del-1");
  w["metadata"]["finalizers"] = {"example.test/cleanup"};
  auto created = admin_->create(widgets(), "tenant-a", w);
  ASSERT_TRUE(created.ok());
  DeleteOptions wrongUid;
  wrongUid.preconditionUid = "00000000-0000-0000-0000-000000000000";
  auto pre = admin_->remove(widgets(), "tenant-a", "del-1", wrongUid);
  ASSERT_FALSE(pre.ok());
  EXPECT_EQ(pre.error().code, ErrorCode::kConflict);
  auto del = admin_->remove(widgets(), "tenant-a", "del-1");
  ASSERT_TRUE(del.ok()) << del.error().toString();
  EXPECT_FALSE(del->deleted);
  EXPECT_FALSE(getString(del->object, "metadata.deletionTimestamp").empty());
  auto fin = admin_->patch(widgets(), "tenant-a", "del-1", PatchType::kMerge, R"({"metadata":{"finalizers":null}})");
  ASSERT_TRUE(fin.ok()) << fin.error().toString();
  EXPECT_EQ(admin_->get(widgets(), "tenant-a", "del-1").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(admin_->create(widgets(), "tenant-a", widget("del-2")).ok());
  auto plain = admin_->remove(widgets(), "tenant-a", "del-2");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->deleted);
}

// Pagination over 2,500 objects: every object exactly once, continue tokens followed.
TEST_F(RestClientTest, PaginatesOver2500Objects) {
  const int kCount = 2500;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      auto c = server_->adminClient();
      for (int i = t; i < kCount; i += 2) {
        char name[32];
        std::snprintf(name, sizeof name, "page-%05d", i);
        if (!c->create(widgets(), "tenant-b", widget(name, 1, {{"bulk", "yes"}})).ok()) failures++;
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_EQ(failures.load(), 0);
  ListOptions opts;
  opts.limit = 100;
  opts.labelSelector = "bulk=yes";
  auto first = admin_->list(widgets(), "tenant-b", opts);
  ASSERT_TRUE(first.ok()) << first.error().toString();
  EXPECT_EQ((*first)["items"].size(), 100u);
  EXPECT_FALSE(getString(*first, "metadata.continue").empty());
  auto all = listAll(*admin_, widgets(), "tenant-b", opts);
  ASSERT_TRUE(all.ok()) << all.error().toString();
  ASSERT_EQ(all->items.size(), static_cast<size_t>(kCount));
  std::set<std::string> names;
  for (const auto& i : all->items) names.insert(getString(i, "metadata.name"));
  EXPECT_EQ(names.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(*names.begin(), "page-00000");
  // Field selector on metadata.name (the only CR field selectors besides metadata.namespace).
  ListOptions byName;
  byName.fieldSelector = "metadata.name=page-00042";
  auto one = admin_->list(widgets(), "tenant-b", byName);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)["items"].size(), 1u);
  ListOptions badSel;
  badSel.labelSelector = "a in (";
  EXPECT_EQ(admin_->list(widgets(), "tenant-b", badSel).error().code, ErrorCode::kInvalidArgument);
}

// Bearer tokens: an unknown token is 401; a user without RBAC rights is 403 Forbidden.
TEST_F(RestClientTest, AuthErrors) {
  auto cfg = server_->transportFor("admin");
  cfg.tokenSource = []() -> Result<std::string> { return std::string("wrong-token"); };
  auto t = makeHttpTransport(cfg);
  ASSERT_TRUE(t.ok());
  RestClient bad(*t);
  auto r = bad.get(widgets(), "tenant-a", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  auto alice = server_->clientFor("dave");
  auto f = alice->list(widgets(), "tenant-a");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(f.error().message.find("User \"dave\" cannot list resource \"widgets\""), std::string::npos) << f.error().message;
}

// 429 with Retry-After and 500 on reads are retried transparently; writes are not retried on 500.
TEST_F(RestClientTest, RetriesWhereSafe) {
  ASSERT_TRUE(admin_->create(widgets(), "tenant-a", widget("retry-1")).ok());
  ASSERT_TRUE(server_->control("POST", "/__test/faults", {{"status", 429}, {"count", 2}, {"retryAfter", 1}, {"path", "retry-1"}}).ok());
  auto start = std::chrono::steady_clock::now();
  auto got = admin_->get(widgets(), "tenant-a", "retry-1");
  ASSERT_TRUE(got.ok()) << got.error().toString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));  // Retry-After honoured twice
  ASSERT_TRUE(server_->control("POST", "/__test/faults", {{"status", 500}, {"count", 1}, {"path", "retry-1"}}).ok());
  EXPECT_TRUE(admin_->get(widgets(), "tenant-a", "retry-1").ok());
  ASSERT_TRUE(server_->control("POST", "/__test/faults", {{"status", 500}, {"count", 1}, {"verb", "PATCH"}}).ok());
  auto w = admin_->patch(widgets(), "tenant-a", "retry-1", PatchType::kMerge, R"({"spec":{"size":2}})");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().httpStatus, 500);
  ASSERT_TRUE(server_->control("DELETE", "/__test/faults").ok());
}

// A 409 storm on writes surfaces as Conflict every time (callers re-read and retry).
TEST_F(RestClientTest, ConflictStorm) {
  auto created = admin_->create(widgets(), "tenant-a", widget("storm-1"));
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(server_->control("POST", "/__test/faults", {{"conflict", 3}}).ok());
  Json w = *created;
  int conflicts = 0;
  for (int i = 0; i < 5; ++i) {
    auto cur = admin_->get(widgets(), "tenant-a", "storm-1");
    ASSERT_TRUE(cur.ok());
    w = *cur;
    w["spec"]["size"] = 10 + i;
    auto u = admin_->update(widgets(), "tenant-a", w);
    if (u.ok()) break;
    EXPECT_EQ(u.error().code, ErrorCode::kConflict);
    conflicts++;
  }
  EXPECT_EQ(conflicts, 3);
  ASSERT_TRUE(server_->control("DELETE", "/__test/faults").ok());
}

// A body larger than the configured limit is refused with a clear error instead of being buffered.
TEST_F(RestClientTest, HugeBodiesAreRefused) {
  auto cfg = server_->transportFor("admin");
  cfg.maxResponseBytes = 2048;
  auto t = makeHttpTransport(cfg);
  ASSERT_TRUE(t.ok());
  RestClient small(*t);
  for (int i = 0; i < 20; ++i) (void)admin_->create(widgets(), "tenant-a", widget("big-" + std::to_string(i)));
  auto r = small.list(widgets(), "tenant-a");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("limit"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace keygate::kube

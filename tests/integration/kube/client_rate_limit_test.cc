// The production client's client-side rate limit (kube::makeClient, kubeAPI.qps): off once the
// API server shows API Priority and Fairness, a bucket otherwise, always what qps says when set.
// Where a limit must hold, elapsed time has a lower bound the bucket makes certain. Where it
// must not, the bound is the time the bucket would have forced (6 s for 400 GETs), which an
// unlimited client beats many times over (400 GETs take well under 1 s here).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "fixture.h"
#include "kube/client_factory.h"

namespace keygate::kube {
namespace {

class ClientRateLimitTest : public ApiServerTest {
 protected:
  void TearDown() override { (void)server_->control("POST", "/__test/apf", {{"enabled", true}}); }

  ClientPtr client(ClientOptions o) {
    auto t = makeHttpTransport(server_->transportFor("admin"));
    EXPECT_TRUE(t.ok());
    return makeClient(*t, std::move(o));
  }
  // Seconds that n GETs take, one after another.
  static double timeGets(Client& c, int n) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) EXPECT_TRUE(c.get(widgets(), "tenant-a", "limited").ok());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  void SetUp() override {
    ApiServerTest::SetUp();
    auto r = admin_->create(widgets(), "tenant-a", widget("limited"));
    ASSERT_TRUE(r.ok() || r.error().code == ErrorCode::kAlreadyExists);
  }
};

TEST_F(ClientRateLimitTest, AutoTurnsOffWhenTheServerHasPriorityAndFairness) {
  std::atomic<int> announced{0};
  ClientOptions o;
  o.onServerFairness = [&] { announced++; };
  EXPECT_EQ(describeRateLimit(o), "auto (50 qps, burst 100 until the API server shows Priority and Fairness, then off)");
  auto c = client(o);
  // With APF the limit is gone after the first response; under the bucket, 400 GETs (100 from
  // the burst, 300 at 50 qps) would take >= 6 s.
  double s = timeGets(*c, 400);
  EXPECT_LT(s, 6.0) << "the client still limits although the server sends X-Kubernetes-Pf-Flowschema-Uid";
  EXPECT_EQ(announced.load(), 1);
}

TEST_F(ClientRateLimitTest, AutoLimitsWithoutPriorityAndFairness) {
  ASSERT_TRUE(server_->control("POST", "/__test/apf", {{"enabled", false}}).ok());
  std::atomic<int> announced{0};
  ClientOptions o;
  o.burst = 5;  // auto rate (50 qps), a small bucket: 55 GETs need >= 1 s
  o.onServerFairness = [&] { announced++; };
  auto c = client(o);
  EXPECT_GE(timeGets(*c, 55), 0.95);
  EXPECT_EQ(announced.load(), 0);
}

TEST_F(ClientRateLimitTest, ExplicitQpsHoldsEvenWithPriorityAndFairness) {
  ClientOptions o;
  o.qps = 10;
  o.burst = 1;
  EXPECT_EQ(describeRateLimit(o), "10 qps, burst 1");
  auto c = client(o);
  EXPECT_GE(timeGets(*c, 11), 0.95);  // 1 from the bucket, then one per 100 ms
}

TEST_F(ClientRateLimitTest, MinusOneIsOffEvenWithoutPriorityAndFairness) {
  ASSERT_TRUE(server_->control("POST", "/__test/apf", {{"enabled", false}}).ok());
  ClientOptions o;
  o.qps = -1;
  EXPECT_EQ(describeRateLimit(o), "off");
  auto c = client(o);
  EXPECT_LT(timeGets(*c, 400), 6.0);  // at the auto rate this would take >= 6 s
}

// APF's answer to overload: 429 with Retry-After. A create refused that way was not
// processed, so the client waits as told and sends it again; it succeeds once.
TEST_F(ClientRateLimitTest, CreateRefusedWith429IsRetriedAfterRetryAfter) {
  ASSERT_TRUE(server_->control("POST", "/__test/faults",
                               {{"status", 429}, {"count", 1}, {"retryAfter", 1}, {"verb", "create"}, {"path", "widgets"}})
                  .ok());
  auto c = client({});
  auto start = std::chrono::steady_clock::now();
  auto r = c->create(widgets(), "tenant-a", widget("after-429"));
  ASSERT_TRUE(r.ok()) << r.error().toString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(950));
  auto list = admin_->list(widgets(), "tenant-a", {});
  ASSERT_TRUE(list.ok());
  int copies = 0;
  for (const auto& w : (*list)["items"]) copies += w["metadata"]["name"] == "after-429";
  EXPECT_EQ(copies, 1);
}

}  // namespace
}  // namespace keygate::kube

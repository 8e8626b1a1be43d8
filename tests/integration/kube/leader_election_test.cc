// Leader election against the test API server: two electors on one Lease, a sampler checking
// isLeader() of both every 10ms for the whole test.

#include "kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fixture.h"
#include "kube/resource.h"

namespace keygate::kube {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr char kNs[] = "keygate-system";
constexpr auto kLeaseDuration = 2s;
constexpr auto kRenewDeadline = 1500ms;
constexpr auto kRetry = 200ms;
// Candidates wait up to retry * (1 + 1.2) between attempts.
constexpr auto kMaxCandidateWait = 440ms;

// Forwards to a real client; the test can make every call fail (a partitioned replica) or
// hang (a stuck connection) to stop the leader's renewals without a release.
class PausableClient final : public Client {
 public:
  enum class Mode { kPass, kFail, kHang };
  explicit PausableClient(ClientPtr inner) : inner_(std::move(inner)) {}
  void setMode(Mode m) {
    std::lock_guard<std::mutex> l(mu_);
    mode_ = m;
    cv_.notify_all();
  }

  Result<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                   const std::string& sub) override {
    RETURN_IF_ERROR(gate());
    return inner_->get(r, ns, name, sub);
  }
  Result<Json> list(const Resource& r, const std::string& ns, const ListOptions& o) override {
    RETURN_IF_ERROR(gate());
    return inner_->list(r, ns, o);
  }
  Result<Json> create(const Resource& r, const std::string& ns, const Json& body) override {
    RETURN_IF_ERROR(gate());
    return inner_->create(r, ns, body);
  }
  Result<Json> update(const Resource& r, const std::string& ns, const Json& body, const std::string& sub) override {
    RETURN_IF_ERROR(gate());
    return inner_->update(r, ns, body, sub);
  }
  Result<Json> patch(const Resource& r, const std::string& ns, const std::string& name, PatchType t,
                     const std::string& body, const PatchOptions& o) override {
    RETURN_IF_ERROR(gate());
    return inner_->patch(r, ns, name, t, body, o);
  }
  Result<DeleteResult> remove(const Resource& r, const std::string& ns, const std::string& name,
                              const DeleteOptions& o) override {
    RETURN_IF_ERROR(gate());
    return inner_->remove(r, ns, name, o);
  }
  Result<WatchStreamPtr> watch(const Resource& r, const std::string& ns, const WatchOptions& o) override {
    RETURN_IF_ERROR(gate());
    return inner_->watch(r, ns, o);
  }

 private:
  Status gate() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return mode_ != Mode::kHang; });
    if (mode_ == Mode::kFail) return makeError(ErrorCode::kUnavailable, "test: network partition");
    return okStatus();
  }
  ClientPtr inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  Mode mode_ = Mode::kPass;
};

// Samples both electors every 10ms and counts moments where both claim leadership.
class Sampler {
 public:
  Sampler(const LeaderElector& a, const LeaderElector& b)
      : thread_([this, &a, &b] {
          while (!stop_) {
            bool la = a.isLeader(), lb = b.isLeader();
            if (la && lb) ++both_;
            ++samples_;
            std::this_thread::sleep_for(10ms);
          }
        }) {}
  ~Sampler() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int both() const { return both_; }
  int samples() const { return samples_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> both_{0}, samples_{0};
  std::thread thread_;
};

struct Timeline {
  std::atomic<int64_t> started{0}, stopped{0};  // steady ns of the last callback
  static int64_t now() { return SteadyClock::now().time_since_epoch().count(); }
};

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

class LeaderElectionIT : public ApiServerTest {
 protected:
  // A fresh Lease per test run (the server outlives --gtest_repeat iterations).
  static std::string leaseName(const std::string& base) {
    static std::atomic<int> n{0};
    return base + "-" + std::to_string(++n);
  }
  LeaderElectorPtr elector(ClientPtr client, const std::string& lease, const std::string& identity, Timeline* t) {
    LeaderElectionOptions o;
    o.ns = kNs;
    o.leaseName = lease;
    o.identity = identity;
    o.leaseDuration = kLeaseDuration;
    o.renewDeadline = kRenewDeadline;
    o.retryPeriod = kRetry;
    o.callbacks.onStartedLeading = [t] { t->started = Timeline::now(); };
    o.callbacks.onStoppedLeading = [t] { t->stopped = Timeline::now(); };
    auto e = LeaderElector::create(std::move(client), o);
    EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().toString());
    return e.ok() ? std::move(e).value() : nullptr;
  }
  Json lease(const std::string& name) {
    auto l = admin_->get(resources::leases(), kNs, name);
    EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.error().toString());
    return l.ok() ? *l : Json();
  }
};

// A leader that stops renewing (partitioned, no release) steps down by itself after
// renewDeadline; the standby takes over no sooner than one lease duration after the last
// renewal it saw and within a couple of retry periods after that; never two leaders.
TEST_F(LeaderElectionIT, StandbyTakesOverWhenLeaderStopsRenewing) {
  auto partitioned = std::make_shared<PausableClient>(admin_);
  const std::string name = leaseName("le-takeover");
  Timeline ta, tb;
  auto a = elector(partitioned, name, "pod-a", &ta);
  auto b = elector(server_->adminClient(), name, "pod-b", &tb);
  ASSERT_TRUE(a && b);
  Sampler sampler(*a, *b);
  a->start();
  ASSERT_TRUE(waitFor([&] { return a->isLeader(); }, 5s));
  b->start();
  std::this_thread::sleep_for(1500ms);  // several renewals and standby polls
  EXPECT_TRUE(a->isLeader());
  EXPECT_FALSE(b->isLeader());
  EXPECT_EQ(b->leader(), "pod-a");

  auto paused = SteadyClock::now();
  partitioned->setMode(PausableClient::Mode::kFail);
  ASSERT_TRUE(waitFor([&] { return b->isLeader(); }, 10s));
  auto takeover = SteadyClock::now() - paused;
  EXPECT_FALSE(a->isLeader());
  // a renewed at most one retry period before the pause; b must wait a full lease after that.
  EXPECT_GE(takeover, kLeaseDuration - kRetry - 100ms);
  EXPECT_LE(takeover, kLeaseDuration + 2 * kMaxCandidateWait + 1s);
  EXPECT_GT(ta.stopped.load(), 0) << "the old leader's onStoppedLeading ran";
  // isLeader() turns true just before onStartedLeading runs on the elector's thread.
  ASSERT_TRUE(waitFor([&] { return tb.started.load() != 0; }, 2s));
  EXPECT_LE(ta.stopped.load(), tb.started.load()) << "the old leader stopped before the new one started";
  Json l = lease(name);
  EXPECT_EQ(l["spec"]["holderIdentity"], "pod-b");
  EXPECT_EQ(l["spec"]["leaseTransitions"], 1);

  // The partition heals: a sees b's live lease and stays a follower.
  partitioned->setMode(PausableClient::Mode::kPass);
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(a->leader(), "pod-b");
  EXPECT_TRUE(b->isLeader());

  a->stop();
  b->stop();
  sampler.stop();
  EXPECT_EQ(sampler.both(), 0) << "both electors claimed leadership at the same time";
  EXPECT_GT(sampler.samples(), 200);
}

// A leader whose API call hangs cannot renew; isLeader() still turns false at renewDeadline
// (before the standby may take over), so the sampler never sees two leaders.
TEST_F(LeaderElectionIT, HungLeaderLosesLeadershipOnTime) {
  auto stuck = std::make_shared<PausableClient>(admin_);
  const std::string name = leaseName("le-hung");
  Timeline ta, tb;
  auto a = elector(stuck, name, "pod-a", &ta);
  auto b = elector(server_->adminClient(), name, "pod-b", &tb);
  ASSERT_TRUE(a && b);
  Sampler sampler(*a, *b);
  a->start();
  ASSERT_TRUE(waitFor([&] { return a->isLeader(); }, 5s));
  b->start();
  std::this_thread::sleep_for(500ms);
  auto paused = SteadyClock::now();
  stuck->setMode(PausableClient::Mode::kHang);
  ASSERT_TRUE(waitFor([&] { return !a->isLeader(); }, 5s));
  EXPECT_LE(SteadyClock::now() - paused, kRenewDeadline + 200ms);
  ASSERT_TRUE(waitFor([&] { return b->isLeader(); }, 10s));
  stuck->setMode(PausableClient::Mode::kPass);  // lets a's blocked call return so stop() can join
  a->stop();
  b->stop();
  sampler.stop();
  EXPECT_EQ(sampler.both(), 0);
}

// On a clean stop the leader releases the Lease and the standby takes over at its next
// attempt, well before the lease would have expired.
TEST_F(LeaderElectionIT, CleanReleaseHandsOverImmediately) {
  const std::string name = leaseName("le-release");
  Timeline ta, tb;
  auto a = elector(server_->adminClient(), name, "pod-a", &ta);
  auto b = elector(server_->adminClient(), name, "pod-b", &tb);
  ASSERT_TRUE(a && b);
  Sampler sampler(*a, *b);
  a->start();
  ASSERT_TRUE(waitFor([&] { return a->isLeader(); }, 5s));
  b->start();
  std::this_thread::sleep_for(1s);
  ASSERT_FALSE(b->isLeader());

  auto stopped = SteadyClock::now();
  a->stop();
  ASSERT_TRUE(waitFor([&] { return b->isLeader(); }, 5s));
  auto handover = SteadyClock::now() - stopped;
  EXPECT_LT(handover, kMaxCandidateWait + 500ms) << "the standby waited for expiry instead of taking the release";
  // isLeader() turns true just before onStartedLeading runs on the elector's thread (a CI run
  // read tb.started as 0 here).
  ASSERT_TRUE(waitFor([&] { return tb.started.load() != 0; }, 2s));
  EXPECT_LE(ta.stopped.load(), tb.started.load());
  Json l = lease(name);
  EXPECT_EQ(l["spec"]["holderIdentity"], "pod-b");
  EXPECT_EQ(l["spec"]["leaseTransitions"], 1);
  b->stop();
  sampler.stop();
  EXPECT_EQ(sampler.both(), 0);
  // b's own release leaves the Lease free for the next replica.
  EXPECT_EQ(lease(name)["spec"]["holderIdentity"], "");
}

}  // namespace
}  // namespace keygate::kube

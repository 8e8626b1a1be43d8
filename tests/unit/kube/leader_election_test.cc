#include "kube/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include "common/time.h"
#include "kube/resource.h"
#include "support/fake_client.h"
#include "support/fake_clock.h"

namespace keygate::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeClient;
using testing::FakeClock;

constexpr char kNs[] = "keygate-system";
constexpr char kLease[] = "keygate-operator";

// Records callbacks in order, e.g. {"started", "new:a", "stopped"}.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;
  void add(std::string e) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back(std::move(e));
  }
  std::vector<std::string> get() {
    std::lock_guard<std::mutex> l(mu);
    return events;
  }
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  LeaderElectionOptions options(const std::string& identity, Recorder* rec = nullptr) {
    LeaderElectionOptions o;
    o.ns = kNs;
    o.leaseName = kLease;
    o.identity = identity;
    o.clock = &clock_;
    if (rec) {
      o.callbacks.onStartedLeading = [rec] { rec->add("started"); };
      o.callbacks.onStoppedLeading = [rec] { rec->add("stopped"); };
      o.callbacks.onNewLeader = [rec](const std::string& id) { rec->add("new:" + id); };
    }
    return o;
  }
  LeaderElectorPtr elector(const std::string& identity, Recorder* rec = nullptr) {
    auto e = LeaderElector::create(client_, options(identity, rec));
    EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error().toString());
    return std::move(e).value();
  }
  Json lease() {
    auto l = client_->get(resources::leases(), kNs, kLease);
    EXPECT_TRUE(l.ok());
    return l.ok() ? *l : Json();
  }

  FakeClock clock_;
  std::shared_ptr<FakeClient> client_ = std::make_shared<FakeClient>(&clock_);
};

bool isMicroTime(const std::string& s) {
  return std::regex_match(s, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)"));
}

// An absent Lease is created with us as holder, MicroTime stamps and zero transitions.
TEST_F(LeaderElectionTest, AcquiresAbsentLease) {
  Recorder rec;
  auto a = elector("pod-a", &rec);
  EXPECT_FALSE(a->isLeader());
  a->step();
  EXPECT_TRUE(a->isLeader());
  EXPECT_EQ(a->leader(), "pod-a");
  EXPECT_EQ(rec.get(), (std::vector<std::string>{"new:pod-a", "started"}));
  Json l = lease();
  EXPECT_EQ(l["spec"]["holderIdentity"], "pod-a");
  EXPECT_EQ(l["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(l["spec"]["leaseTransitions"], 0);
  EXPECT_EQ(l["spec"]["acquireTime"], formatRfc3339Micro(clock_.now()));
  EXPECT_TRUE(isMicroTime(l["spec"]["renewTime"])) << l["spec"]["renewTime"];
  EXPECT_EQ(client_->countCalls("create"), 1u);
}

// The leader renews every retryPeriod: renewTime moves, acquireTime and transitions stay, and
// the renewal goes straight to an update from the cached Lease (no GET).
TEST_F(LeaderElectionTest, RenewsWhileLeading) {
  auto a = elector("pod-a");
  EXPECT_EQ(a->step(), 2s);
  Json first = lease();
  client_->clearCalls();
  clock_.advance(2s);
  a->step();
  EXPECT_TRUE(a->isLeader());
  EXPECT_EQ(client_->countCalls("get"), 0u);
  EXPECT_EQ(client_->countCalls("update"), 1u);
  Json second = lease();
  EXPECT_EQ(second["spec"]["acquireTime"], first["spec"]["acquireTime"]);
  EXPECT_EQ(second["spec"]["renewTime"], formatRfc3339Micro(clock_.now()));
  EXPECT_EQ(second["spec"]["leaseTransitions"], 0);
  EXPECT_GT(std::stoll(second["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(first["metadata"]["resourceVersion"].get<std::string>()));
}

// A standby does not take a live Lease; it takes over once the Lease is unrenewed for a
// whole leaseDuration after it last saw it change, incrementing leaseTransitions.
TEST_F(LeaderElectionTest, TakesOverAfterExpiry) {
  Recorder recB;
  auto a = elector("pod-a");
  auto b = elector("pod-b", &recB);
  a->step();
  b->step();  // observes pod-a's record now
  EXPECT_FALSE(b->isLeader());
  EXPECT_EQ(b->leader(), "pod-a");
  clock_.advance(14s);
  b->step();
  EXPECT_FALSE(b->isLeader()) << "the lease is still valid for 1s";
  clock_.advance(1s);
  b->step();
  EXPECT_TRUE(b->isLeader());
  Json l = lease();
  EXPECT_EQ(l["spec"]["holderIdentity"], "pod-b");
  EXPECT_EQ(l["spec"]["leaseTransitions"], 1);
  EXPECT_EQ(l["spec"]["acquireTime"], formatRfc3339Micro(clock_.now()));
  EXPECT_EQ(recB.get(), (std::vector<std::string>{"new:pod-a", "new:pod-b", "started"}));
}

// Expiry uses local observation time, not the remote renewTime: a renewTime far in the past
// (a skewed clock on the holder's node) does not let a standby take over early.
TEST_F(LeaderElectionTest, ExpiryIgnoresRemoteTimestamps) {
  Json body = {{"apiVersion", "coordination.k8s.io/v1"},
               {"kind", "Lease"},
               {"metadata", {{"name", kLease}}},
               {"spec",
                {{"holderIdentity", "pod-skewed"},
                 {"leaseDurationSeconds", 15},
                 {"acquireTime", "2000-01-01T00:00:00.000000Z"},
                 {"renewTime", "2000-01-01T00:00:00.000000Z"},
                 {"leaseTransitions", 3}}}};
  ASSERT_TRUE(client_->create(resources::leases(), kNs, body).ok());
  auto b = elector("pod-b");
  b->step();
  EXPECT_FALSE(b->isLeader());
  clock_.advance(10s);
  b->step();
  EXPECT_FALSE(b->isLeader());
  clock_.advance(5s);
  b->step();
  EXPECT_TRUE(b->isLeader());
  EXPECT_EQ(lease()["spec"]["leaseTransitions"], 4);
}

// Each renewal seen by the standby restarts its expiry window.
TEST_F(LeaderElectionTest, RenewalsKeepTheStandbyWaiting) {
  auto a = elector("pod-a");
  auto b = elector("pod-b");
  a->step();
  b->step();
  for (int i = 0; i < 10; ++i) {
    clock_.advance(8s);
    a->step();
    EXPECT_TRUE(a->isLeader());
    b->step();
    EXPECT_FALSE(b->isLeader());
  }
  clock_.advance(10s);
  b->step();
  EXPECT_FALSE(b->isLeader()) << "only 10s since the last renewal it observed, 90s since it first saw pod-a";
}

// When renewals fail for renewDeadline the leader steps down; isLeader() turns false at the
// deadline even before the loop notices, so there is never a window with two leaders.
TEST_F(LeaderElectionTest, StepsDownWhenRenewalFailsPastDeadline) {
  Recorder rec;
  auto a = elector("pod-a", &rec);
  a->step();
  ASSERT_TRUE(a->isLeader());
  client_->setInterceptor([](const testing::FakeCall&) -> std::optional<Error> {
    return makeError(ErrorCode::kUnavailable, "connection refused");
  });
  clock_.advance(2s);
  auto wait = a->step();
  EXPECT_TRUE(a->isLeader()) << "one failed renewal is tolerated";
  EXPECT_LE(wait, 2s);
  clock_.advance(7999ms);
  EXPECT_TRUE(a->isLeader());
  clock_.advance(1ms);
  EXPECT_FALSE(a->isLeader()) << "10s since the last successful renewal";
  EXPECT_EQ(rec.get(), (std::vector<std::string>{"new:pod-a", "started"}));
  a->step();
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(rec.get(), (std::vector<std::string>{"new:pod-a", "started", "stopped"}));
}

// The loop wakes up at the renew deadline (not a full retryPeriod later) to step down on time.
TEST_F(LeaderElectionTest, SleepsNoLongerThanTheDeadline) {
  auto a = elector("pod-a");
  a->step();
  client_->setInterceptor([](const testing::FakeCall&) -> std::optional<Error> {
    return makeError(ErrorCode::kUnavailable, "down");
  });
  clock_.advance(9500ms);
  EXPECT_EQ(a->step(), 500ms);
}

// A 409 on renewal (someone else wrote the Lease) makes the leader re-read it; finding another
// holder it steps down at once instead of waiting for the deadline.
TEST_F(LeaderElectionTest, ConflictOnRenewWithNewHolderStepsDown) {
  Recorder rec;
  auto a = elector("pod-a", &rec);
  a->step();
  Json l = lease();
  l["spec"]["holderIdentity"] = "pod-b";
  ASSERT_TRUE(client_->update(resources::leases(), kNs, l).ok());
  clock_.advance(2s);
  a->step();
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(a->leader(), "pod-b");
  EXPECT_EQ(rec.get(), (std::vector<std::string>{"new:pod-a", "started", "new:pod-b", "stopped"}));
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "pod-b") << "the loser must not overwrite the winner";
}

// Two candidates racing to create the Lease: the second create gets 409 AlreadyExists and
// that candidate stays a follower.
TEST_F(LeaderElectionTest, CreateRaceHasOneWinner) {
  auto a = elector("pod-a");
  auto b = elector("pod-b");
  std::atomic<bool> raced{false};
  // Let b create the Lease between a's GET (404) and a's create.
  client_->setInterceptor([&](const testing::FakeCall& c) -> std::optional<Error> {
    if (c.verb == "create" && c.body.find("pod-a") != std::string::npos && !raced.exchange(true)) b->step();
    return std::nullopt;
  });
  a->step();
  EXPECT_TRUE(raced);
  EXPECT_TRUE(b->isLeader());
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "pod-b");
  client_->setInterceptor(nullptr);
}

// Two candidates racing to take over an expired Lease: one update wins, the other gets 409.
TEST_F(LeaderElectionTest, TakeoverRaceHasOneWinner) {
  auto old = elector("pod-old");
  auto a = elector("pod-a");
  auto b = elector("pod-b");
  old->step();
  a->step();
  b->step();
  clock_.advance(16s);
  std::atomic<bool> raced{false};
  client_->setInterceptor([&](const testing::FakeCall& c) -> std::optional<Error> {
    if (c.verb == "update" && c.body.find("\"pod-a\"") != std::string::npos && !raced.exchange(true)) b->step();
    return std::nullopt;
  });
  a->step();
  EXPECT_TRUE(raced);
  EXPECT_TRUE(b->isLeader());
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(lease()["spec"]["holderIdentity"], "pod-b");
  EXPECT_EQ(lease()["spec"]["leaseTransitions"], 1);
  client_->setInterceptor(nullptr);
}

// A clean stop stops the work first, then releases the Lease (empty holder, 1s duration), and a
// standby takes over at its next attempt without waiting for expiry.
TEST_F(LeaderElectionTest, ReleasesOnStopForImmediateHandover) {
  Recorder rec;
  auto opts = options("pod-a", &rec);
  std::string holderWhenStopped;
  opts.callbacks.onStoppedLeading = [&] { holderWhenStopped = lease()["spec"]["holderIdentity"]; };
  auto a = std::move(LeaderElector::create(client_, opts)).value();
  auto b = elector("pod-b");
  a->step();
  b->step();
  clock_.advance(1s);
  a->stop();
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(holderWhenStopped, "pod-a") << "onStoppedLeading runs before the release";
  Json l = lease();
  EXPECT_EQ(l["spec"]["holderIdentity"], "");
  EXPECT_EQ(l["spec"]["leaseDurationSeconds"], 1);
  EXPECT_TRUE(isMicroTime(l["spec"]["renewTime"]));
  b->step();
  EXPECT_TRUE(b->isLeader());
  EXPECT_EQ(lease()["spec"]["leaseTransitions"], 1);
}

// A replica restarted with the same identity resumes a Lease that names it, keeping
// acquireTime and transitions.
TEST_F(LeaderElectionTest, ResumesALeaseAlreadyHeld) {
  auto first = elector("pod-a");
  first->step();
  std::string acquired = lease()["spec"]["acquireTime"];
  auto second = elector("pod-a");
  clock_.advance(3s);
  second->step();
  EXPECT_TRUE(second->isLeader());
  EXPECT_EQ(lease()["spec"]["acquireTime"], acquired);
  EXPECT_EQ(lease()["spec"]["leaseTransitions"], 0);
}

// Options that could allow two leaders are rejected.
TEST_F(LeaderElectionTest, RejectsUnsafeOptions) {
  auto o = options("pod-a");
  o.renewDeadline = o.leaseDuration;
  EXPECT_FALSE(LeaderElector::create(client_, o).ok());
  o = options("");
  EXPECT_FALSE(LeaderElector::create(client_, o).ok());
  o = options("pod-a");
  o.retryPeriod = 9s;  // 9s * 1.2 > renewDeadline 10s
  EXPECT_FALSE(LeaderElector::create(client_, o).ok());
  EXPECT_FALSE(LeaderElector::create(nullptr, options("pod-a")).ok());
}

// The threaded loop on a real clock: start() acquires, stop() steps down, releases and joins.
TEST(LeaderElectionThreadTest, StartAndStop) {
  auto client = std::make_shared<FakeClient>();
  std::atomic<int> started{0}, stopped{0};
  LeaderElectionOptions o;
  o.ns = kNs;
  o.leaseName = kLease;
  o.identity = "pod-a";
  o.leaseDuration = 2s;
  o.renewDeadline = 1500ms;
  o.retryPeriod = 50ms;
  o.callbacks.onStartedLeading = [&] { ++started; };
  o.callbacks.onStoppedLeading = [&] { ++stopped; };
  auto a = std::move(LeaderElector::create(client, o)).value();
  a->start();
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!a->isLeader() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(a->isLeader());
  std::this_thread::sleep_for(200ms);  // a few renewals
  EXPECT_TRUE(a->isLeader());
  EXPECT_GE(client->countCalls("update"), 2u);
  a->stop();
  EXPECT_FALSE(a->isLeader());
  EXPECT_EQ(started, 1);
  EXPECT_EQ(stopped, 1);
  auto l = client->get(resources::leases(), kNs, kLease);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ((*l)["spec"]["holderIdentity"], "");
}

}  // namespace
}  // namespace keygate::kube

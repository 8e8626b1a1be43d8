// CPU lists parse like Linux writes them, and reserving CPUs moves every other thread off
// them while moveToReservedCpus() puts a thread on them.
#include <gtest/gtest.h>
#include <sched.h>

#include <condition_variable>
#include <mutex>

#include <string>
#include <thread>
#include <vector>

#include "common/cpu_affinity.h"

namespace keygate {
namespace {

std::vector<int> threadCpus() {
  auto cpus = allowedCpus();
  return cpus.ok() ? *cpus : std::vector<int>{};
}

TEST(CpuList, ParsesSinglesRangesAndMixes) {
  EXPECT_EQ(*parseCpuList("1"), (std::vector<int>{1}));
  EXPECT_EQ(*parseCpuList("0-2"), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(*parseCpuList("5,0-1,3,1"), (std::vector<int>{0, 1, 3, 5}));
  EXPECT_EQ(formatCpuList({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(formatCpuList(*parseCpuList("3,1-2")), "1-3");
}

TEST(CpuList, BadListsSayWhatIsWrong) {
  struct Case {
    std::string text, says;
  } cases[] = {{"", "empty"},          {"a", "\"a\" is not a CPU number"}, {"1,", "\"\" is not a CPU number"},
               {"-1", "not a CPU number"}, {"3-1", "range 3-1 runs backwards"}, {"1024", "above 1023"},
               {"0-99999", "not a CPU number"}, {"1 ", "not a CPU number"}};
  for (const auto& c : cases) {
    auto r = parseCpuList(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.text << ": " << r.error().message;
  }
}

TEST(CpuAffinity, RefusesToReserveEveryCpuOrOneNotAllowed) {
  const std::vector<int> allowed = threadCpus();
  ASSERT_FALSE(allowed.empty());
  auto all = reserveCpus(allowed);
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.error().message.find("leaves none for the other threads"), std::string::npos) << all.error().message;
  auto outside = reserveCpus({1023});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("CPU 1023 is not available"), std::string::npos) << outside.error().message;
  EXPECT_TRUE(reservedCpus().empty());
  EXPECT_EQ(threadCpus(), allowed) << "a refused reservation changes nothing";
  EXPECT_EQ(moveToReservedCpus(), "") << "nothing reserved: nothing to do";
  EXPECT_EQ(threadCpus(), allowed);
}

// Changes this test process's CPU mask for good (a reservation cannot be undone), so it
// runs last in this binary's order and every later check is about the reservation itself.
TEST(CpuAffinity, ZzReservationMovesOtherThreadsAndPinsTheCaller) {
  const std::vector<int> allowed = threadCpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two CPUs; this process may use " << formatCpuList(allowed);
  const int hsm = allowed.back();
  std::vector<int> rest(allowed.begin(), allowed.end() - 1);

  // A thread that exists before the reservation is moved too.
  std::mutex mu;
  std::condition_variable cv;
  bool reservedYet = false, checked = false;
  std::vector<int> earlyThreadCpus;
  std::thread early([&] {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return reservedYet; });
    earlyThreadCpus = threadCpus();
    checked = true;
    cv.notify_all();
  });

  ASSERT_TRUE(reserveCpus({hsm}).ok());
  EXPECT_EQ(reservedCpus(), std::vector<int>{hsm});
  EXPECT_EQ(threadCpus(), rest) << "the calling thread runs on the rest";
  {
    std::unique_lock<std::mutex> l(mu);
    reservedYet = true;
    cv.notify_all();
    cv.wait(l, [&] { return checked; });
  }
  early.join();
  EXPECT_EQ(earlyThreadCpus, rest) << "a thread started before the reservation is moved";

  std::vector<int> laterCpus, pinnedCpus;
  std::string why = "not run";
  std::thread([&] { laterCpus = threadCpus(); }).join();
  std::thread([&] {
    why = moveToReservedCpus();
    pinnedCpus = threadCpus();
  }).join();
  EXPECT_EQ(laterCpus, rest) << "a thread started later inherits the rest";
  EXPECT_EQ(why, "");
  EXPECT_EQ(pinnedCpus, std::vector<int>{hsm}) << "moveToReservedCpus() puts the thread on the reserved CPU";

  auto again = reserveCpus(rest);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already reserved"), std::string::npos);
}

}  // namespace
}  // namespace keygate

// requestShortSchedulerSlice: the slice is applied where the kernel supports it, and the
// thread's nice value is never changed.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "common/thread_sched.h"

namespace keygate {
namespace {

// se.slice from /proc/thread-self/sched, in ns; -1 when the kernel does not show it.
long long currentSlice() {
  std::ifstream f("/proc/thread-self/sched");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("se.slice", 0) == 0) return std::stoll(line.substr(line.find(':') + 1));
  }
  return -1;
}

TEST(ThreadSched, ShortSliceKeepsTheNiceValue) {
  std::thread t([] {
    const id_t tid = static_cast<id_t>(gettid());
    ASSERT_EQ(setpriority(PRIO_PROCESS, tid, 3), 0);  // raising nice needs no privilege
    const std::string why = requestShortSchedulerSlice(std::chrono::microseconds(100));
    errno = 0;
    EXPECT_EQ(getpriority(PRIO_PROCESS, tid), 3) << "the nice value must stay";
    if (!why.empty()) {
      // An older kernel or a filtered syscall: the hint is best effort, but it says why.
      std::cout << "slice not applied here: " << why << "\n";
      return;
    }
    const long long slice = currentSlice();
    if (slice >= 0) {
      EXPECT_EQ(slice, 100000) << "kernel shows another slice than asked";
    }
  });
  t.join();
}

}  // namespace
}  // namespace keygate

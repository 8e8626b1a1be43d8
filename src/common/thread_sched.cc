#include "common/thread_sched.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace keygate {
namespace {

// struct sched_attr from <linux/sched/types.h> (glibc 2.36 has no wrapper).
struct SchedAttr {
  uint32_t size;
  uint32_t schedPolicy;
  uint64_t schedFlags;
  int32_t schedNice;
  uint32_t schedPriority;
  uint64_t schedRuntime;
  uint64_t schedDeadline;
  uint64_t schedPeriod;
  uint32_t schedUtilMin;
  uint32_t schedUtilMax;
};

}  // namespace

void nameThisThread(const std::string& name) {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
#else
  (void)name;
#endif
}

std::thread startNamedThread(std::string name, std::function<void()> fn) {
  return std::thread([name = std::move(name), fn = std::move(fn)] {
    nameThisThread(name);
    fn();
  });
}

int64_t threadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string requestShortSchedulerSlice(std::chrono::nanoseconds slice) {
#if defined(__linux__) && defined(SYS_sched_setattr)
  if (sched_getscheduler(0) != SCHED_OTHER) return "the thread does not run under SCHED_OTHER";
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));  // per thread on Linux
  if (nice == -1 && errno != 0) return std::string("getpriority: ") + std::strerror(errno);
  SchedAttr attr{};
  attr.size = sizeof(attr);
  attr.schedPolicy = SCHED_OTHER;
  attr.schedNice = nice;  // sched_setattr sets the nice value too: keep it
  attr.schedRuntime = static_cast<uint64_t>(slice.count());  // the kernel clamps to [0.1 ms, 100 ms]
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return std::string("sched_setattr: ") + std::strerror(errno);
  return {};
#else
  (void)slice;
  return "not supported on this platform";
#endif
}

}  // namespace keygate

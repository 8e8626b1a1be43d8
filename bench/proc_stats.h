#pragma once
// What /proc says about a process: CPU time and resident memory, for the benchmarks.
#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace keygate::bench {

// utime + stime, in ms.
inline double processCpuMs(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; rest >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);
  return 1000.0 * ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resident set size, in KiB (0 if the process is gone).
inline long processRssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace keygate::bench

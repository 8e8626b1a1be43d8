#pragma once
// What /proc says about a process: CPU time, resident memory, descriptors, threads and TCP
// connections, for the benchmarks.
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
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

// CPU ms (utime + stime) of each live thread of a process, summed by thread name (comm: the
// name nameThisThread gave it, else the program's). Threads that ended are not in it: the
// difference to processCpuMs is theirs.
inline std::map<std::string, double> threadCpuMsByName(pid_t pid) {
  std::map<std::string, double> out;
  const std::string base = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (std::filesystem::directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream f(it->path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    const auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string name = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; rest >> field; ++i)
      if (i == 14 || i == 15) ticks += std::stod(field);
    out[name] += 1000.0 * ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return out;
}

// Resident set size, in KiB (0 if the process is gone).
inline long processRssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Entries of a /proc directory (0 if the process is gone).
inline int countEntries(const std::string& dir) {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

// Open file descriptors and threads (entries of /proc/PID/fd and /proc/PID/task).
inline int processFds(pid_t pid) { return countEntries("/proc/" + std::to_string(pid) + "/fd"); }
inline int processThreads(pid_t pid) { return countEntries("/proc/" + std::to_string(pid) + "/task"); }

// The process's TCP connections in state ESTABLISHED (its socket inodes matched against
// /proc/PID/net/tcp and tcp6): HTTP client connections and accepted server connections.
inline int processTcpEstablished(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  std::set<std::string> inodes;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(base + "/fd", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code lec;
    const std::string target = std::filesystem::read_symlink(it->path(), lec).string();
    if (!lec && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  int n = 0;
  for (const char* table : {"/net/tcp", "/net/tcp6"}) {
    std::ifstream f(base + table);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::istringstream in(line);
      std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
      in >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
      n += st == "01" && inodes.count(inode);
    }
  }
  return n;
}

}  // namespace keygate::bench

#include "common/cpu_affinity.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

namespace keygate {
namespace {

constexpr int kMaxCpu = 1023;  // CPU_SETSIZE

std::mutex& reservedMu() {
  static std::mutex mu;
  return mu;
}

std::vector<int>& reserved() {
  static std::vector<int> cpus;
  return cpus;
}

cpu_set_t toSet(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  return set;
}

Result<int> parseCpu(const std::string& text, const std::string& whole) {
  if (text.empty() || text.size() > 4 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return makeError(ErrorCode::kInvalidArgument,
                     "CPU list \"" + whole + "\": \"" + text + "\" is not a CPU number (expected e.g. 1 or 0-1,3)");
  const int cpu = std::stoi(text);
  if (cpu > kMaxCpu)
    return makeError(ErrorCode::kInvalidArgument,
                     "CPU list \"" + whole + "\": CPU " + text + " is above " + std::to_string(kMaxCpu));
  return cpu;
}

}  // namespace

Result<std::vector<int>> parseCpuList(const std::string& text) {
  if (text.empty()) return makeError(ErrorCode::kInvalidArgument, "CPU list is empty (expected e.g. 1 or 0-1,3)");
  std::vector<int> cpus;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string part = text.substr(start, comma - start);
    const size_t dash = part.find('-');
    ASSIGN_OR_RETURN(int first, parseCpu(part.substr(0, dash), text));
    int last = first;
    if (dash != std::string::npos) {
      ASSIGN_OR_RETURN(last, parseCpu(part.substr(dash + 1), text));
      if (last < first)
        return makeError(ErrorCode::kInvalidArgument, "CPU list \"" + text + "\": range " + part + " runs backwards");
    }
    for (int c = first; c <= last; ++c) cpus.push_back(c);
    start = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string formatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

Result<std::vector<int>> allowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0)
    return makeError(ErrorCode::kInternal, std::string("sched_getaffinity: ") + std::strerror(errno));
  std::vector<int> cpus;
  for (int c = 0; c <= kMaxCpu; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

Status reserveCpus(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::lock_guard<std::mutex> l(reservedMu());
  if (!reserved().empty())
    return makeError(ErrorCode::kFailedPrecondition, "CPUs " + formatCpuList(reserved()) + " are already reserved");
  if (cpus.empty()) return makeError(ErrorCode::kInvalidArgument, "no CPUs to reserve");
  ASSIGN_OR_RETURN(std::vector<int> allowed, allowedCpus());
  std::vector<int> rest;
  for (int c : allowed)
    if (!std::binary_search(cpus.begin(), cpus.end(), c)) rest.push_back(c);
  for (int c : cpus) {
    if (!std::binary_search(allowed.begin(), allowed.end(), c))
      return makeError(ErrorCode::kInvalidArgument, "CPU " + std::to_string(c) + " is not available to this process (allowed: " +
                                                        formatCpuList(allowed) + ")");
  }
  if (rest.empty())
    return makeError(ErrorCode::kInvalidArgument, "reserving CPUs " + formatCpuList(cpus) +
                                                      " leaves none for the other threads (allowed: " +
                                                      formatCpuList(allowed) + ")");
  // Every thread there is now; later ones inherit the mask of the thread that starts them.
  const cpu_set_t restSet = toSet(rest);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    const pid_t tid = static_cast<pid_t>(std::stol(e.path().filename().string()));
    if (sched_setaffinity(tid, sizeof(restSet), &restSet) != 0 && errno != ESRCH)  // ESRCH: it has just exited
      return makeError(ErrorCode::kInternal,
                       "sched_setaffinity for thread " + std::to_string(tid) + ": " + std::strerror(errno));
  }
  if (ec) {
    if (sched_setaffinity(0, sizeof(restSet), &restSet) != 0)
      return makeError(ErrorCode::kInternal, std::string("sched_setaffinity: ") + std::strerror(errno));
  }
  reserved() = cpus;
  return okStatus();
}

std::vector<int> reservedCpus() {
  std::lock_guard<std::mutex> l(reservedMu());
  return reserved();
}

std::string moveToReservedCpus() {
  const std::vector<int> cpus = reservedCpus();
  if (cpus.empty()) return {};
  const cpu_set_t set = toSet(cpus);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) return std::string("sched_setaffinity: ") + std::strerror(errno);
  return {};
}

}  // namespace keygate

#pragma once
// Runs the built `keygate` binary as a process with the source tree as working directory
// (so relative paths in its output are stable), capturing stdout, stderr and the exit code.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace keygate {

struct KeygateRun {
  int exitCode = -1;
  std::vector<std::string> lines;  // stdout, one entry per line
  std::string out;
  std::string err;
};

inline KeygateRun runKeygate(const std::string& args) {
  static int n = 0;
  auto errPath = std::filesystem::temp_directory_path() /
                 ("keygate-e2e-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".err");
  std::string cmd = "cd '" + std::string(KEYGATE_TEST_SOURCE_DIR) + "' && '" + KEYGATE_BINARY + "' " + args + " 2>'" +
                    errPath.string() + "'";
  KeygateRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  while (size_t got = std::fread(buf, 1, sizeof(buf), p)) r.out.append(buf, got);
  int status = ::pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(errPath);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  std::filesystem::remove(errPath);
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) r.lines.push_back(l);
  return r;
}

}  // namespace keygate

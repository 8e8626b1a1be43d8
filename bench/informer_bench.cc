// Watch-event decode throughput and informer memory per cached object.
// Usage: informer_bench [objects=100000]. Prints a table; asserts nothing about time.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "kube/client.h"
#include "kube/informer.h"

namespace {

long rssKiB() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// A small EncryptionKey-like object as a watch line (about 600 bytes, like a real CR).
std::string line(int i) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                R"({"type":"ADDED","object":{"apiVersion":"keygate.dev/v1alpha1","kind":"EncryptionKey","metadata":{"creationTimestamp":"2026-11-23T11:25:38Z","generation":1,"labels":{"tier":"prod"},"name":"key-%07d","namespace":"tenant-%03d","resourceVersion":"%d","uid":"2735977d-1b52-411c-8315-%012d"},"spec":{"algorithm":"AES-256","backend":"softhsm","purpose":"Encrypt","activation":{"requiredApprovals":2,"preActiveTTL":"168h"}},"status":{"state":"PreActive","currentVersion":1,"observedGeneration":1}}})",
                i, i % 100, 1000 + i, i);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace keygate;
  using clock = std::chrono::steady_clock;
  int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  if (n <= 0) n = 100000;
  std::vector<std::string> lines;
  lines.reserve(n);
  size_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    lines.push_back(line(i));
    bytes += lines.back().size();
  }

  auto t0 = clock::now();
  size_t ok = 0;
  for (const auto& l : lines) ok += kube::decodeWatchLine(l).ok();
  double decodeSec = std::chrono::duration<double>(clock::now() - t0).count();

  long rssBefore = rssKiB();
  kube::Informer inf(nullptr, kube::resources::encryptionKeys());
  inf.addIndexer("byTier", [](const Json& o) { return std::vector<std::string>{getString(o, "metadata.labels.tier")}; });
  auto t1 = clock::now();
  for (const auto& l : lines) {
    auto ev = kube::decodeWatchLine(l);
    if (ev.ok()) inf.apply(std::move(*ev));
  }
  double applySec = std::chrono::duration<double>(clock::now() - t1).count();
  lines.clear();
  lines.shrink_to_fit();
  long rssAfter = rssKiB();

  std::printf("%-44s %14s\n", "metric", "value");
  std::printf("%-44s %14d\n", "objects", n);
  std::printf("%-44s %14.0f\n", "avg watch line bytes", static_cast<double>(bytes) / n);
  std::printf("%-44s %14.0f\n", "watch-event decode (events/s)", ok / decodeSec);
  std::printf("%-44s %14.0f\n", "decode + informer apply (events/s)", n / applySec);
  std::printf("%-44s %14zu\n", "cached objects", inf.cache().size());
  std::printf("%-44s %14.0f\n", "informer RSS per cached object (bytes)",
              (rssAfter - rssBefore) * 1024.0 / std::max<size_t>(1, inf.cache().size()));
  return ok == static_cast<size_t>(n) ? 0 : 1;
}

#include "cmd/daemon.h"

#include <pthread.h>

#include "common/log.h"

namespace keygate::cmd {

sigset_t blockShutdownSignals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  return sigs;
}

int waitForShutdownSignal(const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  return sig;
}

std::string configureLogging(const std::string& level, const std::string& format) {
  log::Level l;
  if (!log::parseLevel(level, &l)) return "--log-level: must be debug, info, warn or error";
  if (format != "json" && format != "text") return "--log-format: must be json or text";
  log::configure(l, format == "json" ? log::Format::kJson : log::Format::kText);
  return "";
}

}  // namespace keygate::cmd

#pragma once
// What every long-running subcommand (operator, kms-plugin) does first: take SIGTERM/SIGINT
// synchronously on the main thread, and set up logging from its flags.

#include <csignal>
#include <string>

namespace keygate::cmd {

// Blocks SIGTERM and SIGINT in the calling thread (call before any thread starts: threads
// inherit the mask) and returns the set for waitForShutdownSignal.
sigset_t blockShutdownSignals();
// Waits until one of them arrives; returns its number.
int waitForShutdownSignal(const sigset_t& signals);
// "" when --log-level and --log-format are valid (logging is then configured), else the
// message for the user.
std::string configureLogging(const std::string& level, const std::string& format);

}  // namespace keygate::cmd

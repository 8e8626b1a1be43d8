#pragma once
#include <CLI/CLI.hpp>

namespace keygate::cmd {

// Each subcommand registers its options and a callback that sets the exit code.
void registerVersion(CLI::App& app);
void registerCheck(CLI::App& app);
void registerLocal(CLI::App& app);
void registerOperator(CLI::App& app);
void registerKmsPlugin(CLI::App& app);
void registerAudit(CLI::App& app);
void registerSigningKey(CLI::App& app);
int run(CLI::App& app);

}  // namespace keygate::cmd

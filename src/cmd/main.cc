// keygate: one binary, subcommands. Exceptions stop here and become a message + exit code.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "cli/crypto_commands.h"
#include "cli/kubectl_plugin.h"
#include "cli/wrap_command.h"
#include "cmd/subcommands.h"

int main(int argc, char** argv) {
  // `kubectl keygate ...` runs this binary as kubectl-keygate.
  if (keygate::cli::invokedAsKubectlPlugin(argv[0])) return keygate::cli::runKubectlPlugin(argc, argv);
  CLI::App app{"Keygate: customer-managed encryption keys for Kubernetes (NIST SP 800-57 lifecycle, M-of-N activation)"};
  app.require_subcommand(1);
  keygate::cmd::registerVersion(app);
  keygate::cmd::registerCheck(app);
  keygate::cmd::registerLocal(app);
  keygate::cmd::registerOperator(app);
  keygate::cmd::registerKmsPlugin(app);
  keygate::cmd::registerAudit(app);
  keygate::cmd::registerSigningKey(app);
  keygate::cli::registerCryptoCommands(app);
  keygate::cli::registerWrapCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return keygate::cmd::run(app);
  } catch (const std::exception& e) {
    std::cerr << "keygate: " << e.what() << "\n";
    return 1;
  }
}

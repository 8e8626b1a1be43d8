#include <iostream>

#include "cmd/subcommands.h"

namespace keygate::cmd {
namespace {
int g_exit = 0;
}

void registerVersion(CLI::App& app) {
  auto* sub = app.add_subcommand("version", "Print the keygate version");
  sub->callback([] { std::cout << "keygate " << KEYGATE_VERSION << "\n"; });
}

int run(CLI::App&) { return g_exit; }

}  // namespace keygate::cmd

#pragma once
// `keygate wrap`: the tenant's side of BYOK (docs/byok.md).
#include <CLI/CLI.hpp>

namespace keygate::cli {

void registerWrapCommand(CLI::App& app);

}  // namespace keygate::cli

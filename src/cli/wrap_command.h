#pragma once
// `keygate wrap` (and `kubectl keygate wrap`): the tenant's side of BYOK (docs/byok.md).
#include <CLI/CLI.hpp>
#include <string>

namespace keygate::cli {

struct WrapFlags {
  std::string key;  // NAMESPACE/NAME
  std::string material, format, wrappingKeyFile, algorithm, kubeconfig, context, stateDir, output = "yaml", outFile;
  std::string secretName, secretKey, operatorServiceAccount = "keygate-system/keygate";
};

// Adds the wrap options except --key, --kubeconfig and --context (the caller's).
void addWrapOptions(CLI::App* sub, WrapFlags& f);
// Runs it: what was done is told on stderr as "<info>: ..."; a refusal prints
// "<prefix>: <reason>" and throws CLI::RuntimeError (1, or 2 for unusable input).
void runWrap(const WrapFlags& f, const std::string& info, const std::string& prefix);

void registerWrapCommand(CLI::App& app);

}  // namespace keygate::cli

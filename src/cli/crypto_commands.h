#pragma once
// `keygate encrypt|decrypt|datakey|sign|verify|mac|verify-mac|public-key`: a workload's (or
// an operator's) view of the crypto API from the shell. Data on stdin, results on stdout
// (binary for ciphertexts and signatures, so they pipe into files); errors as one line on
// stderr with the gRPC status name, exit 1 (verify: exit 1 when the signature is invalid).
//
// Connection flags (each also from the environment):
//   --server HOST:PORT  KEYGATE_SERVER (default 127.0.0.1:8443, `keygate local --serve`'s)
//   --ca-file F         KEYGATE_CA_FILE      server CA (TLS); --insecure for loopback plain text
//   --token-file F      KEYGATE_TOKEN_FILE   ServiceAccount token (projected, audience keygate.dev)
//   --cert-file F --key-file F               client certificate instead of a token

#include <CLI/CLI.hpp>

namespace keygate::cli {

void registerCryptoCommands(CLI::App& app);

}  // namespace keygate::cli

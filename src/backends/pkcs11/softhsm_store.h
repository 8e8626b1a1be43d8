#pragma once
// SoftHSM2's file object store, guarded against a process killed while SoftHSM rewrites a
// file. SoftHSM2 (2.6, `objectstore.backend = file`, Debian's build has no other backend)
// rewrites a file in place — ftruncate(0), then write — and every object creation or
// destruction rewrites the token's `token.object` (its generation counter in the first 8
// bytes; label, flags and the PIN-wrapped token key after it). A SIGKILL between the two
// system calls leaves `token.object` empty, and with it every key of the token unusable
// (C_OpenSession fails): bench/softhsm_kill_bench --create measured 2-4 tokens lost in 300
// kills of a process creating keys. Keygate keeps a copy of each token's `token.object` in
// the same directory (`keygate-token-copy`: no `.object` suffix, so SoftHSM ignores it) and,
// before the module is loaded, puts the copy back where a kill left the file empty or cut.
// The copy holds nothing the original does not (the token key stays wrapped by the PIN).
//
// Object files are not covered: a kill during C_SetAttributeValue empties that object's file
// (the key version is then reported missing; docs/scale.md).

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace keygate::backends::pkcs11 {

// The token directory of a SoftHSM2 configuration file when it uses the file object store
// (the default), else nullopt (no file, no tokendir, objectstore.backend = db).
std::optional<std::string> softHsmFileStoreDir(const std::string& confPath);

struct SoftHsmStoreCheck {
  std::vector<std::string> restored;  // token directories whose token.object was put back
  std::vector<std::string> unrecoverable;  // damaged, and no copy to put back
  int copied = 0;                       // copies written or refreshed
};

// For each token directory under tokenDir: a token.object that is empty or shorter than its
// copy is restored from the copy (written to a temporary file, then renamed over it); an
// intact one refreshes the copy when it differs beyond the generation counter. Run it while
// no process has the module loaded (before C_Initialize), or with restore = false (only
// refresh copies) at any time. Errors: Unavailable when tokenDir cannot be read.
Result<SoftHsmStoreCheck> checkSoftHsmTokens(const std::string& tokenDir, bool restore);

}  // namespace keygate::backends::pkcs11

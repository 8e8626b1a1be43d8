#pragma once
// SoftHSM2's file object store, guarded against a process killed while SoftHSM rewrites a
// file. SoftHSM2 (2.6, `objectstore.backend = file`, Debian's build has no other backend)
// rewrites a file in place — ftruncate(0), then write — so a SIGKILL between the two system
// calls leaves it empty (bench/softhsm_kill_bench):
// - `token.object` (label, flags and the PIN-wrapped token key, after an 8-byte generation
//   counter) is rewritten at every object creation and destruction; emptied, every key of the
//   token is unusable (C_OpenSession fails): 2-4 tokens lost per 300 kills of a process
//   creating keys;
// - an object's own file is rewritten at every attribute change; emptied, that key version
//   is gone: 263 of 300 kills of a process changing a key's usage (C_SetAttributeValue, what
//   activation and deactivation do).
// Keygate keeps a copy of each such file beside it (`keygate-token-copy`, `<uuid>.keygate-copy`:
// no `.object` suffix, so SoftHSM ignores them; they hold nothing the originals do not — the
// key values stay encrypted under the PIN-wrapped token key) and, before the module is
// loaded, puts a copy back where a kill left its file empty or cut. An object's copy is
// refreshed before and after each usage change (so a restored object has the state from
// before the interrupted change, which the reconciler then repeats), and deleted once its
// object is destroyed.

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace keygate::backends::pkcs11 {

// The token directory of a SoftHSM2 configuration file when it uses the file object store
// (the default), else nullopt (no file, no tokendir, objectstore.backend = db).
std::optional<std::string> softHsmFileStoreDir(const std::string& confPath);

struct SoftHsmStoreCheck {
  std::vector<std::string> restored;       // files put back from their copies
  std::vector<std::string> unrecoverable;  // damaged, and no copy to put back
  int copied = 0;                          // copies written or refreshed
  int dropped = 0;                         // copies deleted with their destroyed objects
};

// For each token directory under tokenDir (or only the one holding the token labelled
// `label`, when given): a token.object or object file that is empty (or, above 4 KiB, shorter
// than its copy) is restored from the copy (written to a temporary file, then renamed over it) when
// `restore`; an intact one refreshes its copy when it changed (token.object: beyond the
// generation counter); a copy whose object is gone is deleted. Restore only while no process
// has the module loaded (before C_Initialize); refreshing is safe at any time. Errors:
// Unavailable when tokenDir cannot be read.
Result<SoftHsmStoreCheck> checkSoftHsmTokens(const std::string& tokenDir, bool restore, const std::string& label = "");

}  // namespace keygate::backends::pkcs11

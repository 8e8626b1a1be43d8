#pragma once
// Secrets as 0600 files in a 0700 directory (local mode: `.keygate/secrets/`). Writes go
// to a temp file that is fsynced and renamed over the target, so a crash leaves the old
// or the new value, never a torn one. Thread-safe (writes are serialised).

#include <mutex>
#include <string>

#include "backends/secret_store.h"

namespace keygate::backends {

class FileSecretStore final : public SecretStore {
 public:
  // Creates `dir` (0700) if missing. InvalidArgument for an empty path; Internal when the
  // directory cannot be created or is not a directory.
  static Result<std::shared_ptr<FileSecretStore>> open(std::string dir);

  Result<std::optional<SecretValue>> get(std::string_view name) override;
  Status put(std::string_view name, const SecretValue& value) override;
  // link(2) of a complete temporary file: exclusive even between processes on the volume.
  Result<SecretValue> putIfAbsent(std::string_view name, const SecretValue& value) override;
  // Under an flock on <dir>/.lock, so it holds between processes too.
  Result<bool> replace(std::string_view name, const SecretValue& expected, const SecretValue& next) override;
  const std::string& dir() const { return dir_; }

 private:
  explicit FileSecretStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  std::mutex mu_;
};

}  // namespace keygate::backends

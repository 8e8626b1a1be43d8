#pragma once
// A temporary directory removed (recursively) when the object dies.

#include <string>

namespace keygate::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "keygate-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes a file under the directory and returns its path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// KEYGATE_SOURCE_DIR (set by CTest) or the compile-time source dir.
std::string sourceDir();
std::string envOr(const char* name, const std::string& fallback);

}  // namespace keygate::testing

#include "backends/pkcs11/softhsm_store.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/file.h"

namespace keygate::backends::pkcs11 {
namespace fs = std::filesystem;
namespace {

constexpr size_t kGenerationBytes = 8;  // ObjectFile's generation counter leads every file
constexpr const char* kTokenFile = "token.object";
constexpr const char* kCopyFile = "keygate-token-copy";

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Writes `bytes` to `path` so a reader sees the old file or the new one, never a part.
Status writeAtomically(const fs::path& path, const std::string& bytes) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) return makeError(ErrorCode::kUnavailable, "cannot write " + tmp.string());
  }
  ::chmod(tmp.c_str(), 0600);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return makeError(ErrorCode::kUnavailable, "cannot rename " + tmp.string() + ": " + ec.message());
  return okStatus();
}

}  // namespace

std::optional<std::string> softHsmFileStoreDir(const std::string& confPath) {
  auto text = readWholeFile(confPath);
  if (!text.ok()) return std::nullopt;
  std::istringstream in(*text);
  std::string line, dir, backend = "file";
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "directories.tokendir") dir = value;
    if (key == "objectstore.backend") backend = value;
  }
  if (dir.empty() || backend != "file") return std::nullopt;
  return dir;
}

Result<SoftHsmStoreCheck> checkSoftHsmTokens(const std::string& tokenDir, bool restore) {
  SoftHsmStoreCheck out;
  std::error_code ec;
  fs::directory_iterator it(tokenDir, ec);
  if (ec) return makeError(ErrorCode::kUnavailable, "SoftHSM2 token directory " + tokenDir + ": " + ec.message());
  for (const auto& entry : it) {
    if (!entry.is_directory(ec)) continue;
    const fs::path token = entry.path() / kTokenFile, copy = entry.path() / kCopyFile;
    auto current = readWholeFile(token.string());
    auto saved = readWholeFile(copy.string());
    const bool haveCopy = saved.ok() && saved->size() > kGenerationBytes;
    const bool damaged = !current.ok() || current->size() <= kGenerationBytes ||
                         (haveCopy && current->size() < saved->size());
    if (damaged) {
      if (!current.ok() && !haveCopy) continue;  // not a token directory (or never had a token)
      if (!haveCopy) {
        out.unrecoverable.push_back(entry.path().string());
        continue;
      }
      if (!restore) continue;
      RETURN_IF_ERROR(writeAtomically(token, *saved));
      out.restored.push_back(entry.path().string());
      continue;
    }
    // Intact: keep the copy current (a PIN change rewrites the token's wrapped key; the
    // generation counter alone changes with every object created or destroyed).
    if (haveCopy && saved->size() == current->size() &&
        saved->compare(kGenerationBytes, std::string::npos, *current, kGenerationBytes, std::string::npos) == 0)
      continue;
    RETURN_IF_ERROR(writeAtomically(copy, *current));
    out.copied++;
  }
  return out;
}

}  // namespace keygate::backends::pkcs11

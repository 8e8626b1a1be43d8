#include "backends/pkcs11/softhsm_store.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/file.h"

namespace keygate::backends::pkcs11 {
namespace fs = std::filesystem;
namespace {

constexpr size_t kGenerationBytes = 8;  // ObjectFile's generation counter leads every file
constexpr const char* kTokenFile = "token.object";
constexpr const char* kCopyFile = "keygate-token-copy";
constexpr const char* kObjectSuffix = ".object";
constexpr const char* kObjectCopySuffix = ".keygate-copy";
// How much newer than its object a copy must be for its time alone to prove it current.
constexpr std::chrono::seconds kCopyTimeMargin{2};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

Status writeAtomically(const fs::path& path, const std::string& bytes) {
  auto st = writeFileAtomically(path.string(), bytes);
  if (!st.ok()) return makeError(ErrorCode::kUnavailable, st.error().message);
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

namespace {

// What a kill inside SoftHSM's rewrite leaves: nothing after the generation counter (the
// ftruncate happened, the write did not), or — for a file larger than stdio's 4 KiB buffer,
// written in more than one write() — less than the copy. A smaller file is otherwise left
// alone: it may be someone else's legitimate change.
bool cut(const std::string& file, const std::string* copy) {
  if (file.size() <= kGenerationBytes) return true;
  return copy && copy->size() > 4096 && file.size() < copy->size();
}

bool endsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One token directory. Returns false when it is not a token directory.
Status checkTokenDir(const fs::path& dir, bool restore, SoftHsmStoreCheck& out) {
  const fs::path token = dir / kTokenFile, copy = dir / kCopyFile;
  auto current = readWholeFile(token.string());
  auto saved = readWholeFile(copy.string());
  const bool haveCopy = saved.ok() && saved->size() > kGenerationBytes;
  const bool damaged = !current.ok() || cut(*current, haveCopy ? &*saved : nullptr);
  if (damaged) {
    if (!current.ok() && !haveCopy) return okStatus();  // not a token directory
    if (!haveCopy) {
      out.unrecoverable.push_back(token.string());
    } else if (restore) {
      RETURN_IF_ERROR(writeAtomically(token, *saved));
      out.restored.push_back(token.string());
    }
  } else if (!haveCopy || saved->size() != current->size() ||
             saved->compare(kGenerationBytes, std::string::npos, *current, kGenerationBytes, std::string::npos) != 0) {
    // Intact: keep the copy current (a PIN change rewrites the token's wrapped key; the
    // generation counter alone changes with every object created or destroyed).
    RETURN_IF_ERROR(writeAtomically(copy, *current));
    out.copied++;
  }

  // Object files and their copies.
  std::set<std::string> objects, copies;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name == kTokenFile) continue;
    if (endsWith(name, kObjectSuffix)) objects.insert(name.substr(0, name.size() - std::strlen(kObjectSuffix)));
    if (endsWith(name, kObjectCopySuffix)) copies.insert(name.substr(0, name.size() - std::strlen(kObjectCopySuffix)));
  }
  for (const auto& stem : objects) {
    const fs::path object = dir / (stem + kObjectSuffix), objectCopy = dir / (stem + kObjectCopySuffix);
    const bool hasCopy = copies.count(stem) > 0;
    std::error_code e1, e2;
    const auto objectSize = fs::file_size(object, e1);
    if (e1) continue;  // destroyed meanwhile
    if (hasCopy) {
      // Up to date when the copy is as large and was written well after the object's last
      // change. File times come from the kernel's coarse clock (one tick is 1-10 ms): a copy
      // refreshed just before a usage change and the change itself can carry the same time,
      // so a copy less than kCopyTimeMargin newer is compared byte for byte below.
      const auto copySize = fs::file_size(objectCopy, e2);
      if (!e2 && copySize == objectSize && objectSize > kGenerationBytes) {
        const auto copyTime = fs::last_write_time(objectCopy, e2);
        const auto objectTime = fs::last_write_time(object, e1);
        if (!e1 && !e2 && copyTime > objectTime + kCopyTimeMargin) continue;
      }
    }
    auto body = readWholeFile(object.string());
    if (!body.ok()) continue;
    auto kept = hasCopy ? readWholeFile(objectCopy.string()) : Result<std::string>(std::string());
    const bool keptUsable = kept.ok() && kept->size() > kGenerationBytes;
    if (cut(*body, keptUsable ? &*kept : nullptr)) {
      // Emptied or cut by a kill, or an object SoftHSM is creating right now (it writes an
      // empty file first): only a copy, and only before the module is loaded, says which.
      if (keptUsable && restore) {
        RETURN_IF_ERROR(writeAtomically(object, *kept));
        out.restored.push_back(object.string());
      }
      continue;
    }
    if (keptUsable && *kept == *body) continue;
    RETURN_IF_ERROR(writeAtomically(objectCopy, *body));
    out.copied++;
  }
  for (const auto& stem : copies) {
    if (objects.count(stem)) continue;
    std::error_code e;
    if (fs::remove(dir / (stem + kObjectCopySuffix), e)) out.dropped++;  // its object was destroyed
  }
  return okStatus();
}

}  // namespace

Result<SoftHsmStoreCheck> checkSoftHsmTokens(const std::string& tokenDir, bool restore, const std::string& label) {
  SoftHsmStoreCheck out;
  std::error_code ec;
  fs::directory_iterator it(tokenDir, ec);
  if (ec) return makeError(ErrorCode::kUnavailable, "SoftHSM2 token directory " + tokenDir + ": " + ec.message());
  std::string padded = label;
  if (!label.empty()) padded.resize(32, ' ');
  for (const auto& entry : it) {
    if (!entry.is_directory(ec)) continue;
    if (!label.empty()) {
      // token.object holds the token's label in clear, padded to 32 bytes.
      auto t = readWholeFile((entry.path() / kTokenFile).string());
      if (!t.ok() || t->find(padded) == std::string::npos) continue;
    }
    RETURN_IF_ERROR(checkTokenDir(entry.path(), restore, out));
  }
  return out;
}

}  // namespace keygate::backends::pkcs11

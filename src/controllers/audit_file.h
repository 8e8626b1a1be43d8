#pragma once
// The durable, tamper-evident audit trail on the state volume (docs/security.md,
// "Audit trail"). One JSON line per record: the record (auditLine) plus
//   "seq":    1, 2, 3, ... over the whole chain (rotation included),
//   "prevHash": lowercase hex SHA-256 of the previous line as written ("" for the first).
// Editing, inserting or removing a line breaks the next line's prevHash; verifyAuditChain
// names the first broken line. The file rotates by size (audit.log -> audit.log.1 -> ...,
// the oldest beyond maxFiles deleted); the chain continues across files. Each line is
// written with one write(2) and is on disk before write() returns: an fdatasync that began
// after the line was written has completed. Writers arriving while a sync runs share the next
// one (group commit), so N workers cost about one sync per round, not N. Records hold no key
// material (AuditRecord has no field that could).

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "controllers/audit.h"

namespace keygate::controllers {

struct FileAuditSinkOptions {
  std::string path;                       // e.g. <stateDir>/audit/audit.log
  uint64_t maxFileBytes = 10 * 1024 * 1024;
  int maxFiles = 10;                      // rotated files kept besides the current one
  std::function<int(int fd)> sync = nullptr;  // tests only (counts, slows); empty: fdatasync(2)
};

class FileAuditSink final : public AuditSink {
 public:
  // Creates the directory (0700) and the file (0600) if needed and resumes the chain from the
  // last line of the current (or newest rotated) file. Errors: the path cannot be written, or
  // the last line is not a chained record (a human must look: refusing beats forking).
  static Result<std::unique_ptr<FileAuditSink>> open(FileAuditSinkOptions options);
  ~FileAuditSink() override;
  void write(const AuditRecord& r) override;
  // The line write() would add for `r` next (tests); does not write.
  uint64_t nextSeq() const;

 private:
  explicit FileAuditSink(FileAuditSinkOptions o) : options_(std::move(o)) {}
  Status rotate();
  Status openCurrent();
  // Returns once every line up to `seq` is on disk, syncing itself or joining a sync that
  // began after that line was written.
  void waitDurable(uint64_t seq);
  int syncFile(int fd) const;

  // An open file outlives a rotation while a sync still uses it.
  struct OpenFile {
    int fd = -1;
    ~OpenFile();
  };

  FileAuditSinkOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<OpenFile> file_;
  uint64_t size_ = 0;
  uint64_t seq_ = 0;       // of the last line written
  std::string prevHash_;   // SHA-256 hex of the last line written
  // Group commit. Never held together with mu_ (a syncer takes mu_ only after letting go).
  std::mutex syncMu_;
  std::condition_variable syncDone_;
  bool syncing_ = false;
  uint64_t durableSeq_ = 0;  // every line up to here is on disk
};

// Writes to several sinks in order.
class TeeAuditSink final : public AuditSink {
 public:
  explicit TeeAuditSink(std::vector<AuditSinkPtr> sinks) : sinks_(std::move(sinks)) {}
  void write(const AuditRecord& r) override {
    for (const auto& s : sinks_) s->write(r);
  }

 private:
  std::vector<AuditSinkPtr> sinks_;
};

// The line with seq and prevHash appended to the record's JSON object.
std::string chainedAuditLine(const AuditRecord& r, uint64_t seq, const std::string& prevHash);
std::string sha256Hex(const std::string& data);

struct AuditVerifyResult {
  uint64_t records = 0;
  uint64_t firstSeq = 0, lastSeq = 0;
  bool ok = true;
  std::string file;   // where the first break is
  uint64_t line = 0;  // 1-based line in that file
  std::string problem;
};

// Checks the chain over `files`, oldest first (audit.log.2 audit.log.1 audit.log). The first
// line of the first file may continue an older chain (its prevHash is not checked); every
// later line must carry the hash of the line before it and the next seq.
Result<AuditVerifyResult> verifyAuditChain(const std::vector<std::string>& files);

}  // namespace keygate::controllers

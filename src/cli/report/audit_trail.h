#pragma once
// The audit trail as `keygate audit report` reads it: JSON lines as the operator writes them
// (controllers/audit.h; on the state volume with "seq" and "prevHash", on stdout without), or
// `keygate local`'s <stateDir>/audit.log. Lines that are not audit records (log lines mixed in
// by a collector, blank lines) are counted, not fatal.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace keygate::cli::report {

struct TrailRecord {
  WallTime time;
  std::string event, ns, key, keyUid, backend, initiator, changeReference, request, result, message, operation, reason;
  int64_t version = 0;
  int64_t count = 0;
  std::vector<std::string> approvers, affectedSystems;
  bool chained = false;  // carried "seq" and "prevHash"
};

struct Trail {
  std::vector<std::string> files;
  std::vector<TrailRecord> records;  // in file order (oldest first when files are given oldest first)
  size_t skippedLines = 0;           // not JSON objects with "time" and "event"
  // What the hash chain says, filled by the caller that can verify it (cmd/audit.cc):
  // "absent" (no trail given), "unchained" (plain records), "intact", "broken".
  std::string chain = "absent";
  std::string chainDetail;
};

// Appends the records of one file's text to `trail` (and the file name to trail.files).
void parseAuditText(std::string_view text, const std::string& file, Trail& trail);
// Reads and parses `path`; an unreadable file is an error.
Status readAuditFile(const std::string& path, Trail& trail);

}  // namespace keygate::cli::report

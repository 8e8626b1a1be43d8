#pragma once
// Audit trail: one JSON line per lifecycle event (api.md "Audit record"). Never key
// material, PINs or wrapped blobs — the record type has no field that could hold them.

#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "common/clock.h"

namespace keygate::controllers {

struct AuditRecord {
  WallTime time;
  std::string event;  // KeyGenerated, KeyActivated, ...
  std::string ns;
  std::string key;
  std::string keyUid;
  int64_t version = 0;
  std::string backend;
  std::string backendKeyId;
  std::string initiator;
  std::vector<std::string> approvers;
  std::string changeReference;
  std::vector<std::string> affectedSystems;
  std::string request;
  std::string result = "Success";
  std::string message;
  // Crypto API records (KeyUseDenied, KeyUsed): the operation ("Encrypt", …), why a use
  // was refused (a short code: NoBinding, WrongPurpose, WrongState, OtherTenant, …) and,
  // for the aggregated KeyUsed record, how many calls it stands for. Omitted when empty.
  std::string operation;
  std::string reason;
  int64_t count = 0;
};

// The JSON line (no trailing newline), keys in the order api.md lists them.
std::string auditLine(const AuditRecord& r);

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void write(const AuditRecord& r) = 0;
};
using AuditSinkPtr = std::shared_ptr<AuditSink>;

// Writes lines to a stream (stdout in the operator: log collectors pick them up), keeps the
// last `keep` lines for `keygate local` to print, and calls `observe` (metrics) per event.
class StreamAuditSink final : public AuditSink {
 public:
  explicit StreamAuditSink(std::ostream* out, size_t keep = 1000) : out_(out), keep_(keep) {}
  void write(const AuditRecord& r) override;
  std::vector<std::string> lines() const;
  std::function<void(const std::string& event)> observe;

 private:
  mutable std::mutex mu_;
  std::ostream* out_;
  size_t keep_;
  std::vector<std::string> lines_;
};

}  // namespace keygate::controllers

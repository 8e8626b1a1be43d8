#include "controllers/audit.h"

#include "common/log.h"
#include "common/time.h"

namespace keygate::controllers {
namespace {

std::string str(const std::string& s) { return "\"" + log::jsonEscape(s) + "\""; }
std::string arr(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + str(v[i]);
  return out + "]";
}

}  // namespace

std::string auditLine(const AuditRecord& r) {
  std::string l = "{\"time\":" + str(formatRfc3339(r.time)) + ",\"event\":" + str(r.event) +
                  ",\"namespace\":" + str(r.ns) + ",\"key\":" + str(r.key) + ",\"keyUid\":" + str(r.keyUid) +
                  ",\"version\":" + std::to_string(r.version) + ",\"backend\":" + str(r.backend) +
                  ",\"backendKeyId\":" + str(r.backendKeyId) + ",\"initiator\":" + str(r.initiator) +
                  ",\"approvers\":" + arr(r.approvers) + ",\"changeReference\":" + str(r.changeReference) +
                  ",\"affectedSystems\":" + arr(r.affectedSystems) + ",\"request\":" + str(r.request) +
                  ",\"result\":" + str(r.result);
  if (!r.message.empty()) l += ",\"message\":" + str(r.message);
  if (!r.operation.empty()) l += ",\"operation\":" + str(r.operation);
  if (!r.reason.empty()) l += ",\"reason\":" + str(r.reason);
  if (r.count > 0) l += ",\"count\":" + std::to_string(r.count);
  return l + "}";
}

void StreamAuditSink::write(const AuditRecord& r) {
  std::string line = auditLine(r);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (out_) (*out_) << line << "\n" << std::flush;
    lines_.push_back(line);
    if (lines_.size() > keep_) lines_.erase(lines_.begin());
  }
  if (observe) observe(r.event);
}

std::vector<std::string> StreamAuditSink::lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

}  // namespace keygate::controllers

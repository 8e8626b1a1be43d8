#include "cli/report/audit_trail.h"

#include "common/file.h"
#include "common/json.h"
#include "common/time.h"

namespace keygate::cli::report {
namespace {

std::vector<std::string> strings(const Json& j, const char* field) {
  std::vector<std::string> out;
  auto it = j.find(field);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::string str(const Json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t integer(const Json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

void parseAuditText(std::string_view text, const std::string& file, Trail& trail) {
  trail.files.push_back(file);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      ++trail.skippedLines;
      continue;
    }
    auto t = parseRfc3339(str(j, "time"));
    std::string event = str(j, "event");
    if (!t.ok() || event.empty()) {
      ++trail.skippedLines;
      continue;
    }
    TrailRecord r;
    r.time = *t;
    r.event = std::move(event);
    r.ns = str(j, "namespace");
    r.key = str(j, "key");
    r.keyUid = str(j, "keyUid");
    r.initiator = str(j, "initiator");
    r.changeReference = str(j, "changeReference");
    r.request = str(j, "request");
    r.result = str(j, "result");
    r.message = str(j, "message");
    r.operation = str(j, "operation");
    r.reason = str(j, "reason");
    r.backend = str(j, "backend");
    r.version = integer(j, "version");
    r.count = integer(j, "count");
    r.approvers = strings(j, "approvers");
    r.affectedSystems = strings(j, "affectedSystems");
    r.chained = j.contains("seq") && j.contains("prevHash");
    trail.records.push_back(std::move(r));
  }
}

Status readAuditFile(const std::string& path, Trail& trail) {
  auto text = readWholeFile(path);
  if (!text.ok()) return makeError(text.error().code, "audit log: " + text.error().message);
  parseAuditText(*text, path, trail);
  return okStatus();
}

}  // namespace keygate::cli::report

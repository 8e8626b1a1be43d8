// The report's sections as tables (title, header, rows of text), shared by the Markdown and
// HTML renderings so both show the same columns.
#include "cli/report/tables.h"

namespace keygate::cli::report {

std::string text(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  if (j.is_array()) {
    std::string out;
    for (const auto& x : j) out += (out.empty() ? "" : ", ") + text(x);
    return out;
  }
  return j.dump();
}

std::string field(const Json& j, const char* f) { return j.contains(f) ? text(j[f]) : ""; }

std::string objectText(const Json& finding) {
  std::string ns = field(finding, "namespace"), obj = field(finding, "object");
  return ns.empty() ? obj : obj.empty() ? ns : ns + "/" + obj;
}

std::vector<Table> reportTables(const Json& r) {
  std::vector<Table> out;
  auto add = [&](int level, std::string title, std::vector<std::string> header) -> std::vector<std::vector<std::string>>& {
    out.push_back({level, std::move(title), std::move(header), {}});
    return out.back().rows;
  };
  {
    auto& rows = add(2, "Keys", {"namespace", "key", "state", "purpose", "algorithm", "backend", "origin", "versions", "created by", "notes"});
    for (const auto& k : r["keys"]) {
      std::string versions;
      for (const auto& v : k["versions"]) versions += (versions.empty() ? "" : ", ") + std::string("v") + text(v["version"]) + " " + field(v, "state");
      std::string notes;
      auto note = [&](const std::string& s) { notes += (notes.empty() ? "" : "; ") + s; };
      if (k.contains("rotation")) note("rotate every " + field(k["rotation"], "period") + (k["rotation"]["overdue"].get<bool>() ? " (overdue)" : ""));
      if (k.contains("preActiveExpiresAt")) note("PreActive until " + field(k, "preActiveExpiresAt"));
      if (k.contains("compromisedReason")) note("compromised: " + field(k, "compromisedReason"));
      if (k.contains("jurisdiction")) note("jurisdiction " + field(k, "jurisdiction"));
      rows.push_back({field(k, "namespace"), field(k, "name"), field(k, "state"), field(k, "purpose"), field(k, "algorithm"),
                      field(k, "backend"), field(k, "origin"), versions, field(k, "createdBy"), notes});
    }
  }
  {
    auto& rows = add(2, "Activations", {"time", "key", "request", "requester", "approvers", "change", "affected systems", "reason", "evidence"});
    for (const auto& a : r["activations"])
      rows.push_back({field(a, "time"), field(a, "namespace") + "/" + field(a, "key") + " v" + text(a["version"]),
                      field(a, "request"), field(a, "requester"), field(a, "approvers"), field(a, "changeReference"),
                      field(a, "affectedSystems"), field(a, "reason"), field(a, "evidence")});
  }
  {
    auto& rows = add(2, "Requests", {"request", "key", "phase", "approvals", "requester", "change", "reason", "decisions"});
    for (const auto& q : r["requests"]) {
      std::string decisions;
      for (const auto& a : q["approvals"])
        decisions += (decisions.empty() ? "" : "; ") + field(a, "approver") + " " + field(a, "decision") +
                     (field(a, "time").empty() ? "" : " " + field(a, "time")) +
                     (a.contains("comment") ? " \"" + field(a, "comment") + "\"" : "");
      rows.push_back({field(q, "namespace") + "/" + field(q, "name"), field(q, "key"), field(q, "phase"),
                      text(q["approvalsReceived"]) + "/" + text(q["approvalsRequired"]), field(q, "requester"),
                      field(q, "changeReference"), field(q, "reason"), decisions});
    }
  }
  {
    auto& rows = add(2, "Role bindings", {"namespace", "binding", "role", "subjects", "keys", "review by", "review"});
    for (const auto& b : r["roleBindings"]) {
      std::string selector;
      if (b.contains("keySelector"))
        for (const auto& [k, v] : b["keySelector"].items()) selector += (selector.empty() ? "" : ",") + k + "=" + text(v);
      rows.push_back({field(b, "namespace"), field(b, "name"), field(b, "role"), field(b, "subjects"),
                      selector.empty() ? "all keys" : selector, field(b, "reviewBy"), field(b, "review")});
    }
  }
  {
    auto& rows = add(3, "Segregation of duties", {"namespace", "subject", "KeyAdministrator via", "KeyApprover via"});
    for (const auto& c : r["segregationConflicts"])
      rows.push_back({field(c, "namespace"), field(c, "subject"), field(c, "administratorBindings"), field(c, "approverBindings")});
  }
  {
    auto& rows = add(2, "Key use: refused calls", {"key", "caller", "operation", "reason", "calls", "first", "last"});
    for (const auto& d : r["keyUse"]["denied"])
      rows.push_back({field(d, "namespace") + "/" + field(d, "key"), field(d, "caller"), field(d, "operation"), field(d, "reason"),
                      text(d["count"]), field(d, "first"), field(d, "last")});
  }
  {
    auto& rows = add(3, "Key use: allowed calls", {"key", "caller", "operation", "calls", "first", "last"});
    for (const auto& u : r["keyUse"]["used"])
      rows.push_back({field(u, "namespace") + "/" + field(u, "key"), field(u, "caller"), field(u, "operation"), text(u["count"]),
                      field(u, "first"), field(u, "last")});
  }
  {
    auto& rows = add(2, "Approvers", {"approver", "activations approved", "denials"});
    for (const auto& a : r["approvers"]) rows.push_back({field(a, "approver"), text(a["activationsApproved"]), text(a["denials"])});
  }
  return out;
}

}  // namespace keygate::cli::report
